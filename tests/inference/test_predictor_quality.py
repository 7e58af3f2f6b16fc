"""The automatic pipeline's threshold, post-processing rule and quality model, wired through the Predictor,
load_predictor (model config), evaluate (per_image.csv, metrics.json) and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dermaseg.data.synthetic import make_image, write_dataset
from dermaseg.evaluation.metrics import quality_summary
from dermaseg.inference.postprocess import clean_mask
from dermaseg.inference.predictor import Predictor, load_predictor
from dermaseg.inference.quality import FEATURES, QualityModel, quality_features
from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model

# estimated Jaccard = soft Dice of the map with its own mask (weight 1 on the first feature)
SOFT_DICE = QualityModel(mean=(0.0,) * len(FEATURES), std=(1.0,) * len(FEATURES),
                         weights=(1.0,) + (0.0,) * (len(FEATURES) - 1), bias=0.0, size=(64, 96))


def _tiny():
    return create_model("fpn-tiny", input_size=[64, 96]).eval()


def test_cnn_prediction_carries_the_quality_models_estimate_and_its_flag():
    rgb, _ = make_image(64, 96, seed=3)
    p = Predictor(_tiny(), device="cpu", quality=SOFT_DICE)
    p.set_image(rgb)
    pred = p.predict()
    expect = float(quality_features(pred.prob, pred.mask, (64, 96))[0])
    assert pred.quality == pytest.approx(expect, abs=1e-9)
    assert ("predicted-failure" in pred.flags) == (expect < 0.65)
    low = QualityModel(SOFT_DICE.mean, SOFT_DICE.std, (0.0,) * len(FEATURES), bias=0.3, size=(64, 96))
    q = Predictor(_tiny(), device="cpu", quality=low)
    q.set_image(rgb)
    assert q.predict().quality == pytest.approx(0.3) and "predicted-failure" in q.predict().flags
    assert Predictor(_tiny(), device="cpu").predict_batch([rgb])[0].quality is None


def test_mass_rule_and_threshold_are_applied_to_the_probability_map():
    rgb, _ = make_image(64, 96, seed=5)
    for rule in ("area", "mass"):
        p = Predictor(_tiny(), device="cpu", threshold=0.4, postprocess_rule=rule)
        p.set_image(rgb)
        pred = p.predict()
        assert np.array_equal(pred.mask, clean_mask(pred.prob > 0.4, pred.prob, rule))


def test_load_predictor_reads_rule_threshold_and_quality_from_the_model_file(tmp_path):
    net = _tiny()
    net.config.update({"threshold": 0.45, "postprocess_rule": "mass", "quality": SOFT_DICE.to_dict()})
    save_model(net, tmp_path / "m.pt")
    p = load_predictor(str(tmp_path / "m.pt"), device="cpu")
    assert p.threshold == 0.45 and p.postprocess_rule == "mass" and p.quality == SOFT_DICE


def test_quality_summary_hand_values():
    rows = [{"predicted_quality": 0.9, "iou": 0.95}, {"predicted_quality": 0.7, "iou": 0.5},
            {"predicted_quality": 0.5, "iou": 0.6}, {"predicted_quality": 0.8, "iou": 0.85},
            {"predicted_quality": "", "iou": 0.1}]
    s = quality_summary(rows)
    assert s["n"] == 4 and s["true_failures"] == 2 and s["flagged"] == 1 and s["flagged_and_failed"] == 1
    # failures (0.7, 0.5) vs successes (0.9, 0.8) on -quality: 0.5 beats both, 0.7 beats both -> AUROC 1
    assert s["auroc_failure"] == pytest.approx(1.0)
    assert s["spearman"] == pytest.approx(0.8)
    assert s["mean_absolute_error"] == pytest.approx((0.05 + 0.2 + 0.1 + 0.05) / 4)
    assert quality_summary([{"predicted_quality": "", "iou": 1.0}]) is None


def test_evaluate_writes_quality_and_flags_and_the_report_draws_the_calibration(tmp_path):
    from dermaseg.data.readers import load_dataset
    from dermaseg.evaluation.evaluate import evaluate
    from dermaseg.evaluation.outputs import write_evaluation

    write_dataset(tmp_path / "d", layout="folder", n=6, size=(64, 96))
    ds = load_dataset(tmp_path / "d")
    p = Predictor(_tiny(), device="cpu", quality=SOFT_DICE)
    res = evaluate(ds, p, progress=False)
    out = write_evaluation(res, tmp_path / "ev", {"model": {"name": "fpn-tiny"}})
    import csv

    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert all(r["predicted_quality"] != "" for r in rows)
    for r, rr in zip(rows, res.rows, strict=True):
        assert float(r["predicted_quality"]) == pytest.approx(rr["predicted_quality"], abs=1e-5)
        assert r["flag"] == rr["flag"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["predicted_quality"]["n"] == 6
    expect = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in quality_summary(res.rows).items()}
    assert m["predicted_quality"] == pytest.approx(expect)
    assert (out / "figures" / "quality.png").is_file()
    assert "Predicted quality against the truth" in (out / "report.html").read_text()
