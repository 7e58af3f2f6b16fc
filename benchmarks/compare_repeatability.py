"""How much does `dermaseg compare` move when nothing changed, and how well does it register?

Each real image (ISIC 2017 validation, 150; ph2_dev, 100) is photographed twice in simulation
(``dermaseg.compare.simulate.reacquire``: rotation, scale 0.8–1.25, translation, crop, illumination,
white balance, JPEG); both views go through ``compare_arrays`` exactly as ``dermaseg compare`` runs
(the bundled model segments both, ``dermaseg.measure`` measures both). Reported:

- the 95 % limits of agreement of every change (``dermaseg.compare.thresholds.limits_of_agreement``),
  over the pairs that were compared (registration ok, lesion whole in view in both views);
- registration accuracy against the known transform: median and 95th-percentile corner error (BEFORE
  pixels), failure rate (``ok`` False), and the rate of ``ok`` registrations more than 2 % of the image
  diagonal off (wrong but trusted);
- unrelated pairs (two different lesions): how often registration wrongly says ``ok``.

``--write-thresholds`` stores the limits, with the bundled model's name and sha256 and the measurement
rules' sha256, in ``src/dermaseg/compare/repeatability.json``, which ``dermaseg compare`` loads.

Resumable: one JSON line per pair in ``--journal``. Run it niced in the background on a shared machine:
``nice -n 10 python benchmarks/compare_repeatability.py --write-thresholds``. About 10 min on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CHANGES = ("area_pct", "diameter_pct", "asymmetry", "border", "dice", "colours_changed")


def _images(data: Path, limit: int | None) -> list[tuple[str, Path, Path]]:
    out = []
    isic = data / "isic2017"
    for p in sorted((isic / "ISIC-2017_Validation_Data").glob("*.jpg")):
        m = isic / "ISIC-2017_Validation_Part1_GroundTruth" / f"{p.stem}_segmentation.png"
        if m.is_file():
            out.append(("isic2017-val", p, m))
    for p in sorted((data / "ph2_dev" / "images").glob("*.jpg")):
        out.append(("ph2_dev", p, data / "ph2_dev" / "masks" / f"{p.stem}_lesion.png"))
    if limit:  # keep both datasets represented
        step = max(1, len(out) // limit)
        out = out[::step][:limit]
    return out


def _pair(predictor, rgb: np.ndarray, seed: int) -> dict:
    from dermaseg.compare.registration import corner_error
    from dermaseg.compare.run import compare_arrays
    from dermaseg.compare.simulate import reacquire

    vb = reacquire(rgb, seed=2 * seed)
    va = reacquire(rgb, seed=2 * seed + 1)
    # true AFTER -> BEFORE: AFTER -> original (va.matrix), then original -> BEFORE (inverse of vb.matrix)
    t = np.linalg.inv(np.vstack([vb.matrix, [0, 0, 1]])) @ np.vstack([va.matrix, [0, 0, 1]])
    t0 = time.perf_counter()
    rec, _ = compare_arrays(vb.image, va.image, predictor=predictor, thresholds={"limits": {}})
    dt = time.perf_counter() - t0
    reg = rec["registration"]
    err = corner_error(np.asarray(reg["transform"])[:2], t[:2], vb.image.shape) if reg["transform"] else None
    ch = rec["change"]
    return {"status": rec["status"], "ok": reg["ok"], "corner_error": err, "seconds": dt,
            "diag": math.hypot(*vb.image.shape[:2]), "quality": reg["quality"],
            **{k: ch.get(k) for k in CHANGES}}


def _unrelated(items, n: int) -> list[dict]:
    from dermaseg.compare.registration import register
    from dermaseg.io import read_image

    out = []
    rng = np.random.default_rng(1)
    for _ in range(n):
        i, j = rng.choice(len(items), 2, replace=False)
        reg = register(read_image(items[i][1]), read_image(items[j][1]))
        out.append({"ok": reg.ok, "inliers": reg.quality.get("inliers"), "ecc": reg.quality.get("ecc")})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=None, help="use N images (both datasets)")
    ap.add_argument("--unrelated", type=int, default=100)
    ap.add_argument("--pairs-per-image", type=int, default=2)
    ap.add_argument("--journal", type=Path, default=Path("/tmp/compare_repeatability.jsonl"))
    ap.add_argument("--out", type=Path, default=None, help="summary JSON (default: print only)")
    ap.add_argument("--write-thresholds", action="store_true")
    args = ap.parse_args(argv)
    from dermaseg.compare.thresholds import THRESHOLDS_FILE, limits_of_agreement, measure_rules_sha256
    from dermaseg.inference.predictor import load_predictor
    from dermaseg.io import read_image
    from dermaseg.models.default import DEFAULT_SHA256

    items = _images(args.data, args.limit)
    if not items:
        print(f"no images under {args.data}", file=sys.stderr)
        return 1
    done = {}
    if args.journal.is_file():
        for line in args.journal.read_text().splitlines():
            r = json.loads(line)
            done[(r["image"], r["rep"])] = r
    predictor = load_predictor("default")
    t0 = time.perf_counter()
    with args.journal.open("a") as jf:
        jobs = [(k, rep, ds, img) for rep in range(args.pairs_per_image) for k, (ds, img, _) in enumerate(items)]
        for n, (k, rep, ds, img) in enumerate(jobs):
            if (str(img), rep) in done:
                continue
            r = {"image": str(img), "rep": rep, "dataset": ds,
                 **_pair(predictor, read_image(img), k + rep * len(items))}
            jf.write(json.dumps(r) + "\n")
            jf.flush()
            done[(str(img), rep)] = r
            if n % 25 == 0:
                print(f"{n + 1}/{len(jobs)} pairs, {time.perf_counter() - t0:.0f} s", flush=True)
    rows = [done[(str(img), rep)] for _, rep, _, img in jobs]
    unrelated = _unrelated(items, args.unrelated)
    summary = _summarise(rows, unrelated, limits_of_agreement)
    summary.update({"model": {"name": "default", "sha256": DEFAULT_SHA256}, "measure_sha256": measure_rules_sha256(),
                    "source": "benchmarks/compare_repeatability.py", "measured": time.strftime("%Y-%m-%d"),
                    "machine": "shared CPU (2 cores, 8 users): seconds are not speed figures",
                    "simulation": "dermaseg.compare.simulate.reacquire, both visits re-acquired, seed = index"})
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.write_thresholds:
        from dermaseg.io import write_text

        write_text(THRESHOLDS_FILE, text + "\n")
        print(f"wrote {THRESHOLDS_FILE}")
    return 0


def _summarise(rows: list[dict], unrelated: list[dict], loa) -> dict:
    ok = [r for r in rows if r["ok"]]
    comp = [r for r in rows if r["status"] == "compared"]
    errs = np.asarray([r["corner_error"] for r in ok], float)
    wrong = [r for r in ok if r["corner_error"] > 0.02 * r["diag"]]
    limits = {k: loa([r[k] for r in comp], "two-sided") for k in ("area_pct", "diameter_pct", "asymmetry", "border")}
    limits["dice"] = loa([r["dice"] for r in comp], "lower")
    limits["colours"] = loa([r["colours_changed"] for r in comp], "upper")
    by_ds = {}
    for ds in sorted({r["dataset"] for r in rows}):
        sub = [r for r in rows if r["dataset"] == ds]
        e = [r["corner_error"] for r in sub if r["ok"]]
        by_ds[ds] = {"pairs": len(sub), "registration_failed": sum(not r["ok"] for r in sub),
                     "compared": sum(r["status"] == "compared" for r in sub),
                     "corner_error_median_px": round(float(np.median(e)), 3) if e else None,
                     "corner_error_p95_px": round(float(np.percentile(e, 95)), 3) if e else None}
    return {
        "pairs": len(rows), "compared": len(comp),
        "status_counts": {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})},
        "limits": limits,
        "registration": {
            "failure_rate": round(1 - len(ok) / len(rows), 4),
            "corner_error_median_px": round(float(np.median(errs)), 3) if errs.size else None,
            "corner_error_p95_px": round(float(np.percentile(errs, 95)), 3) if errs.size else None,
            "ok_but_off_by_over_2pct_of_diagonal": len(wrong),
            "unrelated_pairs": len(unrelated), "unrelated_wrongly_ok": sum(u["ok"] for u in unrelated),
        },
        "by_dataset": by_ds,
        "unchanged_flagged_rate_in_sample": _flag_rate(comp, limits),
    }


def _flag_rate(comp: list[dict], limits: dict) -> float | None:
    """Share of the compared (unchanged) pairs the limits would flag (any measurement outside: the
    union of six 95 % limits, so above 5 %), in sample."""
    from dermaseg.compare.change import exceeded_limits

    if not comp:
        return None
    return round(sum(bool(exceeded_limits(r, {"limits": limits})) for r in comp) / len(comp), 4)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
