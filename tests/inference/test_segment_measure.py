"""`dermaseg segment --pixel-size MM` / `--measure`: results.csv carries the columns of `dermaseg measure`,
equal to measuring the written mask itself; mm columns only with a pixel size; bad pixel sizes refused."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.synthetic import make_image
from dermaseg.errors import DermasegError
from dermaseg.inference.segment import segment_files
from dermaseg.inference.segment_results import RESULT_COLUMNS
from dermaseg.measure import MEASURE_KEYS, MEASURE_VERSION, measure, record_to_row


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture()
def images(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        Image.fromarray(make_image(64, 80, seed=i)[0]).save(d / f"im{i}.png")
    return d


@pytest.mark.parametrize("pixel_size", [0.05, None])
def test_measure_columns_equal_measuring_the_written_mask(images, tmp_path, dark_cnn, pixel_size):
    out = tmp_path / "out"
    segment_files([images], out, model=dark_cnn, pixel_size=pixel_size, measure_masks=pixel_size is None,
                  echo=False)
    rows = _rows(out)
    with open(out / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    v2 = ("asymmetry_score", "asymmetry_grade", "measure_version")  # appended by measure_version 2
    assert tuple(header) == (*RESULT_COLUMNS, *MEASURE_KEYS, *v2)
    for r in rows:
        mask = np.asarray(Image.open(out / f"{r['output']}_mask.png")) > 0
        rgb = np.asarray(Image.open(r["image"]).convert("RGB"))
        want = record_to_row(measure(mask, rgb, pixel_size), r["image"])
        assert {k: r[k] for k in (*MEASURE_KEYS, *v2)} == {k: want[k] for k in (*MEASURE_KEYS, *v2)}
        assert r["measure_version"] == MEASURE_VERSION
        assert int(r["area_px"]) == int(r["lesion_area_px"]) == int(mask.sum())
        if pixel_size is None:
            assert r["area_mm2"] == r["diameter_mm"] == ""  # never guessed
        elif mask.any():
            assert float(r["diameter_mm"]) == pytest.approx(float(r["diameter_px"]) * pixel_size, rel=1e-4)


def test_without_measure_the_table_is_unchanged(images, tmp_path, dark_cnn):
    out = tmp_path / "out"
    segment_files([images], out, model=dark_cnn, echo=False)
    with open(out / "results.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == RESULT_COLUMNS


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf")])
def test_bad_pixel_size_is_refused_before_anything_is_written(images, tmp_path, dark_cnn, bad):
    out = tmp_path / "out"
    with pytest.raises(DermasegError, match="--pixel-size"):
        segment_files([images], out, model=dark_cnn, pixel_size=bad, echo=False)
    assert not out.exists()
