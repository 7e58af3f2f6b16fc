"""`dermaseg measure` end to end: a dataset's truth masks, segment-style mask folders, bad inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import make_image, write_dataset
from dermaseg.io import read_image, read_mask
from dermaseg.measure import CSV_COLUMNS, MEASURE_COLUMNS, MEASURE_VERSION, measure, record_to_row
from tests.clirun import run_cli_out_err as _run

CONTRACT = ["image", "area_px", "area_mm2", "perimeter_px", "perimeter_mm", "diameter_px", "diameter_mm",
            "asymmetry", "asymmetry_axes", "compactness", "solidity", "colours", "n_colours"]


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def test_columns_are_the_contract():
    assert list(MEASURE_COLUMNS) == CONTRACT
    assert list(CSV_COLUMNS[:13]) == CONTRACT and len(set(CSV_COLUMNS)) == len(CSV_COLUMNS)


@pytest.mark.parametrize("layout", ["folder", "isic2017"])
def test_measure_dataset(tmp_path, capsys, layout):
    root = write_dataset(tmp_path / "ds", layout, n=4, size=(72, 96), seed=3)
    out = tmp_path / "m.csv"
    code, stdout, err = _run(["measure", "--data", str(root), "--out", str(out)], capsys)
    assert code == 0, err
    assert str(out) in stdout
    header, rows = _read(out)
    assert header == list(CSV_COLUMNS)
    assert header[-1] == "measure_version" and all(r["measure_version"] == MEASURE_VERSION for r in rows)
    ds = load_dataset(root)
    assert [r["image"] for r in rows] == [s.id for s in ds.samples]
    for s, row in zip(ds.samples, rows, strict=True):
        rec = measure(read_mask(s.mask), read_image(s.image))
        assert row == record_to_row(rec, s.id)
        assert int(row["area_px"]) == int(read_mask(s.mask).sum()) > 0
        assert row["area_mm2"] == row["diameter_mm"] == row["diameter_over_6mm"] == ""  # no pixel size
        assert 1 <= int(row["n_colours"]) <= 6 and row["colours"]
        assert len(row["colours"].split(";")) == int(row["n_colours"])


@pytest.fixture()
def segmented(tmp_path):
    """Images in one folder, `dermaseg segment`-style outputs (mask, prob, overlay, results.csv) in another."""
    img_dir, seg_dir = tmp_path / "imgs", tmp_path / "seg"
    img_dir.mkdir()
    seg_dir.mkdir()
    masks = {}
    for name, ext, seed in (("a", ".png", 1), ("b", ".jpg", 2), ("c", ".png", 4)):
        rgb, m = make_image(64, 80, seed=seed)
        Image.fromarray(rgb).save(img_dir / f"{name}{ext}", quality=95)
        masks[name] = m
    Image.fromarray(masks["a"].astype(np.uint8) * 255).save(seg_dir / "a_mask.png")
    Image.fromarray(masks["b"].astype(np.uint8)).save(seg_dir / "b_segmentation.png")  # 0/1 mask
    Image.fromarray(masks["c"].astype(np.uint8) * 255).save(seg_dir / "c.png")
    Image.fromarray(np.zeros((64, 80), np.uint8)).save(seg_dir / "a_prob.png")
    (seg_dir / "results.csv").write_text("image\n")
    return img_dir, seg_dir, masks


def test_measure_images_with_masks(segmented, tmp_path, capsys):
    img_dir, seg_dir, masks = segmented
    out = tmp_path / "out" / "m.csv"
    code, _, err = _run(["measure", str(img_dir), "--masks", str(seg_dir), "--out", str(out),
                         "--pixel-size", "0.02"], capsys)
    assert code == 0, err
    header, rows = _read(out)
    assert header == list(CSV_COLUMNS)
    assert [Path(r["image"]).name for r in rows] == ["a.png", "b.jpg", "c.png"]
    for r in rows:
        stem = Path(r["image"]).stem
        assert int(r["area_px"]) == int(masks[stem].sum())
        assert float(r["area_mm2"]) == pytest.approx(int(r["area_px"]) * 0.02**2, rel=1e-5)
        assert float(r["diameter_mm"]) == pytest.approx(float(r["diameter_px"]) * 0.02, rel=1e-5)
        assert float(r["perimeter_mm"]) == pytest.approx(float(r["perimeter_px"]) * 0.02, rel=1e-5)
        assert r["pixel_size_mm"] == "0.02" and r["diameter_over_6mm"] == "false"
        rec = measure(masks[stem], read_image(r["image"]), pixel_size=0.02)
        assert r == record_to_row(rec, r["image"])
    # one file given directly, its mask in the same folder as the images is never the image itself
    Image.fromarray(masks["a"].astype(np.uint8) * 255).save(img_dir / "a_mask.png")
    out2 = tmp_path / "one.csv"
    code, _, err = _run(["measure", str(img_dir / "a.png"), "--masks", str(img_dir), "--out", str(out2)], capsys)
    assert code == 0, err
    assert [r["area_px"] for r in _read(out2)[1]] == [str(int(masks["a"].sum()))]


def _assert_clean_failure(code, err, out: Path, *names: str):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in names:
        assert n in lines[0], (n, lines[0])
    assert not out.exists() or out.read_text() == "old\n"
    assert not list(out.parent.glob(".*.part*"))


@pytest.mark.parametrize("size", ["-1", "0", "nan", "inf"])
def test_bad_pixel_size(segmented, tmp_path, capsys, size):
    img_dir, seg_dir, _ = segmented
    out = tmp_path / "m.csv"
    code, _, err = _run(["measure", str(img_dir), "--masks", str(seg_dir), "--out", str(out),
                         "--pixel-size", size], capsys)
    _assert_clean_failure(code, err, out, "--pixel-size")


def test_image_without_mask(segmented, tmp_path, capsys):
    img_dir, seg_dir, _ = segmented
    (seg_dir / "b_segmentation.png").unlink()
    out = tmp_path / "m.csv"
    out.write_text("old\n")  # a failed run leaves an existing file as it was
    code, _, err = _run(["measure", str(img_dir), "--masks", str(seg_dir), "--out", str(out)], capsys)
    _assert_clean_failure(code, err, out, "b.jpg", "no mask")


def test_mask_of_another_size(segmented, tmp_path, capsys):
    img_dir, seg_dir, _ = segmented
    Image.fromarray(np.full((30, 40), 255, np.uint8)).save(seg_dir / "c.png")
    out = tmp_path / "m.csv"
    code, _, err = _run(["measure", str(img_dir), "--masks", str(seg_dir), "--out", str(out)], capsys)
    _assert_clean_failure(code, err, out, "c.png", "40x30", "80x64")


def test_unreadable_mask(segmented, tmp_path, capsys):
    img_dir, seg_dir, _ = segmented
    (seg_dir / "a_mask.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "m.csv"
    code, _, err = _run(["measure", str(img_dir), "--masks", str(seg_dir), "--out", str(out)], capsys)
    _assert_clean_failure(code, err, out, "a_mask.png", "cannot read")


def test_dataset_image_without_mask(tmp_path, capsys):
    root = write_dataset(tmp_path / "ds", "folder", n=3, size=(48, 64), seed=1)
    victim = sorted((root / "masks").iterdir())[1]
    victim.unlink()
    out = tmp_path / "m.csv"
    code, _, err = _run(["measure", "--data", str(root), "--out", str(out)], capsys)
    _assert_clean_failure(code, err, out, "no mask")


@pytest.mark.parametrize("argv, msg", [
    (["measure", "--out", "X"], "give IMAGES"),
    (["measure", "IMG", "--out", "X"], "give IMAGES"),
    (["measure", "IMG", "--masks", "M", "--data", "D", "--out", "X"], "not both"),
    (["measure", "--data", "D", "-r", "--out", "X"], "--recursive"),
])
def test_usage_errors(tmp_path, capsys, argv, msg):
    out = tmp_path / "m.csv"
    argv = [str(out) if a == "X" else a for a in argv]
    code, _, err = _run(argv, capsys)
    _assert_clean_failure(code, err, out, msg)


def test_out_is_a_folder(segmented, tmp_path, capsys):
    img_dir, seg_dir, _ = segmented
    code, _, err = _run(["measure", str(img_dir), "--masks", str(seg_dir), "--out", str(seg_dir)], capsys)
    assert code == 2 and "is a folder" in err


@pytest.mark.realdata
def test_isic2017_validation_truth_masks(shared_data, tmp_path, capsys):
    out = tmp_path / "isic.csv"
    code, _, err = _run(["measure", "--data", str(shared_data / "isic2017"), "--split", "val", "--out", str(out)],
                        capsys)
    assert code == 0, err
    header, rows = _read(out)
    assert header == list(CSV_COLUMNS) and len(rows) == 150
    for r in rows:
        assert int(r["area_px"]) > 0 and float(r["diameter_px"]) > 0 and r["area_mm2"] == ""
        assert 0 <= float(r["asymmetry"]) < 1 and r["asymmetry_axes"] in ("0", "1", "2")
        assert 1 <= int(r["n_colours"]) <= 6 and 0 <= int(r["border_score"]) <= 8


def test_measure_reads_what_segment_wrote(tmp_path, capsys):
    """`segment IN... -r --out S` then `measure IN... -r --masks S`: the same images, found the same way
    (sub-folders mirrored, a dataset folder's images, two images called `a`), each with the mask segment
    wrote for it; the rows equal measuring those masks directly."""
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    for rel, seed in (("a.png", 1), ("sub/b.png", 2), ("sub/deeper/c.jpg", 3)):
        rgb, _ = make_image(48, 64, seed=seed)
        Image.fromarray(rgb).save(tree / rel, quality=95)
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(make_image(48, 64, seed=5)[0]).save(other / "a.png")  # a second `a`: segment names it a_2
    ds = write_dataset(tmp_path / "isic", "isic2018", n=3, size=(48, 64), seed=7)
    inputs = [str(tree), str(other), str(ds)]
    seg = tmp_path / "seg"
    code, _, err = _run(["segment", *inputs, "-r", "--out", str(seg), "--save", "mask"], capsys)
    assert code == 0, err
    out = tmp_path / "m.csv"
    code, _, err = _run(["measure", *inputs, "-r", "--masks", str(seg), "--out", str(out)], capsys)
    assert code == 0, err
    _, rows = _read(out)
    ds_images = [s.image for s in load_dataset(ds).samples]
    expected = [(tree / "a.png", "a"), (tree / "sub/b.png", "sub/b"), (tree / "sub/deeper/c.jpg", "sub/deeper/c"),
                (other / "a.png", "a_2")] + [(Path(i), Path(i).relative_to(ds).with_suffix("").as_posix())
                                             for i in ds_images]
    assert [Path(r["image"]) for r in rows] == [p for p, _ in expected]
    for r, (img, name) in zip(rows, expected, strict=True):
        mask = read_mask(seg / f"{name}_mask.png")
        assert r == record_to_row(measure(mask, read_image(img)), r["image"])
    assert rows[0] != {**rows[3], "image": rows[0]["image"]}  # `a` and `a_2` are two different masks
    # without -r the sub-folders are not walked, and a wrong masks folder names the image and what was tried
    code, _, err = _run(["measure", str(tree), "--masks", str(seg), "--out", str(tmp_path / "flat.csv")], capsys)
    assert code == 0, err
    assert [Path(r["image"]).name for r in _read(tmp_path / "flat.csv")[1]] == ["a.png"]
    code, _, err = _run(["measure", str(tree), "-r", "--masks", str(seg / "sub"), "--out", str(tmp_path / "x.csv")],
                        capsys)
    _assert_clean_failure(code, err, tmp_path / "x.csv", "a.png", "a_mask.png")
