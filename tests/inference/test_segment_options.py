"""`dermaseg segment`'s inputs and outputs: --recursive, dataset folders, unique output names, --skip-existing,
--save / --overlay-format, the end summary, per-image rows with flags, and an --out that could overwrite the
user's files. A fixed CNN (tests/inference/conftest.py) makes the masks, so these run in seconds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.synthetic import make_image, write_dataset
from dermaseg.errors import DermasegError
from dermaseg.inference import segment as seg
from dermaseg.inference import segment_image
from dermaseg.inference.segment import segment_files


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _save(path: Path, h: int = 64, w: int = 80, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_image(h, w, seed=seed)[0]).save(path)
    return path


@pytest.fixture()
def tree(tmp_path):
    d = tmp_path / "in"
    _save(d / "a.png", seed=1)
    _save(d / "a.jpg", seed=2)          # same stem as a.png
    _save(d / "sub" / "a.png", seed=3)  # same name, in a sub-folder
    _save(d / "sub" / "deeper" / "c.png", seed=4)
    return d


def test_recursive_mirrors_sub_folders_and_names_never_collide(tree, tmp_path, dark_cnn, capsys):
    out = tmp_path / "out"
    # the folder, plus one of its files given again: segmented once
    summary = segment_files([tree, tree / "a.png"], out, model=dark_cnn, recursive=True)
    rows = _rows(out)
    assert [r["output"] for r in rows] == ["a", "a_2", "sub/a", "sub/deeper/c"]
    # a folder is read in sorted order: a.jpg keeps "a", a.png becomes "a_2" (run after run the same)
    assert Path(rows[0]["image"]).name == "a.jpg" and Path(rows[1]["image"]).name == "a.png"
    for r in rows:
        for kind in ("mask", "prob"):
            assert (out / f"{r['output']}_{kind}.png").is_file()
        assert (out / f"{r['output']}_overlay.png").is_file()
        assert float(r["seconds"]) > 0 and r["flag"] == ";".join(r["flag"].split(";"))
    # each output is its own image's mask, not another's
    a = np.asarray(Image.open(out / "a_mask.png")) > 0
    sub_a = np.asarray(Image.open(out / "sub/a_mask.png")) > 0
    assert not np.array_equal(a, sub_a)
    assert summary.images == summary.segmented == 4 and not summary.failed
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("4 images: 4 segmented, 0 skipped") and "0 failed" in line and str(out) in line
    # without --recursive, only the top folder
    out2 = tmp_path / "out2"
    segment_files([tree], out2, model=dark_cnn, echo=False)
    assert [r["output"] for r in _rows(out2)] == ["a", "a_2"]


def test_two_inputs_with_the_same_stem_keep_both(tmp_path, dark_cnn):
    x = _save(tmp_path / "x" / "lesion.png", seed=1)
    y = _save(tmp_path / "y" / "lesion.png", seed=2)
    out = tmp_path / "out"
    segment_files([x, y, x], out, model=dark_cnn, echo=False)
    assert [r["output"] for r in _rows(out)] == ["lesion", "lesion_2"]
    assert [Path(r["image"]).parent.name for r in _rows(out)] == ["x", "y"]


def test_flags_column_and_flagged_count(tmp_path, dark_cnn, capsys):
    dark = tmp_path / "dark.png"
    Image.fromarray(np.full((64, 80, 3), 20, np.uint8)).save(dark)   # all "lesion": covers the frame
    _save(tmp_path / "ok.png", seed=5)
    out = tmp_path / "out"
    summary = segment_files([dark, tmp_path / "ok.png"], out, model=dark_cnn)
    rows = {r["output"]: r for r in _rows(out)}
    assert rows["dark"]["flag"] and "cover" in rows["dark"]["flag"]
    assert summary.flagged >= 1 and summary.flags
    assert f"{summary.flagged} flagged" in capsys.readouterr().out


@pytest.mark.parametrize("layout", ["ph2", "isic2017", "folder"])
def test_dataset_folder_segments_its_images_never_its_masks(tmp_path, dark_cnn, layout):
    root = tmp_path / "data"
    write_dataset(root, layout=layout, n=3, size=(48, 64))
    out = tmp_path / "out"
    summary = segment_files([root], out, model=dark_cnn, echo=False)
    rows = _rows(out)
    from dermaseg.data.readers import load_dataset

    images = sorted(str(Path(s.image).resolve()) for s in load_dataset(root).samples)
    assert sorted(str(Path(r["image"]).resolve()) for r in rows) == images
    assert summary.segmented == len(images) >= 3
    masks = {str(Path(s.mask).resolve()) for s in load_dataset(root).samples if s.mask is not None}
    assert not masks & {str(Path(r["image"]).resolve()) for r in rows}


def test_recursive_walks_a_project_folder_that_holds_images(tmp_path, dark_cnn):
    """A folder with `images/` reads as a folder-pairs dataset; with -r its other sub-folders are walked too,
    its `masks/` never (nothing under the project is skipped silently)."""
    proj = tmp_path / "project"
    _save(proj / "images" / "a.png", seed=1)
    Image.fromarray(np.zeros((64, 80), np.uint8)).save(_save(proj / "masks" / "a.png", seed=9))
    _save(proj / "followup" / "b.png", seed=2)
    _save(proj / "followup" / "2025" / "c.jpg", seed=3)
    _save(proj / "more" / "images" / "d.png", seed=4)  # a nested folder-pairs dataset: walked as one
    _save(proj / "more" / "notes" / "e.png", seed=5)
    out = tmp_path / "out"
    segment_files([proj], out, model=dark_cnn, recursive=True, echo=False)
    assert [r["output"] for r in _rows(out)] == ["images/a", "followup/b", "followup/2025/c", "more/images/d",
                                                 "more/notes/e"]
    out2 = tmp_path / "out2"
    segment_files([proj], out2, model=dark_cnn, echo=False)  # without -r: the dataset's images only
    assert [r["output"] for r in _rows(out2)] == ["images/a"]


def test_ph2_image_folder_is_read_through_its_dataset(tmp_path, dark_cnn):
    root = tmp_path / "PH2Dataset"
    write_dataset(root, layout="ph2", n=3, size=(48, 64))
    out = tmp_path / "out"
    segment_files([root / "PH2 Dataset images"], out, model=dark_cnn, echo=False)
    rows = _rows(out)
    assert len(rows) == 3 and not any("lesion" in Path(r["image"]).name for r in rows)
    assert all(r["output"].endswith(Path(r["image"]).stem) for r in rows)


def test_skip_existing_resumes_and_keeps_old_rows(tree, tmp_path, dark_cnn, capsys):
    out = tmp_path / "out"
    segment_files([tree], out, model=dark_cnn, recursive=True, echo=False)
    first = {r["output"]: r for r in _rows(out)}
    (out / "sub/a_prob.png").unlink()                 # as a kill would leave it: one output missing
    (out / "results.csv").unlink()                    # killed before the table: the journal is gone too
    journal_rows = [first["a"], first["a_2"]]         # ...but a journal of finished rows is there
    with open(out / seg.JOURNAL, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=seg.RESULT_COLUMNS)
        w.writeheader()
        w.writerows(journal_rows)
        f.write("/half/written,row")                  # a half-written last line is dropped
    summary = segment_files([tree], out, model=dark_cnn, recursive=True, skip_existing=True, echo=False)
    assert summary.skipped == 2 and summary.segmented == 2    # sub/a (missing output) and sub/deeper/c (no row)
    rows = {r["output"]: r for r in _rows(out)}
    assert set(rows) == set(first)
    assert rows["a"] == first["a"] and rows["a_2"] == first["a_2"]      # old rows kept as they were
    assert (out / "sub/a_prob.png").is_file() and not (out / seg.JOURNAL).exists()
    # everything done: a third run segments nothing, the table still covers all images
    again = segment_files([tree], out, model=dark_cnn, recursive=True, skip_existing=True, echo=False)
    assert again.skipped == 4 and again.segmented == 0 and len(_rows(out)) == 4
    # rows of images not given this time are kept
    segment_files([tree / "a.png"], out, model=dark_cnn, skip_existing=True, echo=False)
    assert {r["output"] for r in _rows(out)} == set(first)


def test_without_skip_existing_everything_is_redone(tree, tmp_path, dark_cnn):
    out = tmp_path / "out"
    segment_files([tree], out, model=dark_cnn, echo=False)
    summary = segment_files([tree], out, model=dark_cnn, echo=False)
    assert summary.segmented == 2 and summary.skipped == 0


def test_save_and_overlay_format(tmp_path, dark_cnn, monkeypatch):
    img = _save(tmp_path / "in" / "x.png")
    out = tmp_path / "out"
    segment_files([img], out, model=dark_cnn, save="mask", echo=False)
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "x_mask.png"]
    out = tmp_path / "out_jpg"
    segment_files([img], out, model=dark_cnn, save="overlay,mask", overlay_format="jpg", echo=False)
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "x_mask.png", "x_overlay.jpg"]
    with Image.open(out / "x_overlay.jpg") as im:
        assert im.format == "JPEG" and im.size == (80, 64)
    # auto: JPEG above JPEG_ABOVE_PIXELS, PNG below
    monkeypatch.setattr(segment_image, "JPEG_ABOVE_PIXELS", 64 * 80 - 1)
    out = tmp_path / "out_auto"
    segment_files([img], out, model=dark_cnn, save="overlay", echo=False)
    assert (out / "x_overlay.jpg").is_file()
    monkeypatch.setattr(segment_image, "JPEG_ABOVE_PIXELS", 64 * 80)
    segment_files([img], tmp_path / "out_png", model=dark_cnn, save="overlay", echo=False)
    assert (tmp_path / "out_png" / "x_overlay.png").is_file()
    for bad, msg in ((dict(save="mask,pdf"), "--save"), (dict(save=""), "--save"),
                     (dict(overlay_format="gif"), "--overlay-format")):
        with pytest.raises(DermasegError, match=msg):
            segment_files([img], tmp_path / "never", model=dark_cnn, **bad)
    assert not (tmp_path / "never").exists()


def test_out_among_the_inputs_is_refused(tmp_path, dark_cnn):
    d = tmp_path / "in"
    _save(d / "a.png")
    own = d / "a_mask.png"
    own.write_bytes(b"the user's own mask")
    for out, recursive in ((d, False), (d / "sub", True)):
        with pytest.raises(DermasegError, match="--out .*input images"):
            segment_files([d], out, model=dark_cnn, recursive=recursive)
    with pytest.raises(DermasegError, match="--out"):
        segment_files([d / "a.png"], d, model=dark_cnn)
    assert own.read_bytes() == b"the user's own mask" and not (d / "results.csv").exists()
    assert not (d / "sub").exists()


def test_one_bad_image_fails_only_itself(tmp_path, dark_cnn, capsys):
    d = tmp_path / "in"
    _save(d / "a.png", seed=1)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(d / "tiny.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    _save(d / "z.png", seed=2)
    out = tmp_path / "out"
    summary = segment_files([d], out, model=dark_cnn)
    assert summary.segmented == 2 and len(summary.failed) == 2
    err = capsys.readouterr().err
    assert "tiny.png" in err and "broken.jpg" in err and "Traceback" not in err
    assert [r["output"] for r in _rows(out)] == ["a", "z"]
    assert not (out / "tiny_mask.png").exists() and not list(out.glob("*.part*"))


def test_a_datasets_mask_folder_is_refused(tmp_path, dark_cnn):
    root = tmp_path / "isic"
    write_dataset(root, layout="isic2017", n=3, size=(48, 64))
    truth = next(p for p in root.iterdir() if p.is_dir() and "GroundTruth" in p.name)
    with pytest.raises(DermasegError, match="masks of the"):
        segment_files([truth], tmp_path / "out", model=dark_cnn)
    assert not (tmp_path / "out").exists()
