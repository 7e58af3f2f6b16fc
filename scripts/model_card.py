"""Regenerate the measured parts of the bundled model's card (MODEL_CARD.md) from the files that hold them.

Usage:
  python scripts/model_card.py --eval RUN_VAL [--ham RUN_HAM] [--card MODEL_CARD.md] [--check]

RUN_VAL is the folder (or metrics.json) of ``dermaseg evaluate --data ISIC2017 --split val --out RUN_VAL`` with
the bundled model; RUN_HAM, optional, that of ``dermaseg evaluate --data HAM10000 --out RUN_HAM``. The rest
comes from the bundle itself (``assets/default_model/config.json``: the model, the pipeline, the training
run's config, the calibration's cross-validation table and out-of-fold quality figures, as
``scripts/bundle_default_model.py`` wrote them; ``model.safetensors``: its size, parameter count and sha256).

The card's prose is written by hand; each measured block sits between ``<!-- card:NAME -->`` and
``<!-- /card -->`` and is replaced whole (blocks: header, validation, quality, cv). Everything outside the
blocks is left as it is. ``--check`` writes nothing and exits 1 when the card differs from what the files say.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from dermaseg.inference.flags import FAILURE_JACCARD

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "src" / "dermaseg" / "assets" / "default_model"

ENCODERS = {"mobilenet_v2": "MobileNetV2", "efficientnet-lite0": "EfficientNet-Lite0",
            "efficientnet-lite1": "EfficientNet-Lite1", "efficientnet-lite2": "EfficientNet-Lite2",
            "resnet18": "ResNet-18", "resnet34": "ResNet-34"}
ARCHS = {"fpn": "FPN", "unet": "U-Net"}
DIAGNOSES = {"melanoma": "melanoma", "nevus": "nevus", "seborrheic_keratosis": "seborrheic keratosis"}
RULES = {"area": "the largest", "mass": "the one of largest probability mass"}
BLOCK = re.compile(r"(<!-- card:(\w+) -->\n)(.*?)(<!-- /card -->)", re.S)


def _metrics(path: Path) -> dict:
    p = path / "metrics.json" if path.is_dir() else path
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {p}: cannot read the evaluation's metrics.json ({e})") from None


def _safetensors_info(path: Path) -> tuple[int, int, str]:
    """(parameters, bytes, sha256) of the weights file, from its header (no torch needed)."""
    from safetensors import safe_open

    from dermaseg.models.weights import sha256_file

    n = 0
    with safe_open(str(path), framework="numpy") as f:
        for k in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
                n += int(np.prod(f.get_slice(k).get_shape()))
    return n, path.stat().st_size, sha256_file(path)


def _pm(d: dict, digits: int = 3) -> str:
    return f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}"


def header(cfg: dict, weights: Path) -> str:
    m = cfg["model"]
    arch, _, enc = m["name"].partition("-")
    n_params, size, sha = _safetensors_info(weights)
    h, w = m["input_size"]
    rule = cfg.get("postprocess_rule", "area")
    pp = (f"post-processing on (one connected component kept, {RULES.get(rule, rule)}, holes filled; rule `{rule}`)"
          if cfg.get("postprocess", True) else "post-processing off")
    encoder = ENCODERS.get(enc, enc)
    article = "an" if encoder[:1].upper() in "AEIOU" else "a"
    return (
        "| | |\n|---|---|\n"
        f"| architecture | {ARCHS.get(arch, arch)} (segmentation-models-pytorch) with {article} {encoder} "
        f"encoder, 1 output channel (lesion logit), {n_params / 1e6:.1f} M parameters |\n"
        f"| input | RGB resized to {h}×{w} (H×W, the 3:4 aspect of dermoscopy images), ImageNet normalisation; "
        "output resized back to the image's own size |\n"
        f"| weights | `model.safetensors`, fp16 ({size / 1e6:.1f} MB), sha256 `{sha}` (checked before every load) |\n"
        f"| automatic pipeline | `auto={cfg.get('auto', 'cnn')}`, threshold {cfg.get('threshold', 0.5)}, {pp}, "
        f"{'flip TTA' if cfg.get('tta') else 'no TTA'}; a predicted quality (estimated Jaccard) per mask, flag "
        f"`predicted-failure` below {FAILURE_JACCARD} |\n")


def validation(val: dict, ham: dict | None) -> str:
    s, pooled = val["summary"]["per_image_mean"], val["summary"]["pooled"]
    thr = val["thresholded_jaccard"]
    lines = [
        "| metric | per-image mean ± std | pooled |", "|---|---|---|",
        f"| Dice | {_pm(s['dice'])} | {pooled['dice']:.3f} |",
        f"| IoU (Jaccard) | {_pm(s['iou'])} | {pooled['iou']:.3f} |",
        f"| thresholded Jaccard (IoU < {thr['threshold']} → 0) | {_pm(s['thresholded_jaccard'])} | — |",
        "| accuracy / precision / recall | " + " / ".join(f"{s[k]['mean']:.3f}" for k in
                                                         ("accuracy", "precision", "recall"))
        + " | " + " / ".join(f"{pooled[k]:.3f}" for k in ("accuracy", "precision", "recall")) + " |",
        f"| HD95 (px) | {_pm(s['hd95'], 1)} | — |", "",
    ]
    per = val.get("per_diagnosis") or {}
    if per:
        parts = [f"{DIAGNOSES.get(k, k.replace('_', ' '))} ({d['n']}) Dice {_pm(d['dice'])}, IoU {_pm(d['iou'])}"
                 for k, d in per.items()]
        lines.append("Per diagnosis, per-image mean ± std: " + "; ".join(parts) + ".")
    if ham is not None:
        hs = ham["summary"]["per_image_mean"]
        lines.append(f"HAM10000 ({ham['summary']['n']} image/mask pairs of the HAM10000 download, not used in "
                     f"training): Dice {hs['dice']['mean']:.3f}, IoU {hs['iou']['mean']:.3f}.")
    return "\n".join(lines) + "\n"


def quality(cfg: dict, val: dict) -> str:
    cal = cfg.get("calibration") or {}
    oof = cal.get("quality_oof") or {}
    q = val.get("predicted_quality") or {}
    if not q:
        raise SystemExit("error: the evaluation has no predicted_quality (was it run with the bundled model?)")

    def f(x):
        return "—" if x is None else f"{x:.3f}"

    rows = ["| | Spearman ρ (predicted vs true Jaccard) | AUROC for Jaccard < "
            f"{q['failure_iou']} | failures |", "|---|---|---|---|"]
    if oof:
        rows.append(f"| CV, out of fold ({cal.get('n_images', 0):,} images; quality model refitted without each "
                    f"fold) | {f(oof.get('spearman_fold_held_out'))} | {f(oof.get('auroc_fold_held_out'))} | "
                    f"{oof.get('failures', '—')} |")
    rows.append(f"| ISIC 2017 validation ({q['n']} images, `dermaseg evaluate`) | {f(q['spearman'])} | "
                f"{f(q['auroc_failure'])} | {q['true_failures']} |")
    flagged, hit, fails = q["flagged"], q["flagged_and_failed"], q["true_failures"]
    prec = f"{hit / flagged:.2f}" if flagged else "—"
    rec = f"{hit / fails:.2f}" if fails else "—"
    rows += ["", f"On validation the mean absolute error of the estimate is {q['mean_absolute_error']:.3f}; "
                 f"{flagged} masks are flagged `predicted-failure`, {hit} of them true failures (precision {prec}, "
                 f"recall {rec} at the {q['failure_iou']} cut)."]
    return "\n".join(rows) + "\n"


def cv(cfg: dict) -> str:
    cal = cfg.get("calibration") or {}
    table = cal.get("cv_table") or []
    if not table:
        return "No cross-validation table in the bundle's config.json.\n"
    cols = {"jaccard": "Jaccard", "dice": "Dice", "thresholded_jaccard": "thr. Jaccard"}
    if all("recall" in r and "precision" in r for r in table):  # calibrations since recall/precision were scored
        cols |= {"recall": "recall", "precision": "precision"}
    keys = list(cols)
    rows = ["| fold | images | " + " | ".join(cols.values()) + " |", "|---|---|" + "---|" * len(keys)]
    for r in table:
        rows.append(f"| {r['fold']} | {r['n']} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    means = {k: (float(np.mean([r[k] for r in table])), float(np.std([r[k] for r in table]))) for k in keys}
    rows.append("| mean ± std over folds | " + str(sum(r["n"] for r in table)) + " | "
                + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in means.values()) + " |")
    recipe = cal.get("cv_recipe") or {}
    weights = {"last.pt": " at their last epoch (`last.pt`)",
               "best.pt": " at their best epoch on the fold's own validation (`best.pt`)"}.get(cal.get("fold_weights"), "")
    what = (f" Fold models: recipe `{recipe.get('name')}`, {recipe.get('epochs')} epochs each{weights}."
            if recipe else "")
    out = ("\n".join(rows) + "\n\nOut-of-fold predictions at threshold "
           f"{cfg.get('threshold', 0.5)}, rule `{cfg.get('postprocess_rule', 'area')}`, each training image "
           f"scored by the fold model that did not train on it (`scripts/calibrate_default.py`; folds "
           f"{', '.join(str(r['fold']) for r in table)}).{what}\n")
    total = cal.get("folds_total")
    if total and len(table) < total:
        out += (f"\n**Partial cross-validation: {len(table)} of its {total} folds had finished** when this bundle was "
                "calibrated; the threshold, the rule and the quality model come from those folds' images only.\n")
    tied = cal.get("tied_with_best")
    if tied:
        ts = sorted({t["threshold"] for t in tied})
        rules = sorted({t["rule"] for t in tied})
        out += (f"\nThe threshold and the rule were chosen on these maps: settings within one paired standard error "
                f"of the best out-of-fold Jaccard are tied (here thresholds {', '.join(f'{t:g}' for t in ts)}, "
                f"rule{'s' if len(rules) > 1 else ''} {' and '.join(f'`{r}`' for r in rules)}), and among them the "
                "one whose recall and precision are closest is kept.\n")
    return out


def render(card: str, blocks: dict[str, str]) -> str:
    seen = set()

    def sub(m: re.Match) -> str:
        name = m.group(2)
        if name not in blocks:
            raise SystemExit(f"error: the card has a block '{name}' this script does not know")
        seen.add(name)
        return m.group(1) + blocks[name] + m.group(4)

    out = BLOCK.sub(sub, card)
    missing = set(blocks) - seen
    if missing:
        raise SystemExit(f"error: the card lacks the block(s) {', '.join(sorted(missing))} "
                         "(<!-- card:NAME --> ... <!-- /card -->)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", type=Path, required=True, help="dermaseg evaluate's RUN (ISIC 2017 val)")
    ap.add_argument("--ham", type=Path, default=None, help="dermaseg evaluate's RUN on HAM10000 (optional)")
    ap.add_argument("--asset", type=Path, default=ASSET, help="the bundled model's folder")
    ap.add_argument("--card", type=Path, default=None, help="default: ASSET/MODEL_CARD.md")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when the card is out of date")
    args = ap.parse_args(argv)
    card_path = args.card or args.asset / "MODEL_CARD.md"
    cfg = json.loads((args.asset / "config.json").read_text())
    val = _metrics(args.eval)
    ham = _metrics(args.ham) if args.ham else None
    blocks = {"header": header(cfg, args.asset / "model.safetensors"), "validation": validation(val, ham),
              "quality": quality(cfg, val), "cv": cv(cfg)}
    old = card_path.read_text()
    new = render(old, blocks)
    if args.check:
        if new != old:
            print(f"{card_path}: out of date (run without --check)", file=sys.stderr)
            return 1
        print(f"{card_path}: up to date")
        return 0
    card_path.write_text(new)
    print(f"{'updated' if new != old else 'unchanged'}: {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
