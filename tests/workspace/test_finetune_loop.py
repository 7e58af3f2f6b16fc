"""The adapt loop on a workspace from the command line, on real ISIC 2017 validation images (256x192):
``workspace finetune`` (one epoch of the bundled model) prints the gate's paired result and writes
``models/v1/``; ``workspace use`` switches the current version and back (rollback); the automatic masks
of images not yet reviewed are re-computed with it and an edited, approved or skipped image is never
touched; ``segment --model WORKSPACE`` runs the current version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dermaseg.workspace.store import Workspace
from dermaseg.workspace.versions import current_version
from tests.clirun import run_cli_out_err

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isic2017"
IMAGES = DATA / "ISIC-2017_Validation_Data"
TRUTH = DATA / "ISIC-2017_Validation_Part1_GroundTruth"
pytestmark = [pytest.mark.skipif(not IMAGES.is_dir(), reason="needs ../shared/data/isic2017"), pytest.mark.slow]


def make_workspace(root: Path, n_images: int = 11, n_approved: int = 7) -> Path:
    """A workspace of ``n_images`` validation images, the first ``n_approved`` approved with their truth
    masks; the next one edited (a rectangle), the next skipped, the rest not reviewed (``auto``)."""
    src, masks = root / "in", root / "truth"
    src.mkdir(parents=True)
    masks.mkdir()
    files = sorted(IMAGES.glob("*.jpg"))[:n_images]
    for p in files:
        shutil.copy(p, src / p.name)
    for p in files[:n_approved]:
        shutil.copy(TRUTH / f"{p.stem}_segmentation.png", masks / f"{p.stem}.png")
    ws = Workspace.init(root / "ws", [src], masks=masks, status="approved")
    try:
        edited, skipped = files[n_approved].stem, files[n_approved + 1].stem
        row = ws.image(edited)
        m = np.zeros((row["height"], row["width"]), bool)
        m[40:120, 60:180] = True
        ws.save_mask(edited, m, user="ana")
        ws.set_status(skipped, "skipped", user="ana")
    finally:
        ws.close()
    return root / "ws"


def _state(ws_dir: Path) -> dict[str, dict]:
    """Per image: status, version, model_version and the bytes of its person's mask (if any)."""
    with Workspace.open(ws_dir) as ws:
        return {r["id"]: {"status": r["status"], "version": r["version"], "model": r["model_version"],
                          "mask": ws.mask_path(r["id"]).read_bytes() if r["has_mask"] else None}
                for r in ws.images()}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    from dermaseg.training.wsloop import current_predict, refresh_auto

    ws_dir = make_workspace(tmp_path_factory.mktemp("loop"))
    with Workspace.open(ws_dir) as ws:  # the automatic masks of the bundled model, as a server makes them
        assert refresh_auto(ws, current_predict(ws, device="cpu")) == 11
    return ws_dir


