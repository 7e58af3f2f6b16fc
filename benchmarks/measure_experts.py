"""Lesion measurements against PH2's dermatologists (ph2_dev: 100 images with the experts' colours and
asymmetry), cross-validated, on the truth masks and on the bundled model's masks.

For each image: the truth mask, and the ``default`` model's automatic mask (``Predictor.set_image`` +
``predict``, timed), are measured with :func:`dermaseg.measure.measure` (timed) without and with the
Shades of Gray colour-constancy step. The per-image outputs (shares of the six colours and skin, shape
and colour-distribution asymmetry about both axes) go to ``OUT/table_<masks>_<constancy>.csv``; then
:func:`dermaseg.measure.calibrate.cross_validate` (5 folds stratified by diagnosis, seed 0; PH2 has one
image per lesion, so the folds are lesion-grouped) fits each fold's per-colour minimum shares and the
asymmetry weight and cut points on the other folds and scores the fold. Printed: every fold's figures
and the pooled out-of-fold figures, the version-1 rule (5 % for every colour, shape-only A score) as
the baseline, the shape-only grade, a blue-whitish-veil detector (blue-grey share, CV threshold), and
measure's time per image next to segmentation's (a ratio, the machine shared). ``OUT/figures.json``
holds everything; ``--write-rules`` refits the shipped ``rules.json`` on all 100 images with the
constancy that cross-validated better.

Run by hand: ``python benchmarks/measure_experts.py --out /tmp/mx [--pred-masks DIR] [--threads 2]``
(``--pred-masks``: reuse the masks ``dermaseg segment`` wrote from these images, e.g. on a slow machine).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ph2_dev"
TABLE_COLUMNS = ("image", "share_white", "share_red", "share_light_brown", "share_dark_brown", "share_blue_grey",
                 "share_black", "share_skin", "asymmetry", "asymmetry_axes", "asymmetry_major", "asymmetry_minor",
                 "colour_dist_asymmetry_major", "colour_dist_asymmetry_minor")


def _row(sid: str, rec: dict) -> dict:
    return {"image": sid, **{k: rec[k] for k in TABLE_COLUMNS[1:]}}


def write_table(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(TABLE_COLUMNS), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else (f"{v:.6f}" if isinstance(v, float) else v)) for k, v in r.items()})


def read_table(path: Path) -> list[dict]:
    """A table written by :func:`write_table` (numbers as floats, ``None`` for empty cells)."""
    with open(path, newline="") as f:
        return [{k: (v if k == "image" else (float(v) if v != "" else None)) for k, v in r.items()}
                for r in csv.DictReader(f)]


def _v1_figures(rows: list[dict], experts: dict) -> dict:
    from dermaseg.measure.calibrate import SHARE_COLUMNS, asymmetry_figures, colour_figures
    from dermaseg.measure.colour import COLOUR_NAMES, MIN_SHARE

    shares = np.array([[float(r[c]) for c in SHARE_COLUMNS] for r in rows])
    present = np.array([[n in experts[r["image"]]["colours"] for n in COLOUR_NAMES] for r in rows])
    asym = np.array([experts[r["image"]]["asymmetry"] for r in rows])
    axes = np.array([int(r["asymmetry_axes"]) for r in rows])
    mean = np.array([float(r["asymmetry"]) for r in rows])
    return {"colours": colour_figures(present, shares >= MIN_SHARE), "asymmetry": asymmetry_figures(asym, mean, axes)}


def _veil(rows: list[dict], experts: dict) -> dict:
    """Blue-whitish veil present when the blue-grey share exceeds a CV-chosen threshold."""
    from dermaseg.measure.calibrate import _best_threshold, balanced_accuracy, folds

    ids = [r["image"] for r in rows]
    s = np.array([float(r["share_blue_grey"]) for r in rows])
    y = np.array([experts[i]["blue_whitish_veil"] for i in ids])
    pred = np.zeros(len(ids), bool)
    per = []
    for te in folds([experts[i]["diagnosis"] for i in ids]):
        tr = np.setdiff1d(np.arange(len(ids)), te)
        t = _best_threshold(s[tr], y[tr])
        pred[te] = s[te] > t
        per.append({"threshold": t, "balanced_accuracy": balanced_accuracy(y[te], pred[te])})
    se = float((pred & y).sum() / y.sum())
    sp = float((~pred & ~y).sum() / (~y).sum())
    return {"positives": int(y.sum()), "sensitivity": se, "specificity": sp, "balanced_accuracy": (se + sp) / 2,
            "folds": per, "threshold_all": _best_threshold(s, y)}


def _print_cv(name: str, cv: dict) -> None:
    from dermaseg.measure.colour import COLOUR_NAMES

    print(f"\n== {name}")
    for f in cv["folds"]:
        c, a = f["colours"], f["asymmetry"]
        print(f"  fold {f['fold']} (n={f['n']}): mean BA {c['mean_balanced_accuracy']:.3f}  "
              + " ".join(f"{n[:6]} {c[n]['balanced_accuracy'] or float('nan'):.2f}" for n in COLOUR_NAMES)
              + f" | asym rho {a['spearman_score'] or float('nan'):.3f} kappa {a['weighted_kappa'] or float('nan'):.3f}"
              f" w={f['asymmetry_params']['colour_weight']}")
    c, a = cv["pooled"]["colours"], cv["pooled"]["asymmetry"]
    for n in COLOUR_NAMES:
        v = c[n]
        print(f"  {n:12s} positives {v['positives']:3d}  sensitivity {v['sensitivity']:.3f}  specificity "
              f"{v['specificity']:.3f}  balanced accuracy {v['balanced_accuracy']:.3f}")
    print(f"  mean balanced accuracy over six colours: {c['mean_balanced_accuracy']:.3f}")
    print(f"  asymmetry: Spearman(score) {a['spearman_score']:.3f}  Spearman(grade) {a['spearman_grade']:.3f}  "
          f"weighted kappa {a['weighted_kappa']:.3f}  exact {a['exact_agreement']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pred-masks", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-rules", action="store_true")
    ap.add_argument("--tables", type=Path, default=None,
                    help="Reuse the per-image tables a previous run wrote in this folder (no measuring, no timing).")
    args = ap.parse_args()
    from dermaseg.io import read_image, read_mask
    from dermaseg.measure import measure
    from dermaseg.measure.calibrate import cross_validate, fit_all, read_experts

    experts = read_experts(args.data / "metadata.csv")
    args.out.mkdir(parents=True, exist_ok=True)
    predictor = None
    tables: dict[str, list[dict]] = {f"{m}_{c}": [] for m in ("truth", "model") for c in ("none", "sog")}
    t_seg, t_meas = [], []
    if args.tables is not None:
        for name in tables:
            tables[name] = read_table(args.tables / f"table_{name}.csv")
    elif args.pred_masks is None:
        import torch

        from dermaseg.inference.predictor import load_predictor

        torch.set_num_threads(args.threads)
        predictor = load_predictor("default", device="cpu")
    for sid in ([] if args.tables is not None else sorted(experts)):
        rgb = read_image(args.data / "images" / f"{sid}.jpg")
        truth = read_mask(args.data / "masks" / f"{sid}_lesion.png")
        if predictor is not None:
            t0 = time.perf_counter()
            predictor.set_image(rgb)
            model = predictor.predict().mask
            t_seg.append(time.perf_counter() - t0)
        else:
            model = read_mask(args.pred_masks / f"{sid}_mask.png")
        for mname, m in (("truth", truth), ("model", model)):
            for cname, cc in (("none", "none"), ("sog", "shades_of_gray")):
                t0 = time.perf_counter()
                rec = measure(m, rgb, constancy=cc)
                t_meas.append(time.perf_counter() - t0)
                tables[f"{mname}_{cname}"].append(_row(sid, rec))
    figures: dict = {"n": len(experts), "conditions": {}}
    for name, rows in tables.items():
        if args.tables is None:
            write_table(args.out / f"table_{name}.csv", rows)
        cv = cross_validate(rows, experts)
        cv.pop("out_of_fold")
        shape_only = cross_validate(rows, experts, weights=(0.0,))["pooled"]["asymmetry"]
        figures["conditions"][name] = {"cv": cv, "shape_only_cv": shape_only, "v1": _v1_figures(rows, experts),
                                       "veil": _veil(rows, experts)}
        _print_cv(f"{name} masks/constancy (cross-validated, 5 folds)", cv)
        v1 = figures["conditions"][name]["v1"]
        print(f"  shape-only grade (CV): Spearman(score) {shape_only['spearman_score']:.3f}  kappa "
              f"{shape_only['weighted_kappa']:.3f}")
        print(f"  version-1 rule: mean BA {v1['colours']['mean_balanced_accuracy']:.3f}; A score Spearman "
              f"{v1['asymmetry']['spearman_grade']:.3f} kappa {v1['asymmetry']['weighted_kappa']:.3f}")
        vv = figures["conditions"][name]["veil"]
        print(f"  blue-whitish veil (blue-grey share > CV threshold): sens {vv['sensitivity']:.3f} spec "
              f"{vv['specificity']:.3f} BA {vv['balanced_accuracy']:.3f} ({vv['positives']} positives)")
    mea = float(np.mean(t_meas)) if t_meas else float("nan")
    figures["time"] = {"measure_s": mea, "segment_s": float(np.mean(t_seg)) if t_seg else None}
    if t_seg:
        print(f"\ntime per image: segmentation {np.mean(t_seg) * 1e3:.0f} ms, measure {mea * 1e3:.0f} ms; "
              f"measure / segmentation = {mea / np.mean(t_seg):.3f} (shared machine)")
    else:
        print(f"\ntime per image: measure {mea * 1e3:.0f} ms (segmentation not timed: --pred-masks)")
    (args.out / "figures.json").write_text(json.dumps(figures, indent=1))
    if args.write_rules:
        from dermaseg.measure.rules import RULES_PATH

        def merit(c: str) -> float:  # colours and asymmetry, cross-validated, on the truth masks
            pooled = figures["conditions"][f"truth_{c}"]["cv"]["pooled"]
            return pooled["colours"]["mean_balanced_accuracy"] + pooled["asymmetry"]["spearman_score"]

        best = max(("none", "sog"), key=merit)
        fit = fit_all(tables[f"truth_{best}"], experts)
        rules = json.loads(RULES_PATH.read_text())
        rules["colour"]["constancy"] = "none" if best == "none" else "shades_of_gray"
        rules["colour"]["min_share"] = {k: round(v, 6) for k, v in fit["min_share"].items()}
        rules["asymmetry"] = {"colour_weight": fit["asymmetry"]["colour_weight"],
                              "cuts": [round(c, 6) for c in fit["asymmetry"]["cuts"]]}
        RULES_PATH.write_text(json.dumps(rules, indent=2) + "\n")
        print(f"wrote {RULES_PATH}: {json.dumps(rules)}")


if __name__ == "__main__":
    main()
