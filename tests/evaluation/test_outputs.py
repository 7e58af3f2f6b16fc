"""Writing an evaluation folder: every file, all or nothing, and into a training run folder."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.evaluation.evaluate import evaluate
from dermaseg.evaluation.outputs import CSV_COLUMNS, write_evaluation
from dermaseg.io import read_mask
from dermaseg.measure.per_image import measurement_summary
from tests.evaluation.doubles import TruthLookupPredictorDouble


@pytest.fixture(scope="module")
def folder_ds(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("ev") / "folder", "folder", n=5, size=(48, 64), seed=3)
    return load_dataset(root)


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_outputs_are_complete_and_report_self_contained(folder_ds, tmp_path):
    res = evaluate(folder_ds, TruthLookupPredictorDouble(folder_ds.samples, lambda m: np.roll(m, 2, 1)),
                   "none", progress=False)
    out = write_evaluation(res, tmp_path / "run", {"model": {"name": "truth-lookup-double"},
                                                   "dataset": {"format": "folder", "split": "all",
                                                               "count": 5}})
    m = json.loads((out / "metrics.json").read_text())
    assert m["summary"]["n"] == 5 and m["dataset"]["count"] == 5
    assert set(m["summary"]["per_image_mean"]) >= {"dice", "iou", "thresholded_jaccard", "hd95", "accuracy"}
    assert m["summary"]["pooled"]["tp"] == sum(r["tp"] for r in res.rows)
    assert m["prompt"] == {"mode": "none", "source": "none (automatic cnn: truth-lookup-double)"}
    assert m["resolution"]["height"] == {"min": 48, "max": 48}
    assert m["timing"]["images_per_second"] > 0 and m["timing"]["threads"] >= 1
    rows = _read_rows(out / "per_image.csv")
    assert list(rows[0]) == list(CSV_COLUMNS) and len(rows) == 5
    assert float(rows[0]["dice"]) == pytest.approx(res.rows[0]["dice"], rel=1e-5)
    cases = json.loads((out / "cases" / "cases.json").read_text())["cases"]
    assert [c["role"] for c in cases][:3] == ["best", "median", "worst"]
    best = max(res.rows, key=lambda r: r["dice"])
    assert cases[0]["dice"] == best["dice"]
    for c in cases:
        for f in c["files"].values():
            assert (out / "cases" / f).is_file()
    pred = read_mask(out / "cases" / cases[0]["files"]["pred"])
    np.testing.assert_array_equal(pred, res.mask(cases[0]["id"]))
    html = (out / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""src=["'](?!data:)""", html)
    assert html.count("data:image/png;base64,") >= 4
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "cases.png", "confusion.png", "contours.png", "histograms.png", "measure_asymmetry.png",
        "measure_diameter.png"]
    # measurement agreement: in metrics.json, the same when recomputed from the saved per_image.csv
    assert m["measurements"]["n"] == 5 and m["measurements"]["diameter_px"]["n"] == 5
    again = measurement_summary(rows)  # per_image.csv keeps 6 significant digits
    for key in ("area_px", "diameter_px", "asymmetry", "colours"):
        for k, v in m["measurements"][key].items():
            assert v == (again[key][k] if v is None else pytest.approx(again[key][k], rel=1e-4, abs=1e-6)), (key, k)
    assert "How far the predicted masks move the lesion measurements" in html
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging removed


def test_failure_leaves_no_output(folder_ds, tmp_path):
    from dermaseg.evaluation.evaluate import EvaluationResult

    with pytest.raises(RuntimeError):
        evaluate(folder_ds, TruthLookupPredictorDouble(folder_ds.samples, fail_after=2), "none",
                 progress=False)
    res = evaluate(folder_ds, TruthLookupPredictorDouble(folder_ds.samples), "none", progress=False)
    broken = EvaluationResult(**{**res.__dict__, "samples": {}})  # cases cannot be written
    with pytest.raises(KeyError):
        write_evaluation(broken, tmp_path / "run", {})
    assert list(tmp_path.iterdir()) == []


def test_evaluating_into_a_training_run_keeps_its_files_and_draws_its_curves(folder_ds, tmp_path):
    run = tmp_path / "train_run"
    run.mkdir()
    hist = "epoch,train_loss,val_loss,val_dice,val_iou,lr,seconds\n1,0.9,1.0,0.5,0.4,0.001,3\n2,0.5,0.6,0.7,0.6,0.001,3\n"
    (run / "history.csv").write_text(hist)
    res = evaluate(folder_ds, TruthLookupPredictorDouble(folder_ds.samples), "none", progress=False, limit=2)
    write_evaluation(res, run, {})
    assert (run / "history.csv").read_text() == hist
    assert (run / "figures" / "training.png").is_file()
    assert "Training curves" in (run / "report.html").read_text()
    assert sorted(p.name for p in run.iterdir()) == ["cases", "figures", "history.csv", "metrics.json",
                                                     "per_image.csv", "report.html"]
