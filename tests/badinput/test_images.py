"""Bad-input catalogue, images: broken, truncated, zero-byte, mislabelled and decompression-bomb images
and masks in every command that reads them (data check, measure, evaluate, train, segment), and odd but
valid modes (16-bit, CMYK, palette, RGBA, animated, EXIF-rotated, 1×5000, 1×1) through segment and data
check. Each case: no traceback, one line naming the file, the right exit code, no partial output, inputs
unchanged."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.synthetic import write_dataset

from .files import broken_images, mask_png, odd_images, write
from .harness import assert_ok, assert_refused, error_lines, run_cli, snapshot

BROKEN = broken_images()
ODD = odd_images()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean 4-pair folder dataset with diagnoses (48×64 images)."""
    return write_dataset(tmp_path_factory.mktemp("clean") / "ds", "folder", n=4, size=(48, 64), labels=True)


def _with_bad(clean, tmp_path, kind, what):
    """A copy of the clean dataset whose first image (or mask) is the broken file ``kind``."""
    ds = shutil.copytree(clean, tmp_path / "ds")
    suffix, data = BROKEN[kind]
    if what == "image":
        (ds / "images" / "case_000.jpg").unlink()
        bad = write(ds / "images" / f"case_000{suffix}", data)
    else:
        (ds / "masks" / "case_000.png").unlink()
        bad = write(ds / "masks" / "case_000.png", data if suffix == ".png" else BROKEN["truncated-png"][1])
    return ds, bad


def _capture(argv):
    """Run ``dermaseg ARGV`` capturing by hand (capsys is function-scoped; these runs are shared by a module)."""
    import io
    import sys

    from .harness import Outcome, main

    out_io, err_io = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out_io, err_io
    try:
        try:
            main([str(a) for a in argv])
            code, exc = 0, None
        except SystemExit as e:
            code, exc = e.code, None
        except BaseException as e:  # noqa: BLE001
            code, exc = None, f"{type(e).__name__}: {e}"
    finally:
        sys.stdout, sys.stderr = old
    return Outcome(code, out_io.getvalue(), err_io.getvalue(), exc)


IMAGE_COMMANDS = {
    "data-check": lambda ds, out: ["data", "check", ds],
    "measure": lambda ds, out: ["measure", "--data", ds, "--out", out / "m.csv"],
    "evaluate": lambda ds, out: ["evaluate", "--data", ds, "--out", out / "ev", "--no-report"],
    # train skips a broken image by default too (tests/badinput/test_review_defects.py); here it is told to
    # stop, so the refusal (one line naming the file, no partial run folder) is what is checked
    "train": lambda ds, out: ["train", "--data", ds, "--out", out / "run", "--epochs", "1", "--image-size", "32",
                              "--on-error", "stop"],
}


@pytest.mark.parametrize("command", list(IMAGE_COMMANDS))
@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_image_in_a_dataset(clean, tmp_path, capsys, kind, command):
    ds, bad = _with_bad(clean, tmp_path, kind, "image")
    before = snapshot(ds)
    out = tmp_path / "out"
    o = run_cli(IMAGE_COMMANDS[command](ds, out), capsys)
    if command == "data-check":  # a report, exit 1: the file named with its problem, never "OK"
        assert_ok(o, code=1)
        assert str(bad) in o.out and "OK" not in o.out.splitlines()[-1]
    elif command in ("evaluate", "measure"):  # --on-error skip (the default): reported, left out
        assert o.code == 0 and o.exc is None and "warning: skipped:" in o.err and str(bad) in o.err
    else:
        assert_refused(o, str(bad))
        assert not out.exists() or not any(out.rglob("*")), "partial output left"
    assert snapshot(ds) == before


@pytest.mark.parametrize("command", ["data-check", "evaluate", "train"])
@pytest.mark.parametrize("kind", ["garbage", "truncated-png", "zero-byte", "text-named-png", "bomb-header",
                                  "bomb-real"])
def test_broken_mask_in_a_dataset(clean, tmp_path, capsys, kind, command):
    ds, bad = _with_bad(clean, tmp_path, kind, "mask")
    before = snapshot(ds)
    out = tmp_path / "out"
    o = run_cli(IMAGE_COMMANDS[command](ds, out), capsys)
    if command == "data-check":
        assert_ok(o, code=1)
        assert str(bad) in o.out
    elif command in ("evaluate", "measure"):  # --on-error skip (the default): reported, left out
        assert o.code == 0 and o.exc is None and "warning: skipped:" in o.err and str(bad) in o.err
    else:
        assert_refused(o, str(bad))
        assert not out.exists() or not any(out.rglob("*")), "partial output left"
    assert snapshot(ds) == before


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_image_in_measure_files(clean, tmp_path, capsys, kind):
    suffix, data = BROKEN[kind]
    bad = write(tmp_path / "in" / f"case_000{suffix}", data)
    masks = shutil.copytree(clean / "masks", tmp_path / "masks")
    before = snapshot(tmp_path / "in", masks)
    o = run_cli(["measure", bad, "--masks", masks, "--out", tmp_path / "m.csv"], capsys)
    assert_refused(o, str(bad))
    assert not (tmp_path / "m.csv").exists()
    assert snapshot(tmp_path / "in", masks) == before


