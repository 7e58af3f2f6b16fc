"""Opening a 1,000-image workspace in the app, and the latency of saving a stroke.

Builds a workspace of N real ISIC 2017 training images (hard-linked; 256x192), gives each image an automatic
mask row (a fixed disc, with a predicted quality drawn from a seeded RNG: the list's cost does not depend on
the model, and running the model on 1,000 images is not what is measured), then serves it in this process
(uvicorn on 127.0.0.1, the bundled automatic model, no prompt model, no background predictions) and times,
through HTTP as the page does:

- ``GET /api/workspace`` and the list's first page ``GET /api/workspace/images?status=auto,edited&order=quality
  &limit=500`` (the page's request): the first call after start, then p50 of ``--repeats`` more;
- a stroke's save, ``PUT /api/images/{id}/mask`` with ``If-Match`` (the PNG of a mask of the image's size,
  each save based on the version the previous returned, as the page's write queue does): p50 / p95 of
  ``--saves`` saves (durable: PNG fsynced and renamed, then the SQLite row committed).

Run by hand: ``python benchmarks/workspace_open.py [--images 1000] [--saves 100]``. Timings on a shared
machine are noisy: the figures are wall-clock milliseconds of one run.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "isic2017" / "ISIC-2017_Training_Data"


def _png(mask: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return buf.getvalue()


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--saves", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    files = sorted(DATA.glob("*.jpg"))[: args.images]
    if len(files) < args.images:
        print(f"error: {DATA}: {len(files)} images, {args.images} asked", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from tests.serve.conftest import LiveServer

    from dermaseg.inference.predictor import load_predictor
    from dermaseg.serve.app import create_app
    from dermaseg.workspace.store import Workspace

    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for p in files:
            (src / p.name).hardlink_to(p)
        t0 = time.perf_counter()
        ws = Workspace.init(Path(tmp) / "ws", [src], pixel_size=0.02)
        init_s = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[:192, :256]
        disc = (yy - 96) ** 2 + (xx - 128) ** 2 < 50 ** 2
        for row in ws.images():
            q = float(rng.uniform(0.4, 0.98))
            flags = ["predicted-failure"] if q < 0.65 else ["review"] if q < 0.8 else []
            ws.set_auto_mask(row["id"], disc, q, ws.model_version, flags)
        ws.close()
        server = LiveServer(create_app(load_predictor("default", device="cpu"), None, workspace=Path(tmp) / "ws",
                                       auto_background=False, prefetch_sam=False))
        api = server.url + "/api"
        get = lambda u: json.loads(urllib.request.urlopen(u, timeout=60).read())  # noqa: E731
        try:
            page_url = f"{api}/workspace/images?status=auto,edited&order=quality&limit=500"
            info, first_info = _timed(lambda: get(f"{api}/workspace"))
            rows, first_page = _timed(lambda: get(page_url))
            assert info["images"] == args.images and len(rows) == min(500, args.images)
            qs = [r["predicted_quality"] for r in rows]
            assert qs == sorted(qs)
            page_ms = [_timed(lambda: get(page_url))[1] for _ in range(args.repeats)]
            info_ms = [_timed(lambda: get(f"{api}/workspace"))[1] for _ in range(args.repeats)]
            iid = rows[0]["id"]
            version = get(f"{api}/images/{iid}")["version"]
            save_ms = []
            for k in range(args.saves):
                m = disc.copy()
                m[10:20, 10 + k % 200: 30 + k % 200] = True  # a stroke
                req = urllib.request.Request(f"{api}/images/{iid}/mask", data=_png(m), method="PUT",
                                             headers={"Content-Type": "image/png", "If-Match": str(version)})
                body, ms = _timed(lambda r=req: json.loads(urllib.request.urlopen(r, timeout=60).read()))
                version = body["version"]
                save_ms.append(ms)
        finally:
            server.stop()
    q = statistics.quantiles(save_ms, n=20)
    print(f"workspace of {args.images} ISIC 2017 images (256x192): workspace init {init_s:.1f} s")
    print(f"GET /api/workspace: first {first_info:.1f} ms, then p50 {statistics.median(info_ms):.1f} ms")
    print(f"list first page (500 rows, order=quality): first {first_page:.1f} ms, "
          f"then p50 {statistics.median(page_ms):.1f} ms")
    print(f"stroke save (PUT mask, If-Match, {args.saves} saves): p50 {statistics.median(save_ms):.1f} ms, "
          f"p95 {q[18]:.1f} ms, max {max(save_ms):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
