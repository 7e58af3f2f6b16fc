"""How far the bundled model's masks move the lesion measurements, and what measuring costs next to
segmenting, on ISIC 2017 validation (150 images; synthetic images when ../shared/data is absent).

For each image: ``Predictor.set_image`` + ``predict`` with the bundled ``default`` model (timed), then
``dermaseg.measure.measure`` of the predicted mask and of the true mask, both with the image (timed).
Prints ``dermaseg.measure.agreement`` (area and diameter error, asymmetry correlation, colour-set
agreement, Bland–Altman of the diameter), how the A/B/C scores of the two masks compare, and the time
per image of ``measure`` against the segmentation's in the same run (a ratio). These images have no
known pixel size: everything is in pixels or relative.

Run by hand: ``python benchmarks/bench_measure.py [--n 150] [--threads 2] [--figures DIR]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017"


def _samples(n: int):
    """(id, rgb, truth mask) of up to n ISIC 2017 validation images, else synthetic ones."""
    from dermaseg.io import read_image, read_mask

    if DATA.is_dir():
        from dermaseg.data.readers import load_dataset

        ds = load_dataset(DATA).select("val")
        for s in ds.samples[:n]:
            yield s.id, read_image(s.image), read_mask(s.mask)
        return
    from dermaseg.data.synthetic import make_image

    print(f"({DATA} not found: synthetic images)")
    for i in range(n):
        rgb, m = make_image(192, 256, seed=i)
        yield f"synthetic_{i}", rgb, m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--figures", type=Path, default=None, help="Write the Bland-Altman and asymmetry figures here.")
    args = ap.parse_args()
    import torch

    from dermaseg.inference.predictor import load_predictor
    from dermaseg.measure import agreement, measure

    torch.set_num_threads(args.threads)
    predictor = load_predictor("default", device="cpu")
    pred_recs, truth_recs, t_seg, t_meas = [], [], [], []
    first = True
    for _sid, rgb, truth in _samples(args.n):
        if first:  # warm-up, not timed: first forward and first measure (imports, allocations)
            predictor.set_image(rgb)
            measure(predictor.predict().mask, rgb)
            first = False
        t0 = time.perf_counter()
        predictor.set_image(rgb)
        pred = predictor.predict()
        t1 = time.perf_counter()
        rp = measure(pred.mask, rgb)
        t2 = time.perf_counter()
        rt = measure(truth, rgb)
        t3 = time.perf_counter()
        t_seg.append(t1 - t0)
        t_meas += [t2 - t1, t3 - t2]
        pred_recs.append(rp)
        truth_recs.append(rt)
    ag = agreement(pred_recs, truth_recs)
    n = ag["n"]
    import os

    print(f"images: {n}   model: default (automatic, no prompt)   torch threads: {args.threads}   "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    a, d = ag["area_px"], ag["diameter_px"]
    print(f"area      MAE {a['mae']:.1f} px   relative error mean {a['mre']:.1%}, median {a['median_re']:.1%}   "
          f"bias {a['bias']:+.1f} px")
    print(f"diameter  MAE {d['mae']:.2f} px   relative error mean {d['mre']:.1%}, median {d['median_re']:.1%}   "
          f"Bland-Altman bias {d['bias']:+.2f} px, 95 % limits {d['loa_low']:+.2f} / {d['loa_high']:+.2f} px")
    s = ag["asymmetry"]
    print(f"asymmetry Pearson r {s['pearson']:.3f}   Spearman rho {s['spearman']:.3f}   MAE {s['mae']:.4f}   "
          f"A score (0-2) identical in {ag['asymmetry_axes']['agreement']:.1%}")
    c = ag["colours"]
    print(f"colours   mean Jaccard {c['mean_jaccard']:.3f}   identical sets {c['identical']:.1%}   "
          f"n_colours MAE {c['n_colours_mae']:.3f}")
    for key, name in (("compactness", "compactness"), ("border_score", "B score (0-8)"),
                      ("n_colours", "C score (n_colours)")):
        pv = np.array([r[key] for r in pred_recs if r[key] is not None], float)
        tv = np.array([r[key] for r in truth_recs if r[key] is not None], float)
        print(f"{name:20s} mean predicted {pv.mean():.3f}   mean true {tv.mean():.3f}")
    bp = np.array([r["border_score"] for r in pred_recs], float)
    bt = np.array([r["border_score"] for r in truth_recs], float)
    print(f"B score identical in {(bp == bt).mean():.1%}, within 1 in {(np.abs(bp - bt) <= 1).mean():.1%}")
    seg, mea = float(np.mean(t_seg)), float(np.mean(t_meas))
    print(f"time per image: segmentation {seg * 1e3:.1f} ms, measure {mea * 1e3:.2f} ms "
          f"(median {np.median(t_meas) * 1e3:.2f}, max {np.max(t_meas) * 1e3:.1f}); "
          f"measure / segmentation = {mea / seg:.3f}")
    if args.figures is not None:
        from dermaseg.report.measure_figures import asymmetry_scatter, bland_altman_diameter

        for f in (bland_altman_diameter(pred_recs, truth_recs, args.figures / "bland_altman_diameter.png"),
                  asymmetry_scatter(pred_recs, truth_recs, args.figures / "asymmetry_scatter.png")):
            print(f"wrote {f}")
        (args.figures / "agreement.json").write_text(json.dumps(ag, indent=1))


if __name__ == "__main__":
    main()
