"""The whole ``dermaseg segment`` command against today's code, in one run: images/s, model-time share, backends.

For each folder (the 150 ISIC 2017 validation images at 256×192; the first ``--ph2`` PH2 images at 768×560)
and each of ``--rounds`` rounds, interleaved so that a busy machine slows both alike: today's code
(``--base``, another checkout's ``src``: ``dermaseg segment`` with its defaults), then this checkout with
``--backend torch``, ``onnx`` and ``onnx-int8``, each in a fresh process. Reported per run: the in-run
images/s (the summary's seconds: from the first image to results.csv), the process's wall time, and for
this checkout the model's time and share. Then: the outputs against today's (masks pixel for pixel, PNG
bytes), ``evaluate`` against ``segment`` per image on the same PH2 images (both codes), and the accuracy of
each backend on ISIC 2017 validation (``evaluate``, per-image Jaccard). Prints a Markdown table (docs/speed.md).

``python benchmarks/segment_speed.py [--base ../wt-base/src] [--rounds 2] [--ph2 100] [--no-accuracy]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DERMASEG = [sys.executable, "-c", "from dermaseg.cli import main; main()"]


def run(src: Path, args: list[str]) -> tuple[float, str]:
    """``dermaseg ARGS`` with ``src`` first on the path -> (wall seconds, stdout)."""
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    p = subprocess.run(DERMASEG + [str(a) for a in args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit(f"dermaseg {' '.join(map(str, args))} failed:\n{p.stderr[-2000:]}")
    return wall, p.stdout


def parse(line: str) -> dict[str, float]:
    m = re.search(r"(\d+) segmented.*?; ([\d.]+) s", line)
    out = {"n": float(m.group(1)), "seconds": float(m.group(2))}
    mt = re.search(r"model time ([\d.]+) s", line)
    if mt:
        out["model"] = float(mt.group(1))
    return out


def compare(a: Path, b: Path) -> dict[str, float]:
    """Outputs of two runs: masks equal pixel for pixel, probability maps' largest difference (of 255),
    PNG bytes of each."""
    from PIL import Image

    masks = [p.name for p in a.glob("*_mask.png")]
    same = sum(np.array_equal(np.asarray(Image.open(a / n)), np.asarray(Image.open(b / n))) for n in masks)
    prob = max(int(np.abs(np.asarray(Image.open(a / n), np.int16) - np.asarray(Image.open(b / n), np.int16)).max())
               for n in (p.name for p in a.glob("*_prob.png")))
    size = {k: sum(p.stat().st_size for p in d.glob("*.png")) for k, d in (("a", a), ("b", b))}
    return {"masks": len(masks), "masks_equal": same, "prob_max_diff": prob, "bytes_a": size["a"], "bytes_b": size["b"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=ROOT.parent / "wt-base" / "src")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ph2", type=int, default=100)
    ap.add_argument("--no-accuracy", action="store_true")
    args = ap.parse_args()
    new = ROOT / "src"
    tmp = Path(tempfile.mkdtemp(prefix="segment_speed."))
    isic = DATA / "isic2017" / "ISIC-2017_Validation_Data"
    ph2 = tmp / "ph2"
    (ph2 / "images").mkdir(parents=True)
    (ph2 / "masks").mkdir()
    for f in sorted((DATA / "ph2_dev" / "images").glob("*.jpg"))[:args.ph2]:
        (ph2 / "images" / f.name).symlink_to(f)
        (ph2 / "masks" / f"{f.stem}_lesion.png").symlink_to(DATA / "ph2_dev" / "masks" / f"{f.stem}_lesion.png")
    folders = {"ISIC 2017 val (150, 256x192)": isic, f"PH2 ({args.ph2}, 768x560)": ph2 / "images"}
    for backend in ("onnx", "onnx-int8"):  # the graphs are cached before anything is timed
        run(new, ["segment", next(isic.glob("*.jpg")), "--out", tmp / f"warm-{backend}", "--backend", backend])
    res: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        for label, folder in folders.items():
            for who, src, extra in (("today (torch)", args.base, []), ("new torch", new, ["--backend", "torch"]),
                                    ("new onnx", new, ["--backend", "onnx"]),
                                    ("new onnx-int8", new, ["--backend", "onnx-int8"])):
                out = tmp / f"{label[:4]}-{who.replace(' ', '_')}-{r}"
                wall, stdout = run(src, ["segment", folder, "--out", out, *extra])
                res.setdefault((label, who), []).append({**parse(stdout.strip().splitlines()[-1]), "wall": wall})
                print(f"round {r} {label} {who}: {stdout.strip().splitlines()[-1][:160]}", flush=True)
    print("\n| images | code, backend | whole command images/s (in run) | process wall s | model images/s | "
          "whole / model | vs today |\n|---|---|---|---|---|---|---|")
    for label in folders:
        base = np.median([x["n"] / x["seconds"] for x in res[(label, "today (torch)")]])
        for who in ("today (torch)", "new torch", "new onnx", "new onnx-int8"):
            xs = res[(label, who)]
            rate = np.median([x["n"] / x["seconds"] for x in xs])
            model = np.median([x["n"] / x["model"] for x in xs]) if "model" in xs[0] else None
            share = f"{rate / model:.0%}" if model else "-"
            print(f"| {label} | {who} | {rate:.2f} | {np.median([x['wall'] for x in xs]):.1f} | "
                  f"{f'{model:.2f}' if model else '-'} | {share} | {rate / base:.2f}x |")
    for label in folders:
        c = compare(tmp / f"{label[:4]}-today_(torch)-0", tmp / f"{label[:4]}-new_torch-0")
        print(f"\n{label}: new torch vs today: {c['masks_equal']}/{c['masks']} masks pixel-identical, probability "
              f"maps differ by at most {c['prob_max_diff']}/255; PNG bytes {c['bytes_b'] / c['bytes_a']:.3f}x today's")
    ev = {}
    for who, src in (("today", args.base), ("new", new)):
        wall_e, out_e = run(src, ["evaluate", "--data", ph2, "--out", tmp / f"ev-{who}"])
        wall_s, _ = run(src, ["segment", ph2 / "images", "--out", tmp / f"seg-{who}"])
        ev[who] = (wall_e, wall_s)
        print(f"evaluate vs segment on PH2 ({who}): {wall_e / args.ph2:.3f} vs {wall_s / args.ph2:.3f} s per image "
              f"(process wall / images) = {wall_e / wall_s:.2f}x; {out_e.strip().splitlines()[-1][:200]}", flush=True)
    a = [{k: v for k, v in r.items() if k != "seconds"} for r in _csv(tmp / "ev-today" / "per_image.csv")]
    b = [{k: v for k, v in r.items() if k != "seconds"} for r in _csv(tmp / "ev-new" / "per_image.csv")]
    print(f"evaluate scores identical to today's: {a == b} ({len(a)} rows)")
    if not args.no_accuracy:
        for backend in ("torch", "onnx", "onnx-int8"):
            run(new, ["evaluate", "--data", DATA / "isic2017", "--split", "val", "--out", tmp / f"acc-{backend}",
                      "--backend", backend])
            m = json.loads((tmp / f"acc-{backend}" / "metrics.json").read_text())
            pm = m["summary"]["per_image_mean"]
            print(f"ISIC 2017 val, {backend}: Jaccard (IoU) {pm['iou']['mean']:.4f}, thresholded Jaccard "
                  f"{pm['thresholded_jaccard']['mean']:.4f}, Dice {pm['dice']['mean']:.4f}", flush=True)
    print(f"(machine: {os.cpu_count()} cores, shared with other users; outputs in {tmp})")


def _csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


if __name__ == "__main__":
    main()
