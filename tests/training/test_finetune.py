"""``dermaseg train --init``, the finetune recipe, ``--model RUN_DIR`` and the training-image warning, end to
end through the CLI on a small synthetic folder (the bundled model at its own 192x256)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dermaseg.data.synthetic import write_dataset
from dermaseg.models.default import DEFAULT_SHA256
from tests.clirun import run_cli_out_err


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ft") / "pairs", "folder", n=6, size=(48, 64), seed=5)


@pytest.mark.slow
def test_init_round_trip(folder, tmp_path, capsys):
    """Fine-tune the bundled model one step, save, reload it from the run folder, segment with it."""
    run = tmp_path / "run"
    code, out, err = run_cli_out_err(["train", "--data", folder, "--recipe", "finetune", "--epochs", "1",
                                      "--batch-size", "6", "--out", run], capsys)
    assert code == 0, err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["init"] == {"bundle": "default", "sha256": DEFAULT_SHA256}
    assert sorted(cfg["train_ids"]) == [f"case_{i:03d}" for i in range(6)]  # too few to hold out: all train
    assert cfg["val_ids"] == [] and "no validation" in cfg["split"]
    assert "without validation" in err
    # a finished fine-tune keeps model files only: no optimiser state
    assert (run / "best.pt").is_file() and not (run / "last.pt").exists()
    from dermaseg.models.files import read_model_file
    from dermaseg.models.registry import create_model

    f = read_model_file(run)  # the run folder stands for its best.pt
    assert f.training is None and f.extra["init"]["sha256"] == DEFAULT_SHA256
    assert f.config["input_size"] == [192, 256] and f.config["postprocess_rule"] == "area"
    assert f.config["quality"]["status"] == "inherited"
    tuned, bundled = create_model(str(run)), create_model("default")
    diff = max(float((a - b).abs().max()) for a, b in zip(tuned.state_dict().values(),
                                                           bundled.state_dict().values(), strict=True)
               if a.is_floating_point())
    assert diff > 0  # one step moved the weights
    seg = tmp_path / "seg"
    code, out, err = run_cli_out_err(["segment", folder / "images" / "case_000.jpg", "--model", run,
                                      "--out", seg], capsys)
    assert code == 0, err
    from PIL import Image

    mask = np.asarray(Image.open(seg / "case_000_mask.png"))
    assert mask.shape == (48, 64) and set(np.unique(mask)) <= {0, 255}
    # scoring it on the images it trained on warns
    code, out, err = run_cli_out_err(["evaluate", "--data", folder, "--model", run, "--out", tmp_path / "ev",
                                      "--no-report"], capsys)
    assert code == 0, err
    assert "6 of the 6 images scored were among the 6 this model" in err


def test_init_mismatch_is_one_line(folder, tmp_path, capsys):
    code, out, err = run_cli_out_err(["train", "--data", folder, "--init", "default", "--recipe", "finetune",
                                      "--model", "unet-mobilenet_v2", "--out", tmp_path / "r"], capsys)
    assert code != 0
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "--model unet-mobilenet_v2 does not match --init default" in lines[0]
    assert not (tmp_path / "r").exists()


def test_init_missing_file(folder, tmp_path, capsys):
    code, out, err = run_cli_out_err(["train", "--data", folder, "--init", tmp_path / "nope.pt",
                                      "--recipe", "finetune", "--out", tmp_path / "r"], capsys)
    assert code != 0 and "nope.pt" in err and "Traceback" not in err


def test_limit_is_stratified_and_folds_balanced(tmp_path):
    """--limit draws a stratified sample (as evaluate --limit), and the folds of the sample are balanced."""
    from dermaseg.data.readers import load_dataset
    from dermaseg.data.sampling import sample_subset
    from dermaseg.data.splits import make_splits
    from dermaseg.training.orchestrate import limited, resolve_recipe, train_val_split

    ham = load_dataset(write_dataset(tmp_path / "HAM", "ham10000", n=30, size=(32, 32), seed=4))
    r = resolve_recipe("default")
    train, val, note = train_val_split(ham, r, seed=0, limit=12)
    chosen, _ = sample_subset(ham.samples, 12, "stratified", 0)
    assert sorted(s.id for s in train + val) == sorted(s.id for s in chosen)
    assert "stratified" in note
    sub = limited(ham, 12, seed=0)
    assert sorted(s.id for s in sub.samples) == sorted(s.id for s in chosen)
    sizes = [len(f["val"]) for f in make_splits(sub, folds=3, seed=0).folds]
    assert sum(sizes) == 12 and max(sizes) - min(sizes) <= 2
