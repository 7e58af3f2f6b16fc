"""`dermaseg segment` end to end on synthetic images with the real LiteMedSAM."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from dermaseg.cli import main
from dermaseg.data.prompt_input import parse_box, read_prompts_csv
from dermaseg.data.prompts import mask_bbox
from dermaseg.data.synthetic import make_image
from dermaseg.inference.postprocess import clean_mask


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    cap = capsys.readouterr()
    return e.value.code, cap.err


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    truths = {}
    for name, (h, w), seed in (("a", (72, 96), 1), ("b", (96, 64), 2)):
        rgb, m = make_image(h, w, seed=seed)
        Image.fromarray(rgb).save(d / f"{name}.png")
        truths[name] = m
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return d, truths


def test_segment_with_prompts_csv(folder, tmp_path, capsys):
    d, truths = folder
    rows = ["image,x0,y0,x1,y1,px,py"]
    for name, m in truths.items():
        x0, y0, x1, y1 = mask_bbox(m)
        rows.append(f"{name}.png,{x0 - 3:g},{y0 - 3:g},{x1 + 3:g},{y1 + 3:g},,")
    csv_path = tmp_path / "prompts.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    code, err = _run(["segment", str(d), "--out", str(out), "--model", "litemedsam",
                      "--prompts", str(csv_path)], capsys)
    assert code == 1 and "broken.jpg" in err  # the bad image is named, skipped, and fails the run
    with open(out / "results.csv", newline="") as f:
        res = list(csv.DictReader(f))
    assert [r["image"].rsplit("/", 1)[-1] for r in res] == ["a.png", "b.png"]
    for r in res:
        name = r["image"].rsplit("/", 1)[-1][:-4]
        truth = truths[name]
        mask = np.asarray(Image.open(out / f"{name}_mask.png"))
        assert mask.shape == truth.shape and set(np.unique(mask)) <= {0, 255}
        pred = mask > 0
        assert 2 * (pred & truth).sum() / (pred.sum() + truth.sum()) > 0.8
        assert int(r["lesion_area_px"]) == pred.sum()
        assert r["model"] == "litemedsam" and r["prompt"].startswith("box ") and r["source"] == "user"
        assert 0 < float(r["predicted_quality"]) <= 1.5 and float(r["seconds"]) > 0
        prob = np.asarray(Image.open(out / f"{name}_prob.png"))
        assert prob.shape == truth.shape and prob.dtype == np.uint8
        assert np.array_equal(pred, clean_mask(prob >= 128))  # the mask is the probability map, thresholded
        overlay = np.asarray(Image.open(out / f"{name}_overlay.png"))
        assert overlay.shape == (*truth.shape, 3)
        yellow = (overlay == (255, 255, 0)).all(-1)
        assert yellow.any() and not (yellow & ~pred).any()  # the outline lies on the mask's edge
    assert not list(out.glob("*.part*"))


def test_segment_no_prompt_and_box(folder, tmp_path, capsys):
    d, truths = folder
    out = tmp_path / "out"
    code, _ = _run(["segment", str(d / "a.png"), "--out", str(out), "--model", "litemedsam"], capsys)
    assert code == 0
    res = list(csv.DictReader(open(out / "results.csv", newline="")))
    assert res[0]["prompt"] == "none" and "no-prompt" in res[0]["source"]


@pytest.mark.parametrize("extra, msg", [
    (["--box", "10,20,5"], "--box: box must be 4 numbers"),
    (["--box", "30,20,10,40"], "has no area"),
    (["--point", "a,b"], "--point: point must be 2 numbers"),
])
def test_malformed_prompt_writes_nothing(folder, tmp_path, capsys, extra, msg):
    d, _ = folder
    out = tmp_path / "out"
    code, err = _run(["segment", str(d), "--out", str(out), "--model", "litemedsam", *extra], capsys)
    assert code == 2 and msg in err and err.count("\n") == 1
    assert not out.exists()


def test_malformed_prompts_csv(tmp_path, folder, capsys):
    d, _ = folder
    bad = tmp_path / "p.csv"
    bad.write_text("image,x0,y0,x1,y1\na.png,1,2,,\n")
    out = tmp_path / "out"
    code, err = _run(["segment", str(d), "--out", str(out), "--model", "litemedsam", "--prompts", str(bad)],
                     capsys)
    assert code == 2 and "line 2" in err and not out.exists()
    bad.write_text("name,x0\n")
    with pytest.raises(Exception, match="'image' column"):
        read_prompts_csv(bad)
    assert parse_box("1, 2, 30, 40") == (1.0, 2.0, 30.0, 40.0)


def test_missing_input_and_unknown_model(tmp_path, capsys):
    code, err = _run(["segment", str(tmp_path / "nope.png"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "nope.png" in err
    img = tmp_path / "x.png"
    Image.fromarray(make_image(32, 32, seed=0)[0]).save(img)
    code, err = _run(["segment", str(img), "--out", str(tmp_path / "o"), "--model", "no-such-model"], capsys)
    assert code == 2 and "unknown model" in err and not (tmp_path / "o").exists()


@pytest.mark.realdata
def test_segment_real_isic_image_with_box(shared_data, tmp_path, capsys):
    from dermaseg.io import read_mask

    root = shared_data / "isic2017"
    img = root / "ISIC-2017_Validation_Data" / "ISIC_0001769.jpg"
    if not img.is_file():
        pytest.skip("ISIC 2017 validation image not found")
    truth = read_mask(root / "ISIC-2017_Validation_Part1_GroundTruth" / "ISIC_0001769_segmentation.png")
    x0, y0, x1, y1 = mask_bbox(truth)
    out = tmp_path / "out"
    code, _ = _run(["segment", str(img), "--out", str(out), "--model", "litemedsam",
                    "--box", f"{max(0, x0 - 8):g},{max(0, y0 - 8):g},{x1 + 8:g},{y1 + 8:g}"], capsys)
    assert code == 0
    pred = np.asarray(Image.open(out / "ISIC_0001769_mask.png")) > 0
    assert pred.shape == truth.shape
    assert 2 * (pred & truth).sum() / (pred.sum() + truth.sum()) > 0.85
