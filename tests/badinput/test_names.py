"""Bad-input catalogue, file names: spaces, unicode, a leading dash, very long names, bytes that are not
UTF-8 (Linux), CSV-special characters. segment, data check and measure read them, write outputs whose
names follow them, and list them in their CSVs; nothing is modified."""

from __future__ import annotations

import csv
import os
import sys

import pytest

from .files import _png, lesion, mask_png, write
from .harness import assert_ok, error_lines, run_cli, snapshot

NAMES = {
    "space": "with space",
    "unicode": "ünïcødé 病変",
    "leading-dash": "-leading-dash",
    "long-200": "L" * 200,
    "csv-special": 'comma,semi;quote"',
    "dots": "two.dots.in",
}
if sys.platform.startswith("linux"):
    NAMES["not-utf8"] = os.fsdecode(b"bad\xff\xfename")  # surrogate-escaped, as Python sees it


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """A folder dataset whose images carry the odd names (images/<name>.png, masks/<name>.png)."""
    root = tmp_path_factory.mktemp("names")
    for i, stem in enumerate(NAMES.values()):
        rgb, mask = lesion(seed=i)
        write(root / "ds" / "images" / f"{stem}.png", _png(rgb))
        write(root / "ds" / "masks" / f"{stem}.png", mask_png((rgb.shape[0], rgb.shape[1]), seed=i))
    return root


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def segmented(named):
    from .test_images import _capture

    before = snapshot(named / "ds")
    return _capture(["segment", named / "ds" / "images", "--out", named / "out"]), before


@pytest.mark.parametrize("key", list(NAMES))
def test_odd_name_in_segment(named, segmented, key):
    o, before = segmented
    stem = NAMES[key]
    assert_ok(o)
    assert not error_lines(o)
    assert (named / "out" / f"{stem}_mask.png").is_file()
    raw = (named / "out" / "results.csv").read_bytes()
    raw.decode("utf-8")  # valid UTF-8 whatever the names (issue 30): odd bytes are written escaped
    images = [r["image"] for r in _csv_rows(named / "out" / "results.csv")]
    given = str(named / "ds" / "images" / f"{stem}.png")
    assert given.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") in images
    if key == "not-utf8":
        assert "bad\\xff\\xfename" in raw.decode("utf-8") and "not valid UTF-8" in o.err
    assert snapshot(named / "ds") == before


def test_leading_dash_after_double_dash(named, tmp_path, capsys):
    """A file named like an option is given after ``--``, as on any command line."""
    src = named / "ds" / "images" / "-leading-dash.png"
    o = run_cli(["segment", "--out", tmp_path / "out", "--", src], capsys)
    assert_ok(o)
    assert (tmp_path / "out" / "-leading-dash_mask.png").is_file()


@pytest.fixture(scope="module")
def checked(named):
    from .test_images import _capture

    before = snapshot(named / "ds")
    return _capture(["data", "check", named / "ds", "--format", "folder", "--verbose"]), before


@pytest.mark.parametrize("key", list(NAMES))
def test_odd_name_in_data_check(named, checked, key):
    o, before = checked
    assert_ok(o)  # every pair is whole: OK, exit 0
    assert o.out.strip().splitlines()[-1].startswith("OK")
    assert snapshot(named / "ds") == before


@pytest.fixture(scope="module")
def measured(named):
    from .test_images import _capture

    before = snapshot(named / "ds")
    out = named / "m.csv"
    return _capture(["measure", named / "ds" / "images", "--masks", named / "ds" / "masks", "--out", out]), out, before


@pytest.mark.parametrize("key", list(NAMES))
def test_odd_name_in_measure(named, measured, key):
    o, out, before = measured
    assert_ok(o)
    images = [r["image"] for r in _csv_rows(out)]
    assert any(NAMES[key] in i for i in images), f"{NAMES[key]!r} not in {images}"
    assert snapshot(named / "ds") == before
