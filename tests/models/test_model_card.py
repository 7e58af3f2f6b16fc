"""scripts/model_card.py: the card's measured blocks come from the files that hold them, the hand-written prose
around them is kept, and the committed card's bundle-only blocks (header, CV table) match the bundle."""

from __future__ import annotations

import json
import shutil

import pytest

from dermaseg.models.default import ASSET_DIR, DEFAULT_SHA256
from tests.scripts import load_script


def _script():
    return load_script("model_card")


def _block(card: str, name: str) -> str:
    return card.split(f"<!-- card:{name} -->\n", 1)[1].split("<!-- /card -->", 1)[0]


def _metric(mean, std):
    return {"mean": mean, "std": std, "n": 4}


VAL = {
    "summary": {"n": 4, "per_image_mean": {
        "dice": _metric(0.8, 0.1), "iou": _metric(0.7, 0.15), "thresholded_jaccard": _metric(0.5, 0.35),
        "accuracy": _metric(0.9, 0.01), "precision": _metric(0.85, 0.1), "recall": _metric(0.75, 0.2),
        "hd95": _metric(12.34, 5.67)},
        "pooled": {"dice": 0.81, "iou": 0.68, "accuracy": 0.91, "precision": 0.86, "recall": 0.76}},
    "thresholded_jaccard": {"threshold": 0.65},
    "predicted_quality": {"n": 4, "spearman": 0.6, "auroc_failure": 0.75, "failure_iou": 0.65,
                          "mean_absolute_error": 0.1234, "true_failures": 2, "flagged": 3, "flagged_and_failed": 1},
    "per_diagnosis": {"melanoma": {"n": 1, "dice": {"mean": 0.9, "std": 0.0}, "iou": {"mean": 0.81, "std": 0.0}},
                      "seborrheic_keratosis": {"n": 3, "dice": {"mean": 0.7667, "std": 0.05},
                                               "iou": {"mean": 0.6333, "std": 0.06}}},
}


def test_the_committed_card_matches_the_bundle():
    mc = _script()
    cfg = json.loads((ASSET_DIR / "config.json").read_text())
    card = (ASSET_DIR / "MODEL_CARD.md").read_text()
    assert _block(card, "header") == mc.header(cfg, ASSET_DIR / "model.safetensors")
    assert DEFAULT_SHA256 in _block(card, "header")
    assert _block(card, "cv") == mc.cv(cfg)


def test_parameter_count_is_the_models():
    from dermaseg.models.registry import create_model

    n, size, sha = _script()._safetensors_info(ASSET_DIR / "model.safetensors")
    model = create_model("default")
    assert n == sum(p.numel() for p in model.parameters())
    assert sha == DEFAULT_SHA256 and size == (ASSET_DIR / "model.safetensors").stat().st_size


