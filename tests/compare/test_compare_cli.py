"""`dermaseg compare` end to end: the files, the JSON keys of the contract, bad input, --pairs."""

from __future__ import annotations

import json

import numpy as np

from dermaseg.compare.simulate import reacquire
from dermaseg.io import read_mask, write_png
from tests.clirun import run_cli_out_err
from tests.compare.common import PIXEL_SIZE, grow, ph2

CHANGE_KEYS = {"area_mm2", "area_pct", "diameter_mm", "asymmetry", "colours_gained", "colours_lost"}


def _visits(shared_data, tmp_path, grown_px: int = 0):
    rgb, mask = ph2(shared_data, "IMD016")
    after, amask = (rgb, mask) if not grown_px else grow(rgb, mask, grown_px)
    view = reacquire(after, amask, seed=3)
    d = tmp_path / "visits"
    write_png(d / "before.png", rgb)
    write_png(d / "before_mask.png", mask)
    write_png(d / "after.png", view.image)
    write_png(d / "after_mask.png", view.mask)
    return d


def test_compare_cli_writes_the_report_and_contract_keys(shared_data, tmp_path, capsys):
    d = _visits(shared_data, tmp_path, grown_px=40)
    out = tmp_path / "out"
    code, so, se = run_cli_out_err(["compare", d / "before.png", d / "after.png", "--out", out, "--pixel-size-before",
                                    PIXEL_SIZE, "--masks-before", d / "before_mask.png", "--masks-after",
                                    d / "after_mask.png"], capsys)
    assert code == 0, se
    assert "CHANGED" in so and "area_pct" in so
    for f in ("compare.json", "compare.html", "compare.png", "before_mask.png", "after_mask.png",
              "after_aligned.png", "after_aligned_mask.png", "grown.png", "shrunk.png"):
        assert (out / f).is_file(), f
    rec = json.loads((out / "compare.json").read_text())
    assert {"changed", "registration", "before", "after", "change", "thresholds"} <= set(rec)
    assert {"ok", "transform", "quality"} <= set(rec["registration"])
    assert np.asarray(rec["registration"]["transform"]).shape == (3, 3)
    assert CHANGE_KEYS <= set(rec["change"]) and rec["changed"] is True
    assert rec["change"]["area_mm2"] > 0 and rec["change"]["diameter_mm"] > 0
    from dermaseg.measure import MEASURE_KEYS

    assert all(k in rec["before"] for k in MEASURE_KEYS) and rec["before"]["area_mm2"] is not None
    assert read_mask(out / "grown.png").sum() == rec["change"]["grown_px"]
    html = (out / "compare.html").read_text()
    assert "CHANGED" in html and 'src="compare.png"' in html
    assert list(tmp_path.rglob("*.part*")) == []


def test_without_pixel_size_mm_are_null(shared_data, tmp_path, capsys):
    d = _visits(shared_data, tmp_path)
    out = tmp_path / "out"
    code, so, se = run_cli_out_err(["compare", d / "before.png", d / "after.png", "--out", out, "--masks-before",
                                    d / "before_mask.png", "--masks-after", d / "after_mask.png"], capsys)
    assert code == 0, se
    rec = json.loads((out / "compare.json").read_text())
    assert rec["change"]["area_mm2"] is None and rec["change"]["diameter_mm"] is None
    assert rec["before"]["area_mm2"] is None and abs(rec["change"]["area_pct"]) < 3
    assert rec["changed"] is False and "no change" in so


def test_bad_input_is_one_line_and_writes_nothing(shared_data, tmp_path, capsys):
    d = _visits(shared_data, tmp_path)
    out = tmp_path / "out"
    cases = [
        (["compare", d / "missing.png", d / "after.png", "--out", out], "no such file"),
        (["compare", d / "before.png", d / "after.png", "--out", out, "--masks-before", d / "after_mask.png",
          "--masks-after", d / "after_mask.png"], "mask of"),
        (["compare", d / "before.png", d / "after.png", "--out", out, "--pixel-size", "0.02",
          "--pixel-size-after", "0.03"], "not both"),
        (["compare", d / "before.png", d / "after.png", "--out", out, "--pixel-size", "-1"], "positive"),
        (["compare", d / "before.png", "--out", out], "BEFORE AFTER"),
        (["compare", d / "before.png", d / "after.png", "--out", d], "holds the input"),
    ]
    for args, msg in cases:
        code, so, se = run_cli_out_err(args, capsys)
        assert code == 2, (args, se)
        assert se.startswith("error: ") and se.count("\n") == 1 and msg in se, se
        assert "Traceback" not in se
    assert not out.exists()
    assert sorted(p.name for p in d.iterdir()) == ["after.png", "after_mask.png", "before.png", "before_mask.png"]


def test_pairs_csv_series(shared_data, tmp_path, capsys):
    d = _visits(shared_data, tmp_path, grown_px=40)
    csv = d / "series.csv"
    csv.write_text("image,lesion_id,date,mask,pixel_size\n"
                   f"after.png,L1,2024-06-01,after_mask.png,\n"
                   f"before.png,L1,2024-01-01,before_mask.png,{PIXEL_SIZE}\n")
    out = tmp_path / "series"
    code, so, se = run_cli_out_err(["compare", "--pairs", csv, "--out", out], capsys)
    assert code == 0, se
    rows = (out / "series.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[0].startswith("name,before,after,status,changed")
    assert "001_before__after" in rows[1] and ",compared,true," in rows[1]
    rec = json.loads((out / "001_before__after" / "compare.json").read_text())
    assert rec["pixel_size_before"] == PIXEL_SIZE and rec["change"]["area_mm2"] > 0
    bad = d / "bad.csv"
    bad.write_text("before,after\nbefore.png,nope.png\n")
    code, so, se = run_cli_out_err(["compare", "--pairs", bad, "--out", tmp_path / "o2"], capsys)
    assert code == 2 and "row 2" in se and "nope.png: no such file" in se
    assert not (tmp_path / "o2").exists()
