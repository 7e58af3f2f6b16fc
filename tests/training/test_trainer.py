"""The Trainer: optimizers and schedules, early stopping, resume equal to an uninterrupted run, on tiny
synthetic data."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DermasegError
from dermaseg.models.registry import create_model
from dermaseg.training.recipes import get_recipe
from dermaseg.training.run import train_run
from dermaseg.training.trainer import Trainer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("syn") / "folder", "folder", n=10, size=(64, 64), seed=1)
    return load_dataset(root)


def tiny(epochs=1, **kw):
    kw.setdefault("model", "unet-tiny")
    return get_recipe("default").override(input_size=(64, 64), batch_size=4, epochs=epochs, **kw)


class Killed(Exception):
    pass


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(dataset, tmp_path, monkeypatch):
    train, val = dataset.samples[:8], dataset.samples[8:]
    recipe = tiny(epochs=2, model="fpn-tiny", schedule="cosine")  # FPN has dropout: RNG matters
    train_run(dataset, recipe, tmp_path / "straight", train, val, "t", seed=3, progress=False)

    original = Trainer.on_epoch_end

    def killed_after_first_epoch(self, row):
        original(self, row)  # last.pt of epoch 1 is written, then the process "dies"
        raise Killed

    monkeypatch.setattr(Trainer, "on_epoch_end", killed_after_first_epoch)
    with pytest.raises(Killed):
        train_run(dataset, recipe, tmp_path / "killed", train, val, "t", seed=3, progress=False)
    monkeypatch.setattr(Trainer, "on_epoch_end", original)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    train_run(dataset, recipe, tmp_path / "killed", train, val, "t", seed=3, resume=True, progress=False)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert a["training"]["epoch"] == b["training"]["epoch"] == 2
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    ha = [r["train_loss"] for r in a["training"]["history"]]
    hb = [r["train_loss"] for r in b["training"]["history"]]
    assert ha == hb
    # and a different seed really gives different weights (the comparison above can fail)
    train_run(dataset, recipe.override(epochs=1), tmp_path / "other", train, val, "t", seed=4, progress=False)
    c = torch.load(tmp_path / "other" / "last.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(v, c[k]) for k, v in a["state_dict"].items() if v.is_floating_point())


def test_resume_with_more_epochs_follows_the_longer_cosine_schedule(dataset, tmp_path):
    # 1 epoch of a 1-epoch run, resumed with --epochs 3: epochs 2 and 3 take the 3-epoch curve's lr (the
    # optimizer's saved lr, the 1-epoch curve's end, is not carried over)
    train, val = dataset.samples[:8], dataset.samples[8:]
    recipe = tiny(epochs=1, schedule="cosine", warmup_epochs=0, optimizer="sgd", lr=0.1)
    train_run(dataset, recipe, tmp_path / "run", train, val, "t", seed=3, progress=False)
    train_run(dataset, recipe.override(epochs=3), tmp_path / "run", train, val, "t", seed=3, resume=True,
              progress=False)
    lrs = [r["lr"] for r in torch.load(tmp_path / "run" / "last.pt", weights_only=True)["training"]["history"]]
    # 0.1 · (0.01 + 0.99 · (1 + cos(π e / 3)) / 2) for e = 0, 1, 2
    assert lrs == pytest.approx([0.1, 0.1 * (0.01 + 0.99 * 0.75), 0.1 * (0.01 + 0.99 * 0.25)])


def test_cosine_with_warmup_follows_the_closed_form(dataset, tmp_path):
    from dermaseg.training.tasks import CNNTask

    r = tiny(epochs=4, optimizer="sgd", schedule="cosine", warmup_epochs=2, lr=0.1)
    model = create_model("unet-tiny", input_size=[64, 64])
    task = CNNTask(model, r, dataset.samples[:4], dataset.samples[4:6], progress=False)
    t = Trainer(model, r, task, tmp_path / "w", progress=False)
    t.fit()
    # warm-up: epoch e of 2 at (e + 1) / 3 of lr; then cosine over the remaining 2 epochs, from the top
    want = [0.1 / 3, 0.2 / 3, 0.1, 0.1 * (0.01 + 0.99 * 0.5)]
    assert [row["lr"] for row in t.history] == pytest.approx(want)
    with pytest.raises(DermasegError, match="warmup_epochs needs the cosine schedule"):  # a hand-made recipe
        Trainer(model, dataclasses.replace(r, schedule="constant"), task, tmp_path / "c", progress=False)
    assert r.override(schedule="constant").warmup_epochs == 0  # --schedule drops the cosine's warm-up
    with pytest.raises(DermasegError, match="warmup_epochs -1: must be 0 or more"):
        r.override(warmup_epochs=-1)


@pytest.mark.parametrize("optimizer,schedule", [("adam", "constant"), ("adamw", "cosine"), ("sgd", "plateau")])
def test_optimizers_and_schedules(dataset, tmp_path, optimizer, schedule):
    from dermaseg.training.tasks import CNNTask

    r = tiny(epochs=3, optimizer=optimizer, schedule=schedule, lr=0.01, warmup_epochs=0)
    model = create_model("unet-tiny", input_size=[64, 64])
    task = CNNTask(model, r, dataset.samples[:8], dataset.samples[8:], progress=False)
    t = Trainer(model, r, task, tmp_path / "o", progress=False)
    assert type(t.optimizer).__name__.lower() == optimizer
    t.fit()
    lrs = [row["lr"] for row in t.history]
    if schedule == "cosine":
        assert lrs[0] == pytest.approx(0.01) and lrs[2] < lrs[1] < lrs[0]
    elif schedule == "constant":
        assert lrs == [0.01] * 3


def test_early_stopping_stops_when_dice_does_not_improve(dataset, tmp_path):
    from dermaseg.training.tasks import CNNTask

    r = tiny(epochs=10, early_stopping=2)
    model = create_model("unet-tiny", input_size=[64, 64])
    task = CNNTask(model, r, dataset.samples[:8], dataset.samples[8:], progress=False)
    trainer = Trainer(model, r, task, tmp_path / "e", progress=False)
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.9])  # best at epoch 2, then 2 epochs without improvement
    trainer.validate = lambda: {"val_loss": 1.0, "val_dice": next(scores), "val_iou": 0.3}
    summary = trainer.fit()
    assert summary["stopped_early"] and summary["epochs"] == 4 and summary["best_epoch"] == 2
    assert summary["best_dice"] == 0.6


def test_resume_needs_a_last_pt_of_the_same_model(dataset, tmp_path):
    from dermaseg.errors import DermasegError
    from dermaseg.models.files import save_model
    from dermaseg.training.tasks import CNNTask

    r = tiny()
    model = create_model("unet-tiny", input_size=[64, 64])
    trainer = Trainer(model, r, CNNTask(model, r, dataset.samples[:8], [], progress=False), tmp_path / "t",
                      progress=False)
    save_model(model, tmp_path / "best.pt")
    with pytest.raises(DermasegError, match="no training state: not a last.pt"):
        trainer.load_checkpoint(tmp_path / "best.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DermasegError, match="junk.pt: cannot resume from this file"):
        trainer.load_checkpoint(tmp_path / "junk.pt")
    other = create_model("fpn-tiny", input_size=[64, 64])
    Trainer(other, r, CNNTask(other, r, dataset.samples[:8], [], progress=False), tmp_path / "o",
            progress=False).save_checkpoint(tmp_path / "o" / "last.pt")
    with pytest.raises(DermasegError, match="was trained as 'fpn-tiny', not 'unet-tiny'"):
        trainer.load_checkpoint(tmp_path / "o" / "last.pt")