def test_blocks_are_rendered_from_the_files_and_the_prose_is_kept(tmp_path, capsys):
    mc = _script()
    asset = tmp_path / "asset"
    asset.mkdir()
    shutil.copy(ASSET_DIR / "model.safetensors", asset / "model.safetensors")
    cfg = json.loads((ASSET_DIR / "config.json").read_text())
    cfg.update(threshold=0.45, postprocess_rule="mass", tta=True)
    cfg["calibration"] = {"n_images": 8, "quality_oof": {"spearman_fold_held_out": 0.5, "auroc_fold_held_out": None,
                                                         "failures": 3},
                          "cv_table": [{"fold": 0, "n": 4, "jaccard": 0.8, "dice": 0.88, "thresholded_jaccard": 0.7},
                                       {"fold": 1, "n": 4, "jaccard": 0.6, "dice": 0.74, "thresholded_jaccard": 0.3}],
                          "cv_recipe": {"name": "candidate-lite0", "epochs": 24}}
    (asset / "config.json").write_text(json.dumps(cfg))
    prose = "# card\n\nHand-written words.\n\n"
    card = asset / "MODEL_CARD.md"
    card.write_text(prose + "".join(f"<!-- card:{b} -->\nold {b}\n<!-- /card -->\nmore prose {b}\n"
                                    for b in ("header", "validation", "quality", "cv")))
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(VAL))
    assert mc.main(["--eval", str(run), "--asset", str(asset), "--check"]) == 1
    assert mc.main(["--eval", str(run), "--asset", str(asset)]) == 0
    assert mc.main(["--eval", str(run), "--asset", str(asset), "--check"]) == 0
    text = card.read_text()
    assert text.startswith(prose) and all(f"more prose {b}\n" in text for b in ("header", "validation", "cv"))
    assert not any(f"old {b}" in text for b in ("header", "validation", "quality", "cv"))
    head = _block(text, "header")
    assert "threshold 0.45" in head and "rule `mass`" in head and "the one of largest probability mass" in head
    enc = mc.ENCODERS[cfg["model"]["name"].partition("-")[2]]  # the bundled model's encoder, named as the card does
    assert "flip TTA" in head and f"with {'an' if enc[0] in 'AEIOU' else 'a'} {enc} encoder" in head
    val = _block(text, "validation")
    assert "| Dice | 0.800 ± 0.100 | 0.810 |" in val and "| HD95 (px) | 12.3 ± 5.7 | — |" in val
    assert "| accuracy / precision / recall | 0.900 / 0.850 / 0.750 | 0.910 / 0.860 / 0.760 |" in val
    assert "melanoma (1) Dice 0.900 ± 0.000" in val and "seborrheic keratosis (3) Dice 0.767 ± 0.050" in val
    assert "HAM10000" not in val  # no --ham given
    q = _block(text, "quality")
    assert "| CV, out of fold (8 images; quality model refitted without each fold) | 0.500 | — | 3 |" in q
    assert "| ISIC 2017 validation (4 images, `dermaseg evaluate`) | 0.600 | 0.750 | 2 |" in q
    assert "error of the estimate is 0.123; 3 masks are flagged" in q and "(precision 0.33, recall 0.50" in q
    c = _block(text, "cv")
    assert "| 1 | 4 | 0.6000 | 0.7400 | 0.3000 |" in c
    assert "| mean ± std over folds | 8 | 0.7000 ± 0.1000 | 0.8100 ± 0.0700 | 0.5000 ± 0.2000 |" in c
    assert "recipe `candidate-lite0`, 24 epochs each" in c
    # a card without one of the blocks, or an evaluation without predicted quality: one line, nothing written
    card.write_text(prose)
    with pytest.raises(SystemExit, match="lacks the block"):
        mc.main(["--eval", str(run), "--asset", str(asset)])
    assert card.read_text() == prose
    (run / "metrics.json").write_text(json.dumps({**VAL, "predicted_quality": None}))
    with pytest.raises(SystemExit, match="no predicted_quality"):
        mc.main(["--eval", str(run), "--asset", str(asset)])


def test_cv_block_of_a_calibration_with_recall_precision_and_ties():
    cfg = {"threshold": 0.35, "postprocess_rule": "area", "calibration": {
        "cv_table": [{"fold": 0, "n": 400, "jaccard": 0.84, "dice": 0.9, "thresholded_jaccard": 0.81,
                      "recall": 0.92, "precision": 0.90},
                     {"fold": 1, "n": 400, "jaccard": 0.82, "dice": 0.88, "thresholded_jaccard": 0.79,
                      "recall": 0.90, "precision": 0.94}],
        "cv_recipe": {"name": "candidate-lite0", "epochs": 24}, "fold_weights": "last.pt",
        "tied_with_best": [{"rule": "area", "threshold": 0.35}, {"rule": "area", "threshold": 0.4},
                           {"rule": "mass", "threshold": 0.35}]}}
    c = _script().cv(cfg)
    assert "| fold | images | Jaccard | Dice | thr. Jaccard | recall | precision |" in c
    assert "| 1 | 400 | 0.8200 | 0.8800 | 0.7900 | 0.9000 | 0.9400 |" in c
    assert "| mean ± std over folds | 800 | 0.8300 ± 0.0100 | 0.8900 ± 0.0100 | 0.8000 ± 0.0100 | " \
           "0.9100 ± 0.0100 | 0.9200 ± 0.0200 |" in c
    assert "at threshold 0.35, rule `area`" in c and "24 epochs each at their last epoch (`last.pt`)" in c
    assert "(here thresholds 0.35, 0.4, rules `area` and `mass`)" in c
    assert "Partial cross-validation" not in c  # no folds_total: an older calibration, said nothing about it
    cfg["calibration"]["folds_total"] = 5
    assert "**Partial cross-validation: 2 of its 5 folds had finished**" in _script().cv(cfg)
    cfg["calibration"]["folds_total"] = 2
    assert "Partial cross-validation" not in _script().cv(cfg)
