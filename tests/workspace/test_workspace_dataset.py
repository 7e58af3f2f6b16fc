"""A workspace trains and evaluates as a dataset with no conversion: ``dermaseg evaluate --data WORKSPACE``
scores exactly its approved masks (not the edited, skipped or automatic ones), with the same numbers as the
same images and masks given as folder pairs."""

from __future__ import annotations

import csv
import shutil

import numpy as np
from PIL import Image

from dermaseg.workspace.store import Workspace

from ..clirun import run_cli_out_err

IDS = ["IMD002", "IMD004", "IMD008", "IMD010"]


def test_evaluate_on_a_workspace_scores_its_approved_masks(shared_data, tmp_path, capsys):
    ph2 = shared_data / "ph2_dev"
    imgs, masks = tmp_path / "imgs", tmp_path / "masks"
    imgs.mkdir()
    masks.mkdir()
    for i in IDS:  # real PH2 images, shrunk to keep the test quick
        Image.open(ph2 / "images" / f"{i}.jpg").resize((192, 144)).save(imgs / f"{i}.png")
        m = Image.open(ph2 / "masks" / f"{i}_lesion.png").convert("L").resize((192, 144), Image.NEAREST)
        m.save(masks / f"{i}.png")
    ws = Workspace.init(tmp_path / "ws", [imgs])
    try:
        ws.close()
        ws = Workspace.open(tmp_path / "ws")
        ids = {r["name"].rsplit(".", 1)[0]: r["id"] for r in ws.images()}
        for stem in IDS[:2]:  # two approved
            ws.save_mask(ids[stem], np.asarray(Image.open(masks / f"{stem}.png")) > 0, user="rev")
            ws.set_status(ids[stem], "approved", user="rev")
        # one edited (not approved: a half-done correction), one skipped: neither is truth
        ws.save_mask(ids[IDS[2]], np.zeros((144, 192), bool), user="ann")
        ws.set_status(ids[IDS[3]], "skipped", user="ann")
    finally:
        ws.close()
    code, _, err = run_cli_out_err(["evaluate", "--data", tmp_path / "ws", "--out", tmp_path / "ev", "--no-report"],
                                   capsys)
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "ev" / "per_image.csv").open()))
    assert sorted(r["id"] for r in rows) == sorted(ids[s] for s in IDS[:2])
    pairs = tmp_path / "pairs"
    (pairs / "images").mkdir(parents=True)
    (pairs / "masks").mkdir()
    for stem in IDS[:2]:
        shutil.copy(imgs / f"{stem}.png", pairs / "images" / f"{ids[stem]}.png")
        shutil.copy(masks / f"{stem}.png", pairs / "masks" / f"{ids[stem]}.png")
    code, _, err = run_cli_out_err(["evaluate", "--data", pairs, "--out", tmp_path / "ev2", "--no-report"], capsys)
    assert code == 0, err
    ref = {r["id"]: r for r in csv.DictReader((tmp_path / "ev2" / "per_image.csv").open())}
    for r in rows:
        for k in ("dice", "iou", "thresholded_jaccard", "tp", "fp", "fn"):
            assert r[k] == ref[r["id"]][k], (r["id"], k)
