"""render_report from saved files only (no model): evaluation folders, training folders, the CLI."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dermaseg.errors import DermasegError
from dermaseg.io import write_png
from dermaseg.report.html import render_report

ROWS = [  # id, label, dice, iou, accuracy
    ("A1", "melanoma", 0.95, 0.905, 0.99), ("A2", "melanoma", 0.55, 0.38, 0.90),
    ("B1", "nevus", 0.80, 0.667, 0.97), ("B2", "nevus", 0.90, 0.818, 0.98), ("B3", "nevus", 0.0, 0.0, 0.85),
]


def _metrics_doc() -> dict:
    # deliberately NOT the mean of per_image.csv: the report must print what metrics.json says
    return {
        "dermaseg_version": "0.1.0", "date": "2026-01-01T00:00:00+00:00",
        "model": {"name": "fixture-model", "postprocess": True},
        "dataset": {"format": "isic2017", "root": "/data/isic2017", "split": "val", "count": 5},
        "prompt": {"mode": "box", "source": "ground truth (SkinSAM jitter)"},
        "resolution": {"scored_at": "original (each image's own height x width; no resizing)",
                       "height": {"min": 30, "max": 30}, "width": {"min": 40, "max": 40}},
        "seed": 0,
        "summary": {"n": 5,
                    "per_image_mean": {"dice": {"mean": 0.6123, "std": 0.1111},
                                       "iou": {"mean": 0.5432, "std": 0.2222},
                                       "thresholded_jaccard": {"mean": 0.4321, "std": 0.3333},
                                       "hd95": {"mean": 7.25, "std": 1.5}},
                    "pooled": {"dice": 0.7777, "iou": 0.6363, "tp": 900, "fp": 100, "fn": 300, "tn": 4700}},
        "per_diagnosis": {"melanoma": {"n": 2, "dice": {"mean": 0.75, "std": 0.2, "n": 2}},
                          "nevus": {"n": 3, "dice": {"mean": 0.5667, "std": 0.4028, "n": 3}}},
        "empty_mask_rule": "documented",
        "timing": {"seconds_per_image": 0.125, "images_per_second": 8.0, "device": "cpu", "threads": 2},
    }


def _write_eval_run(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "metrics.json").write_text(json.dumps(_metrics_doc()))
    with (d / "per_image.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "dice", "iou", "accuracy"])
        w.writerows(ROWS)
    cases = d / "cases"
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, 40, dtype=np.uint8)[None]  # left-right ramp: orientation visible
    truth = np.zeros((30, 40), bool)
    truth[5:20, 8:30] = True
    pred = np.zeros((30, 40), bool)
    pred[8:22, 10:34] = True
    write_png(cases / "c0_image.png", rgb)
    write_png(cases / "c0_truth.png", truth)
    write_png(cases / "c0_pred.png", pred)
    entries = [{"role": r, "id": "A1", "label": "melanoma", "dice": 0.95, "iou": 0.905, "display_scale": 1.0,
                "prompt": {"box": [7, 4, 31, 21], "points": None, "point_labels": None},
                "files": {"image": "c0_image.png", "truth": "c0_truth.png", "pred": "c0_pred.png"}}
               for r in ("best", "median", "worst")]
    (cases / "cases.json").write_text(json.dumps({"note": "fixture", "cases": entries}))
    return d


def _write_training_files(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    with (d / "history.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train_loss", "val_loss", "val_dice", "val_iou", "lr", "seconds"])
        for e in range(1, 6):
            w.writerow([e, 1 / e, 1.2 / e, 0.5 + e / 20, 0.4 + e / 20, 1e-3, 10.0])
    (d / "cv_table.csv").write_text("fold,n_val,dice,iou\n0,20,0.8811,0.7911\n1,20,0.8622,0.7722\n")
    (d / "sweep_table.csv").write_text("loss,optimizer,lr,dice_mean,dice_std\n"
                                       "dice,adam,0.001,0.8533,0.0121\nbce,sgd,0.01,0.8011,0.0202\n")


def _assert_self_contained(html: str) -> None:
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)
    assert "<style>" in html


def test_evaluation_report_prints_the_saved_numbers(tmp_path):
    run = _write_eval_run(tmp_path / "run")
    path = render_report(run)
    assert path == run / "report.html"
    html = path.read_text()
    _assert_self_contained(html)
    for text in ("0.6123 ± 0.1111", "0.7777", "0.4321 ± 0.3333", "7.2500 ± 1.5000",
                 "ground truth (SkinSAM jitter)", "original (each image", "0.7500 ± 0.2000",
                 "0.5667 ± 0.4028", "fixture-model"):
        assert text in html, text
    assert "variance" not in html.replace("prints a variance", "") and "(0.0400)" not in html
    figs = sorted(p.name for p in (run / "figures").iterdir())
    assert figs == ["cases.png", "confusion.png", "contours.png", "histograms.png",
                    "histograms_by_diagnosis.png"]
    assert html.count("data:image/png;base64,") == len(figs)
    assert "Training curves" not in html and "Cross-validation" not in html


def test_training_run_report_has_curves_and_tables(tmp_path):
    d = tmp_path / "train"
    _write_training_files(d)
    html = render_report(d).read_text()
    _assert_self_contained(html)
    assert "Training curves" in html and (d / "figures" / "training.png").is_file()
    assert "0.8811" in html and "0.7722" in html  # CV fold table
    assert "<td class='l'>0</td><td>20</td>" in html  # integers stay integers
    assert "Hyper-parameter sweep" in html and "0.8533" in html and "sgd" in html and ">0.001<" in html
    assert "Validation of the best checkpoint" not in html


def test_training_run_validation_summary(tmp_path):
    from dermaseg.evaluation.metrics import image_metrics, summarize

    d = tmp_path / "train"
    _write_training_files(d)
    t = np.zeros((10, 10), bool)
    t[2:6, 2:6] = True
    rows = [dict(image_metrics(np.roll(t, k, 0), t), id=f"i{k}", label="nevus") for k in range(3)]
    (d / "val_metrics.json").write_text(json.dumps({"threshold": 0.5, "resolution": "each image's own",
                                                     **summarize(rows)}))
    with (d / "val_per_image.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    html = render_report(d).read_text()
    s = summarize(rows)
    assert "Validation of the best checkpoint" in html
    pm = s["per_image_mean"]["dice"]
    assert f"{pm['mean']:.4f} ± {pm['std']:.4f}" in html and f"{s['pooled']['dice']:.4f}" in html
    assert (d / "figures" / "histograms.png").is_file() and (d / "figures" / "confusion.png").is_file()


def test_evaluation_inside_training_run_gets_everything(tmp_path):
    d = _write_eval_run(tmp_path / "both")
    _write_training_files(d)
    html = render_report(d).read_text()
    assert "Summary" in html and "Training curves" in html and "Cross-validation" in html


def test_nothing_to_report_is_a_one_line_error(tmp_path):
    with pytest.raises(DermasegError, match="nothing to report"):
        render_report(tmp_path)
    with pytest.raises(DermasegError, match="no such run folder"):
        render_report(tmp_path / "absent")


def test_cli_report_rerenders(tmp_path, capsys):
    from dermaseg.cli import main

    run = _write_eval_run(tmp_path / "run")
    with pytest.raises(SystemExit) as e:
        main(["report", str(run)])
    assert e.value.code == 0
    assert "report.html" in capsys.readouterr().out
    first = (run / "report.html").read_text()
    assert "0.6123 ± 0.1111" in first