@pytest.fixture(scope="module")
def segmented_broken(tmp_path_factory, clean):
    """One `segment` run over every broken image plus one good one: (outcome, inputs, out, hashes)."""
    root = tmp_path_factory.mktemp("seg_broken")
    inputs = {kind: write(root / "in" / f"{kind}{suffix}", data) for kind, (suffix, data) in BROKEN.items()}
    good = shutil.copy(clean / "images" / "case_001.jpg", root / "in" / "good.jpg")
    before = snapshot(root / "in")
    o = _capture(["segment", root / "in", "--out", root / "out"])
    return o, inputs, good, root / "out", before, root / "in"


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_image_in_segment(segmented_broken, kind):
    o, inputs, good, out, before, indir = segmented_broken
    assert o.exc is None and "Traceback" not in o.err + o.out
    assert o.code == 1, "some images failed, others were written: exit 1"
    named = [line for line in error_lines(o) if str(inputs[kind]) in line]
    assert len(named) == 1, f"{inputs[kind]} named in {len(named)} error lines: {error_lines(o)}"
    assert not list(out.glob(f"{kind}_*.png")), "output written for an unreadable image"
    assert (out / "good_mask.png").is_file()
    assert snapshot(indir) == before


@pytest.fixture(scope="module")
def odd_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("odd")
    for kind, (suffix, data, shape) in ODD.items():
        write(root / "ds" / "images" / f"{kind}{suffix}", data)
        write(root / "ds" / "masks" / f"{kind}.png", mask_png(shape or (1, 1)))
    return root


USABLE = [k for k, v in ODD.items() if v[2] is not None]
TINY = [k for k, v in ODD.items() if v[2] is None]


@pytest.fixture(scope="module")
def segmented_odd(odd_dir):
    """One `segment` run over every odd but usable image."""
    files = [odd_dir / "ds" / "images" / f"{k}{ODD[k][0]}" for k in USABLE]
    before = snapshot(odd_dir / "ds")
    return _capture(["segment", *files, "--out", odd_dir / "out"]), before


@pytest.mark.parametrize("kind", USABLE)
def test_odd_image_in_segment(odd_dir, segmented_odd, kind):
    o, before = segmented_odd
    assert_ok(o)
    assert not error_lines(o)
    mask = np.asarray(Image.open(odd_dir / "out" / f"{kind}_mask.png"))
    assert mask.shape[:2] == ODD[kind][2], "mask not at the image's displayed size (EXIF, frames)"
    assert snapshot(odd_dir / "ds") == before


@pytest.mark.parametrize("kind", TINY)
def test_too_small_image_in_segment(clean, tmp_path, capsys, kind):
    """An image too small to segment fails alone, named, and the others of its batch are written."""
    suffix, data, _ = ODD[kind]
    src = write(tmp_path / "in" / f"{kind}{suffix}", data)
    shutil.copy(clean / "images" / "case_001.jpg", tmp_path / "in" / "good.jpg")
    before = snapshot(tmp_path / "in")
    o = run_cli(["segment", tmp_path / "in", "--out", tmp_path / "out"], capsys)
    assert_refused(o, str(src), code=1)
    assert (tmp_path / "out" / "good_mask.png").is_file()
    assert not list((tmp_path / "out").glob(f"{kind}_*"))
    assert snapshot(tmp_path / "in") == before


@pytest.fixture(scope="module")
def checked_odd(odd_dir):
    before = snapshot(odd_dir / "ds")
    return _capture(["data", "check", odd_dir / "ds", "--format", "folder", "--verbose"]), before


@pytest.mark.parametrize("kind", list(ODD))
def test_odd_image_in_data_check(odd_dir, checked_odd, kind):
    o, before = checked_odd
    suffix, _, shape = ODD[kind]
    assert o.exc is None and "Traceback" not in o.out
    text = " ".join(o.out.split())  # rich wraps long lines
    if suffix in (".gif",):  # not a dataset image extension: not read, so not a problem either
        assert f"{kind}{suffix}" not in text
    elif shape is not None:
        assert f"images/{kind}{suffix}" not in text, f"a valid {kind} image reported as a problem"
    assert snapshot(odd_dir / "ds") == before
