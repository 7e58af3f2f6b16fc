"""Load test of ``dermaseg serve``: N concurrent clients, each uploading its own image and prompting it.

Starts ``python -m dermaseg serve --port 0`` on 127.0.0.1 (loopback only) with a memory cap, then:
1. reference: one client alone runs the whole sequence (upload, predict, predict again, segment);
2. load: N clients at once (threads), each with its own synthetic image (lesions at different places), run
   the same sequence. Each mask must equal, bit for bit, what the Predictor gives in this process for that
   client's image and prompt (no cross-talk). Every request is bounded by a timeout, the run by --max-seconds.
Prints p50/p95 latency of ``predict`` (first prompt, may wait for the SAM embedding; second prompt, from the
cached embedding when it was not evicted) and ``segment`` (one-shot automatic), each as a ratio to the
lone client's, the error and 5xx counts, and the server's peak RSS (Linux /proc) against its RSS once the
models were loaded plus the --cache-mb cap.

``--auth``: the server runs with accounts (``--auth --users FILE``, one annotator account per client, each
client sending its own ``Authorization: Bearer`` token); each client also asks for the previous client's
image, which must answer 404 (isolation). A 429 (the bounded work queue) is retried after its
``Retry-After``; 429s are counted and reported.

Run by hand: ``python benchmarks/load_serve.py [--clients 50] [--cache-mb 256] [--max-seconds 900] [--auth]``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

SRC = Path(__file__).resolve().parents[1] / "src"


def _rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) / 1024 if m else None


def _request(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None,
             timeout: float = 600) -> tuple[int, dict | bytes, float]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    dt = time.perf_counter() - t
    try:
        return status, json.loads(body), dt
    except ValueError:
        return status, body, dt


def _multipart(fields: dict[str, str], file: tuple[str, bytes]) -> tuple[bytes, dict]:
    b = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    out.write(f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{file[0]}"\r\n'
              f"Content-Type: image/png\r\n\r\n".encode() + file[1] + b"\r\n")
    out.write(f"--{b}--\r\n".encode())
    return out.getvalue(), {"Content-Type": f"multipart/form-data; boundary={b}"}


def _mask(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64)))) > 127


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / max(1, int(a.sum() + b.sum()))


def make_cases(n: int, threads: int, cache: str | None = None) -> list[dict]:
    """n distinct synthetic images with what the Predictor gives for each request (the reference);
    ``cache``: an .npz file keeping the reference masks between runs (recomputed when absent)."""
    if cache and Path(cache).is_file():
        z = np.load(cache)
        if int(z["n"]) == n:
            return _cases_from(n, {k: z[k] for k in ("predict", "predict2", "segment")})
    cases = _make_cases(n, threads)
    if cache:
        np.savez_compressed(cache, n=n, **{k: np.stack([c[k] for c in cases]) for k in ("predict", "predict2", "segment")})
    return cases


def _cases_from(n: int, masks: dict) -> list[dict]:
    from dermaseg.data.prompts import mask_bbox
    from dermaseg.data.synthetic import make_image

    cases = []
    for i in range(n):
        rgb, truth = make_image(192, 256, seed=1000 + i)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        x0, y0, x1, y1 = mask_bbox(truth)
        cy, cx = np.argwhere(truth).mean(0)
        cases.append({"png": buf.getvalue(), "truth": truth, "box": [x0 - 5, y0 - 5, x1 + 5, y1 + 5],
                      "point": [[float(cx), float(cy)]], **{k: v[i] for k, v in masks.items()}})
    return cases


def _make_cases(n: int, threads: int) -> list[dict]:
    import torch

    from dermaseg.data.prompts import mask_bbox
    from dermaseg.data.synthetic import make_image
    from dermaseg.inference.predictor import load_predictor

    torch.set_num_threads(threads)
    auto, sam = load_predictor("default", device="cpu"), load_predictor("litemedsam", device="cpu")
    cases = []
    for i in range(n):
        rgb, truth = make_image(192, 256, seed=1000 + i)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        x0, y0, x1, y1 = mask_bbox(truth)
        box = [x0 - 5, y0 - 5, x1 + 5, y1 + 5]
        cy, cx = np.argwhere(truth).mean(0)
        point = [[float(cx), float(cy)]]
        auto.set_image(rgb)
        sam.set_image(rgb)
        cases.append({"png": buf.getvalue(), "truth": truth, "box": box, "point": point,
                      "predict": sam.predict(box=box).mask, "predict2": sam.predict(box=box, points=point).mask,
                      "segment": auto.predict().mask})
    return cases


TOKENS: dict[int, str] = {}  # client -> bearer token (--auth)
IDS: dict[int, str] = {}  # client -> its image id


def _call(url: str, k: int, out: dict, data=None, headers=None, method=None, timeout: float = 600):
    """One request of client ``k`` with its token; a 429 is retried after Retry-After (at most 30 times)."""
    hdrs = dict(headers or {})
    if k in TOKENS:
        hdrs["Authorization"] = f"Bearer {TOKENS[k]}"
    for _ in range(30):
        st, r, dt = _request(url, data, hdrs, method=method, timeout=timeout)
        if st != 429:
            return st, r, dt
        out["429"].append(1)
        time.sleep(min(5.0, float(os.environ.get("RETRY_CAP", "5"))))
    return st, r, dt


def run_client(url: str, k: int, cases, out: dict, timeout: float) -> None:
    """Upload, predict (box), predict (box + point), segment (automatic); each mask must be exactly the
    Predictor's for this client's own image (any other client's would differ: no cross-talk)."""
    c = cases[k]

    def check(name: str, mask: np.ndarray) -> None:
        if not np.array_equal(mask, c[name]):
            others = [j for j in range(len(cases)) if j != k and np.array_equal(mask, cases[j][name])]
            out["crosstalk"].append(f"client {k} {name}: not its Predictor mask (Dice {_dice(mask, c[name]):.3f})"
                                    + (f", equals client {others}'s" if others else ""))

    try:
        body, hdr = _multipart({}, (f"c{k}.png", c["png"]))
        st, r, dt = _call(url + "api/images", k, out, body, hdr, timeout=timeout)
        out["upload"].append((st, dt))
        if st != 201:
            return
        iid = r["id"]
        IDS[k] = iid
        if TOKENS and (k - 1) in IDS:  # another account's image: must look like no image at all
            st2, _, _ = _call(url + f"api/images/{IDS[k - 1]}", k, out, timeout=timeout)
            out["isolation"].append(st2)
        for name, prompt in (("predict", {"box": c["box"]}),
                             ("predict2", {"box": c["box"], "points": c["point"], "labels": [1]})):
            st, r, dt = _call(url + f"api/images/{iid}/predict", k, out, json.dumps(prompt).encode(),
                              {"Content-Type": "application/json"}, timeout=timeout)
            out[name].append((st, dt))
            if st == 200:
                check(name, _mask(r["mask"]))
        body, hdr = _multipart({}, (f"c{k}.png", c["png"]))
        st, r, dt = _call(url + "api/segment", k, out, body, hdr, timeout=timeout)
        out["segment"].append((st, dt))
        if st == 200:
            check("segment", _mask(r["mask"]))
        st, _, _ = _call(url + f"api/images/{iid}", k, out, method="DELETE", timeout=timeout)
    except Exception as e:  # timeouts, resets: counted as errors
        out["exceptions"].append(f"client {k}: {type(e).__name__}: {e}")


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--cache-mb", type=float, default=256)
    ap.add_argument("--threads", type=int, default=2, help="torch threads in the server")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per request")
    ap.add_argument("--max-seconds", type=float, default=900, help="bound on the whole load phase")
    ap.add_argument("--reference-cache", default=None, help="an .npz file to keep the reference masks in")
    ap.add_argument("--auth", action="store_true", help="accounts: one annotator token per client")
    args = ap.parse_args()
    extra: list[str] = []
    if args.auth:
        import tempfile

        sys.path.insert(0, str(SRC))
        from dermaseg.serve.auth import UserDB

        users = Path(tempfile.mkdtemp(prefix="load-serve-")) / "users.sqlite"
        db = UserDB(users, create=True)
        for k in range(args.clients + 1):
            db.add(f"client{k}", "annotator", f"password-{k}-{uuid.uuid4().hex[:8]}")
            TOKENS[k] = db.new_token(f"client{k}")
        db.add("admin", "admin", uuid.uuid4().hex)
        TOKENS[-1] = db.new_token("admin")
        extra = ["--auth", "--users", str(users)]

    print(f"computing the Predictor's masks for {args.clients + 1} images (the reference)...", flush=True)
    cases = make_cases(args.clients + 1, args.threads, args.reference_cache)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "dermaseg", "serve", "--host", "127.0.0.1", "--port", "0",
                             "--cache-mb", str(args.cache_mb), "--threads", str(args.threads), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = None
    for line in proc.stdout:
        m = re.search(r"dermaseg serve: (http://127\.0\.0\.1:\d+/)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        sys.exit("dermaseg serve did not start")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    peak = {"rss": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], _rss_mb(proc.pid) or 0.0)
            time.sleep(0.1)

    try:
        # 1. the lone client (the reference), on an extra image; it also warms the models up
        solo = {k: [] for k in ("upload", "predict", "predict2", "segment", "crosstalk", "exceptions", "429",
                                "isolation")}
        run_client(url, args.clients, cases, solo, args.timeout)
        base_rss = _rss_mb(proc.pid)
        threading.Thread(target=sample, daemon=True).start()
        # 2. N clients at once
        res = {k: [] for k in solo}
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            futs = [pool.submit(run_client, url, k, cases, res, args.timeout) for k in range(args.clients)]
            for f in futs:
                f.result(timeout=max(1.0, args.max_seconds - (time.perf_counter() - t0)))
        wall = time.perf_counter() - t0
        stop.set()
        cache = _call(url + "api/stats", -1, res, timeout=60)[1]
    finally:
        stop.set()
        proc.terminate()
        proc.wait(30)

    print(f"dermaseg serve load test: {args.clients} concurrent clients{' (accounts: bearer tokens)' if args.auth else ''}, --cache-mb {args.cache_mb:g}, "
          f"--threads {args.threads}, {os.cpu_count()} CPUs; wall {wall:.1f} s")
    print(f"{'request':<10} {'n':>4} {'p50 s':>8} {'p95 s':>8} {'lone s':>8} {'p50/lone':>9}")
    for name in ("upload", "predict", "predict2", "segment"):
        ok = [dt for st, dt in res[name] if 200 <= st < 300]
        lone = [dt for st, dt in solo[name] if 200 <= st < 300]
        ref = lone[0] if lone else float("nan")
        print(f"{name:<10} {len(ok):>4} {_pct(ok, 50):>8.3f} {_pct(ok, 95):>8.3f} {ref:>8.3f} "
              f"{_pct(ok, 50) / ref:>9.1f}")
    statuses = [st for k in ("upload", "predict", "predict2", "segment") for st, _ in res[k]]
    errors = sum(1 for s in statuses if not 200 <= s < 300) + len(res["exceptions"])
    print(f"requests {len(statuses)}, errors {errors} (5xx: {sum(1 for s in statuses if s >= 500)}, "
          f"exceptions: {len(res['exceptions'])}), cross-talk or wrong masks: {len(res['crosstalk'])}")
    print(f"429 answers (bounded queue, retried after Retry-After): {len(res['429'])}")
    if args.auth:
        iso = res["isolation"]
        print(f"isolation: {len(iso)} requests for another account's image, {sum(s == 404 for s in iso)} "
              f"answered 404, {sum(s == 200 for s in iso)} leaked")
    for line in (res["exceptions"] + res["crosstalk"])[:10]:
        print("  " + line)
    if base_rss is not None:
        print(f"server RSS: {base_rss:.0f} MB with the models loaded and warm; peak during the load {peak['rss']:.0f} MB "
              f"(+{peak['rss'] - base_rss:.0f} MB) against the {args.cache_mb:g} MB cache cap")
    print(f"cache (GET /api/stats): peak {cache['peak_bytes'] / 2**20:.0f} MB held by images and embeddings "
          f"(in-flight requests included) against the {cache['cap_bytes'] / 2**20:.0f} MB cap, "
          f"{cache['evictions']} evictions")


if __name__ == "__main__":
    main()
