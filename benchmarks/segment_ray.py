"""`dermaseg segment` throughput with the local executor against `--executor ray` with 1 and 2 workers, in one
run on one local Ray cluster (127.0.0.1), as ratios against the local run.

Images: the 150 ISIC 2017 validation JPEGs (../shared/data, 256×192); model: the bundled ``default``. Each
executor segments all of them into a fresh folder (mask, probability map, overlay, results.csv), after one
untimed local warm-up on 5 images (imports, file cache); the local run goes first and again last (the machine
is shared: the two bound the drift). Ray's times include starting
the workers (each loads torch and the model once); the cluster itself is started once, before, and its start
is printed apart. ``model s/img`` is the mean of results.csv's ``seconds`` (one image's read + model +
post-processing inside its worker). Every Ray run's masks are checked byte for byte against the local run's. Run by hand:
``python benchmarks/segment_ray.py [--threads 1] [--limit 150]``; prints images/s, the ratio to the local
run and the load average before and after.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time
from pathlib import Path

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017" / "ISIC-2017_Validation_Data"


def _masks(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*_mask.png"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the local run and of each worker")
    ap.add_argument("--limit", type=int, default=0, help="use the first N images only (0: all)")
    args = ap.parse_args()
    if not VAL.is_dir():
        raise SystemExit(f"{VAL}: not found (the ISIC 2017 validation images)")

    import ray
    import torch

    from dermaseg.inference.segment import segment_files

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="segray_bench"))
    inputs = [VAL]
    if args.limit:
        sub = work / "in"
        sub.mkdir()
        for p in sorted(VAL.glob("*.jpg"))[: args.limit]:
            os.symlink(p, sub / p.name)
        inputs = [sub]
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="dsray", dir="/tmp")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, _temp_dir=tmp, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR", configure_logging=False)
    print(f"ray cluster started in {time.perf_counter() - t0:.1f} s ({ray.cluster_resources().get('CPU')} CPUs)")
    runs = [("local", {}), ("ray, 1 worker", {"executor": "ray", "workers": 1, "cpus_per_run": args.threads}),
            ("ray, 2 workers", {"executor": "ray", "workers": 2, "cpus_per_run": args.threads}),
            ("local (again)", {})]
    results = []
    warm = work / "warm"
    warm.mkdir()
    for p in sorted(VAL.glob("*.jpg"))[:5]:
        os.symlink(p, warm / p.name)
    segment_files([warm], work / "warm_out", model="default", device="cpu", echo=False, progress=False)
    try:
        for i, (label, kw) in enumerate(runs):
            out = work / f"out{i}"
            t = time.perf_counter()
            s = segment_files(inputs, out, model="default", device="cpu", echo=False, progress=False, **kw)
            seconds = time.perf_counter() - t
            assert not s.failed and s.segmented == s.images, s.line()
            same = "" if i == 0 else ("masks identical" if _masks(out) == _masks(work / "out0") else "MASKS DIFFER")
            with open(out / "results.csv", newline="") as f:
                per = [float(r["seconds"]) for r in csv.DictReader(f)]
            results.append((label, s.images, seconds, sum(per) / len(per), same))
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()
    ref = results[0][1] / results[0][2]
    print(f"{results[0][1]} images, model default, {args.threads} torch thread(s) per run/worker, "
          f"{os.cpu_count()} CPUs")
    print(f"{'executor':<16} {'seconds':>8} {'images/s':>9} {'vs local':>9} {'model s/img':>12}")
    for label, n, seconds, per, same in results:
        print(f"{label:<16} {seconds:8.1f} {n / seconds:9.2f} {n / seconds / ref:8.2f}x {per:12.3f}  {same}")
    print(f"load average (1, 5, 15 min): before {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f}, "
          f"after {load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f}")


if __name__ == "__main__":
    main()
