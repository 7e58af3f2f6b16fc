"""Measurement agreement in evaluations: per-image columns, their CSV round trip, metrics.json's summary."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from dermaseg.measure import measure
from dermaseg.measure.per_image import (
    PER_IMAGE_COLUMNS,
    measurement_columns,
    measurement_summary,
    records_from_rows,
)


def _disc(r: float, shape=(120, 160), c=(60, 80)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r * r


def _image(shape=(120, 160)) -> np.ndarray:
    img = np.full((*shape, 3), (220, 180, 160), np.uint8)  # skin
    img[_disc(30, shape)] = (120, 80, 50)  # a brown lesion
    return img


def _rows() -> list[dict]:
    img = _image()
    rows = []
    for i, (rp, rt) in enumerate([(25, 30), (30, 30), (35, 30)]):
        p, t = _disc(rp), _disc(rt)
        row = {"id": f"im{i}", "pred_area": int(p.sum()), "truth_area": int(t.sum())}
        row.update(measurement_columns(p, t, img))
        rows.append(row)
    return rows


def test_columns_equal_measure_of_each_mask():
    img = _image()
    p, t = _disc(25), _disc(30)
    cols = measurement_columns(p, t, img)
    assert tuple(cols) == PER_IMAGE_COLUMNS
    mp, mt = measure(p, img), measure(t, img)
    assert cols["pred_diameter_px"] == mp["diameter_px"] and cols["truth_diameter_px"] == mt["diameter_px"]
    assert cols["truth_colours"] == ";".join(mt["colours"]) and cols["truth_n_colours"] == mt["n_colours"]
    assert abs(cols["truth_diameter_px"] - 60) <= 1.5  # Feret of a disc of radius 30


def test_empty_prediction_gives_blank_cells_not_errors():
    cols = measurement_columns(np.zeros((120, 160), bool), _disc(30), _image())
    assert cols["pred_asymmetry"] == ""
    pred, truth = records_from_rows([{"pred_area": 0, "truth_area": int(_disc(30).sum()), **cols}])
    assert pred[0]["asymmetry"] is None and truth[0]["asymmetry"] is not None


def test_summary_is_the_same_from_memory_and_from_the_csv():
    rows = _rows()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    back = list(csv.DictReader(io.StringIO(buf.getvalue())))
    a, b = measurement_summary(rows), measurement_summary(back)
    assert a == b
    d = a["diameter_px"]
    # predicted diameters ~50, 60, 70 vs 60: bias ~0, |error| ~ (10 + 0 + 10) / 3
    assert d["n"] == 3 and abs(d["bias"]) < 1.5 and d["mae"] == pytest.approx(20 / 3, abs=1.5)
    assert a["area_px"]["mre"] == pytest.approx(np.mean([abs(25**2 - 900) / 900, 0, abs(35**2 - 900) / 900]),
                                                abs=0.03)
    assert a["colours"]["n"] == 3 and "note" in a


def test_rows_without_measurements_give_none():
    assert measurement_summary([{"id": "x", "dice": 1.0}]) is None


def test_per_image_columns_record_the_measure_version():
    from dermaseg.measure import MEASURE_VERSION

    img = _image()
    cols = measurement_columns(_disc(25), _disc(30), img)
    assert PER_IMAGE_COLUMNS[-1] == "measure_version" and cols["measure_version"] == MEASURE_VERSION
    assert cols["truth_asymmetry_grade"] == measure(_disc(30), img)["asymmetry_grade"]
