"""Click-to-drawn-mask latency of the browser app, against the API call alone in the same run.

Starts ``python -m dermaseg serve --port 0`` on 127.0.0.1 and Debian's chromium through Playwright (no
browser download), opens a bundled dermoscopic image, waits for its SAM embedding, then clicks lesion
points: each click is timed by the page itself (Performance API, ``dermaseg:prompt-to-mask``: from the
pointer event to the frame after the new mask is drawn). The reference is the same prompt sent straight
to ``POST /api/images/{id}/predict`` from Python (server work + HTTP, no page). Target: under 150 ms.

Run by hand: ``python benchmarks/browser_latency.py [--clicks 30]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "dermaseg" / "assets" / "samples" / "ISIC_0012099.jpg"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("no chromium on PATH (Debian: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "dermaseg", "serve", "--port", "0", "--threads", str(args.threads)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = next((m.group(1) for line in proc.stdout
                if (m := re.search(r"dermaseg serve: (http://127\.0\.0\.1:\d+/)", line))), None)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(url)
            page.set_input_files("#file-input", [str(SAMPLE)])
            page.wait_for_selector(".item.current[data-sam=ready]", timeout=300_000)
            info = page.evaluate("""() => { const r = window.dermaseg.state.images[0];
                const ys = [], xs = []; for (let i = 0; i < r.mask.length; i++) if (r.mask[i]) { ys.push(Math.floor(i / r.width)); xs.push(i % r.width); }
                return {id: r.id, xs, ys}; }""")
            rng = np.random.default_rng(0)
            idx = rng.choice(len(info["xs"]), size=args.clicks)
            points = [(float(info["xs"][i]), float(info["ys"][i])) for i in idx]
            page.keyboard.press("p")
            browser_ms = []
            for i, (x, y) in enumerate(points):
                page.keyboard.press("Shift+A")  # back to the automatic mask: every click is a one-point prompt
                page.evaluate("async () => { await window.dermaseg.state.images[0].sync; }")
                c = page.evaluate(f"() => window.dermaseg.toClient({x}, {y})")
                page.mouse.click(c["x"], c["y"])
                page.wait_for_function(f"() => window.dermaseg.state.latencies.length === {i + 1}", timeout=60_000)
            browser_ms = page.evaluate(
                "() => performance.getEntriesByName('dermaseg:prompt-to-mask').map(e => e.duration)")
            browser.close()
        api_ms = []
        for x, y in points:
            body = json.dumps({"points": [[x, y]], "labels": [1]}).encode()
            req = urllib.request.Request(f"{url}api/images/{info['id']}/predict", body,
                                         {"Content-Type": "application/json"})
            t = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
            api_ms.append((time.perf_counter() - t) * 1000)
    finally:
        proc.terminate()
        proc.wait(30)
    b, a = np.asarray(browser_ms), np.asarray(api_ms)
    print(f"{args.clicks} one-point prompts on {SAMPLE.name} (256x192), server --threads {args.threads}, "
          f"{os.cpu_count()} CPUs")
    print(f"browser click -> drawn mask: p50 {np.median(b):.0f} ms, p95 {np.percentile(b, 95):.0f} ms, "
          f"max {b.max():.0f} ms; {np.mean(b < 150) * 100:.0f}% under 150 ms")
    print(f"API predict alone (reference): p50 {np.median(a):.0f} ms, p95 {np.percentile(a, 95):.0f} ms; "
          f"page overhead p50 {np.median(b) - np.median(a):.0f} ms (ratio {np.median(b) / np.median(a):.2f})")


if __name__ == "__main__":
    main()