def test_finetune_prints_the_gate_and_writes_v1(loop, capsys):
    before = _state(loop)
    code, out, err = run_cli_out_err(["workspace", "finetune", loop, "--epochs", "1", "--device", "cpu"], capsys)
    assert code == 0, err
    doc = json.loads((loop / "models" / "v1" / "metrics.json").read_text())
    g = doc["gate"]
    assert g["n"] == 3 and len(doc["scores"]["per_image"]) == 3  # 7 approved: 4 trained on, 3 held out
    saw = json.loads((loop / "models" / "v1" / "images.json").read_text())
    assert len(saw["train"]) == 4 and not set(saw["train"]) & set(saw["heldout"])
    assert set(saw["train"]) | set(saw["heldout"]) == {i for i, r in before.items() if r["status"] == "approved"}
    assert f"paired difference {g['difference']:+.4f} ± {g['se']:.4f} (SE)" in out
    assert "on 3 held-out approved images" in out
    assert g["difference"] == pytest.approx(sum(r["new_jaccard"] - r["current_jaccard"]
                                                for r in doc["scores"]["per_image"]) / 3)
    cur = "v1" if g["accepted"] else "default"
    assert g["accepted"] == (g["difference"] >= 0)
    assert current_version(loop / "models") == cur and f"current model: {cur}" in out
    assert ("accepted: " if g["accepted"] else "not accepted: ") in out
    assert (loop / "models" / "v1" / "model.pt").is_file() and "wrote" in out
    after = _state(loop)
    for i, r in before.items():  # a person's masks are never touched; unreviewed ones follow the current
        assert after[i]["mask"] == r["mask"] and after[i]["status"] == r["status"]
        assert after[i]["model"] == (cur if r["status"] == "auto" else "default")
    code, out, _ = run_cli_out_err(["workspace", "models", loop], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("default") and lines[1].lstrip("* ").startswith("v1 ")
    assert lines[int(cur == "v1")].startswith("*")
    assert ("not accepted" in lines[1]) == (not g["accepted"]) and f"{g['difference']:+.4f}" in lines[1]
    with Workspace.open(loop) as ws:
        ev = [e for e in ws.log() if e["action"] == "finetune"]
    assert ev[-1]["detail"]["version"] == "v1" and ev[-1]["detail"]["accepted"] == g["accepted"]


def test_use_and_rollback_refresh_only_unreviewed_masks(loop, capsys, tmp_path):
    from dermaseg.inference.predictor import load_predictor, model_version

    if not (loop / "models" / "v1").is_dir():
        pytest.skip("needs the fine-tune of the test before")
    before = _state(loop)
    unreviewed = [i for i, r in before.items() if r["status"] == "auto"]
    reviewed = [i for i, r in before.items() if r["status"] != "auto"]
    assert len(unreviewed) == 2 and len(reviewed) == 9
    auto_before = {i: (loop / ".auto" / f"{i}.png").read_bytes() for i in reviewed}
    for target, other in (("v1", "default"), ("default", "v1")):
        if current_version(loop / "models") == target:
            run_cli_out_err(["workspace", "use", loop, other, "--device", "cpu"], capsys)
        code, out, err = run_cli_out_err(["workspace", "use", loop, target, "--device", "cpu"], capsys)
        assert code == 0, err
        assert f"current model: {target}" in out and "re-computed 2 automatic masks" in out
        now = _state(loop)
        assert all(now[i]["model"] == target for i in unreviewed)
        for i in reviewed:  # edited, approved, skipped: mask, status, version, automatic mask unchanged
            assert now[i] == before[i] and (loop / ".auto" / f"{i}.png").read_bytes() == auto_before[i]
        if target == "v1":  # segment --model WORKSPACE runs the current version
            assert model_version(load_predictor(str(loop), device="cpu")) == "v1"
            img = next((loop / "images").glob(f"{unreviewed[0]}.*"))
            for name, model in (("ws", loop), ("file", loop / "models" / "v1" / "model.pt")):
                code, _, err = run_cli_out_err(["segment", img, "--model", model, "--out", tmp_path / name,
                                                "--device", "cpu"], capsys)
                assert code == 0, err
            prob = [(tmp_path / n / f"{unreviewed[0]}_prob.png").read_bytes() for n in ("ws", "file")]
            assert prob[0] == prob[1]
    assert current_version(loop / "models") == "default"  # rolled back
    code, _, err = run_cli_out_err(["workspace", "use", loop, "v9"], capsys)
    assert code == 2 and err.count("\n") == 1 and "no such model version" in err and "v1" in err
    assert current_version(loop / "models") == "default"


def test_too_few_approved_is_one_line_and_writes_nothing(tmp_path, capsys):
    ws_dir = make_workspace(tmp_path, n_images=5, n_approved=2)
    code, out, err = run_cli_out_err(["workspace", "finetune", ws_dir, "--epochs", "1"], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "at least 4" in err
    assert current_version(ws_dir / "models") == "default"
    assert not any(p.name.startswith("v") for p in (ws_dir / "models").iterdir()) \
        if (ws_dir / "models").is_dir() else True
