"""The adapt loop (:mod:`dermaseg.training.adapt`): a broken fine-tune is kept out by the gate, rollback, and a
kill during fine-tuning leaves the current version working. Real fine-tunes of the bundled model on small
synthetic pairs (96x128), one or two steps each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DataError, DermasegError
from dermaseg.models.versions import clean_stale, current_version, list_versions, set_current

HELD = ["case_000", "case_001", "case_002"]


def _pairs(root: Path, invert_training: bool) -> list[tuple[Path, Path]]:
    """(image, mask) of every case; ``invert_training``: the masks of the non-held-out cases inverted (a
    deliberately broken set of corrections), the held-out ones true."""
    out = []
    bad = root / "bad_masks"
    bad.mkdir(exist_ok=True)
    for img in sorted((root / "images").glob("*.jpg")):
        mask = root / "masks" / f"{img.stem}.png"
        if invert_training and img.stem not in HELD:
            m = np.asarray(Image.open(mask).convert("L")) > 127
            Image.fromarray(np.where(m, 0, 255).astype(np.uint8)).save(bad / mask.name)
            mask = bad / mask.name
        out.append((img, mask))
    return out


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """One deliberately broken fine-tune (inverted masks, a high learning rate) into a models folder."""
    from dermaseg.training.adapt import finetune_version

    root = write_dataset(tmp_path_factory.mktemp("adapt") / "pairs", "folder", n=10, size=(96, 128), seed=3)
    models = root.parent / "models"
    seen: list[dict] = []
    doc = finetune_version(_pairs(root, invert_training=True), models, heldout_ids=HELD,
                           overrides={"epochs": 2, "lr": 1e-2, "batch_size": 8}, progress=seen.append)
    return root, models, doc, seen


@pytest.mark.slow
def test_gate_keeps_current_when_new_is_worse(broken):
    root, models, doc, seen = broken
    gate = doc["gate"]
    assert doc["version"] == "v1" and not gate["accepted"]
    assert gate["difference"] < 0 and gate["n"] == 3 and gate["se"] is not None
    per = doc["scores"]["per_image"]
    # the paired difference is the mean of the per-image differences, by hand
    assert gate["difference"] == pytest.approx(sum(r["new_jaccard"] - r["current_jaccard"] for r in per) / 3)
    assert "stays current" in gate["reason"]
    assert current_version(models) == "default"  # the bundled model is still current
    assert (models / "v1" / "model.pt").is_file()  # the version is kept, for inspection or rollback
    saw = json.loads((models / "v1" / "images.json").read_text())
    assert sorted(saw["heldout"]) == HELD and len(saw["train"]) == 7
    assert doc["quality"]["status"] == "uncalibrated"  # 3 held-out images cannot re-check it
    from dermaseg.models.files import read_model_file

    assert read_model_file(models / "v1" / "model.pt").config["quality"]["status"] == "uncalibrated"
    stages = [d["stage"] for d in seen]
    assert stages[0] == "start" and "train" in stages and stages[-1] == "done"
    fr = [d["fraction"] for d in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0
    assert [v["version"] for v in list_versions(models)] == ["v1"]


@pytest.mark.slow
def test_rollback_and_segment_with_models_folder(broken):
    from dermaseg.models.registry import create_model

    root, models, doc, _ = broken
    set_current(models, "v1", why="test")
    assert current_version(models) == "v1"
    m = create_model(str(models))  # --model MODELS_DIR loads the current version
    assert m.config["quality"]["status"] == "uncalibrated"
    set_current(models, "default")
    assert current_version(models) == "default"
    assert create_model(str(models)).config.get("bundled") == "default"
    with pytest.raises(DermasegError, match="no such model version"):
        set_current(models, "v7")
    assert current_version(models) == "default"


def test_bad_data_is_a_clear_error_and_changes_nothing(tmp_path):
    from dermaseg.training.adapt import finetune_version

    root = write_dataset(tmp_path / "p", "folder", n=5, size=(32, 32), seed=1)
    pairs = [(img, root / "masks" / f"{img.stem}.png") for img in sorted((root / "images").glob("*.jpg"))]
    models = tmp_path / "models"
    with pytest.raises(DataError, match="at least 4"):
        finetune_version(pairs[:2], models)
    with pytest.raises(DataError, match="file not found"):
        finetune_version(pairs[:4] + [(root / "images" / "nope.jpg", pairs[0][1])], models)
    (root / "images" / "case_004.jpg").write_bytes(b"not an image")
    with pytest.raises(DermasegError, match="case_004"):
        finetune_version(pairs, models, overrides={"epochs": 1})
    assert current_version(models) == "default" and list_versions(models) == []
    assert not [p for p in models.iterdir() if p.name.startswith(".work-")]
    assert not (models / ".finetune.lock").exists()


KILL_SCRIPT = """
import sys
from pathlib import Path
from dermaseg.training.adapt import finetune_version
root, models = Path(sys.argv[1]), Path(sys.argv[2])
pairs = [(i, root / "masks" / f"{i.stem}.png") for i in sorted((root / "images").glob("*.jpg"))]
def progress(d):
    if d["stage"] == "train":
        (models / "training").write_text(str(d["fraction"]))
finetune_version(pairs, models, overrides={"epochs": 200, "batch_size": 4}, progress=progress)
"""


@pytest.mark.slow
def test_kill_during_finetune_leaves_current_working(broken, tmp_path):
    root, models, _, _ = broken
    set_current(models, "v1", why="before the kill")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(root), str(models)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (models / "training").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (models / "training").exists(), proc.stderr.read().decode() if proc.poll() is not None else ""
        work = [p for p in models.iterdir() if p.name.startswith(".work-v2-")]
        assert work and (models / ".finetune.lock").exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert current_version(models) == "v1"
    assert [v["version"] for v in list_versions(models)] == ["v1"]
    from dermaseg.models.registry import create_model

    assert create_model(str(models)).config["name"] == "fpn-efficientnet-lite0"  # the current one loads
    assert clean_stale(models) == [work[0].name]
    from dermaseg.training.adapt import _lock

    _lock(models).unlink()  # the dead owner's lock is taken over: the next fine-tune can start
    set_current(models, "default")
