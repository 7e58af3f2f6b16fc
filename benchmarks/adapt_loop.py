"""The annotate -> adapt -> better masks loop, simulated (issue 28).

A user reviews k images of a new image set, their corrections are the truth masks, and the bundled model
is fine-tuned on them with the workspace's own :func:`dermaseg.training.adapt.finetune_version` (the
``finetune`` recipe; a fifth of the reviewed images held out for the gate, never trained on). Then the
images NOT reviewed are scored with the bundled model and with the fine-tuned one (both through the
Predictor, each image at its own resolution): per-image mean Jaccard and thresholded Jaccard (< 0.65
counts 0), for k = 0, 10, 25, 50, in two review orders:

- ``quality``: the app's order, lowest predicted quality (of the bundled model) first;
- ``random``: a seeded random order.

The rest for a given k differs between the orders (different images were reviewed), so each row also
scores the bundled model on that same rest: the gain is paired on the same images. The order is the
bundled model's throughout (a real session re-orders after each fine-tune; this one does not). The
fine-tune wall time is measured here with ``--threads`` torch threads (2 by default); the machine may be
shared, so compare times only within one run.

Every (dataset, order, k) cell is written to ``OUT/<dataset>-<order>-k<k>.json`` when done and skipped
when present: a killed run resumes. ``OUT/summary.md`` is rewritten after every cell.

    nice -n 10 python benchmarks/adapt_loop.py --out /tmp/adapt --datasets ph2,isic-val --threads 2
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

DATASETS = {"ph2": ("ph2_dev", None), "isic-val": ("isic2017", "val")}
METRICS = ("iou", "thresholded_jaccard")


def load(name: str, data_root: Path):
    from dermaseg.data.readers import load_dataset

    folder, split = DATASETS[name]
    if name == "ph2":  # ph2_dev's metadata.csv has no column the folder reader knows: pair by stem
        from dermaseg.data.dataset import Sample

        root = data_root / folder
        return [Sample(id=p.stem, image=p, mask=root / "masks" / f"{p.stem}_lesion.png", group=p.stem)
                for p in sorted((root / "images").glob("*.jpg"))]
    ds = load_dataset(data_root / folder).with_masks()
    return list(ds.select(split)) if split else list(ds.samples)


def score(samples, model: str) -> dict[str, dict]:
    """id -> row (iou, thresholded_jaccard, predicted_quality) of ``model`` on ``samples``."""
    from dermaseg.evaluation.evaluate import evaluate
    from dermaseg.inference.predictor import load_predictor

    pred = load_predictor(model)
    r = evaluate(samples, pred, "none", progress=False, with_hd95=False, measurements=False)
    return {row["id"]: row for row in r.rows}


def mean(rows: dict[str, dict], ids, metric: str) -> float:
    return sum(float(rows[i][metric]) for i in ids) / len(ids)


def run_cell(name, samples, base, order, k, out: Path, seed: int) -> dict:
    from dermaseg.training.adapt import finetune_version

    cell = out / f"{name}-{order}-k{k}.json"
    if cell.is_file():
        return json.loads(cell.read_text())
    ids = [s.id for s in samples]
    if order == "quality":
        ranked = sorted(ids, key=lambda i: (float(base[i]["predicted_quality"] or 0.0), i))
    else:
        ranked = ids[:]
        random.Random(seed).shuffle(ranked)
    reviewed, rest = ranked[:k], ranked[k:]
    by_id = {s.id: s for s in samples}
    doc = {"dataset": name, "order": order, "k": k, "n_rest": len(rest), "reviewed": reviewed,
           "bundled": {m: mean(base, rest, m) for m in METRICS}}
    if k == 0:
        doc["new"] = dict(doc["bundled"])
    else:
        models = out / "work" / f"{name}-{order}-k{k}"
        pairs = [(by_id[i].image, by_id[i].mask) for i in reviewed]
        t0 = time.perf_counter()
        res = finetune_version(pairs, models, init="default", seed=seed, activate=False)
        doc["wall_seconds"] = time.perf_counter() - t0
        doc["train_seconds"] = res["seconds"]
        doc["gate"] = {k2: res["gate"].get(k2) for k2 in ("accepted", "difference", "se", "n", "reason")}
        doc["quality_status"] = res["quality"]["status"]
        new = score([by_id[i] for i in rest], str(models / res["version"] / "model.pt"))
        doc["new"] = {m: mean(new, rest, m) for m in METRICS}
        served = new if res["gate"]["accepted"] else base  # what the user gets after the gate
        doc["after_gate"] = {m: mean(served, rest, m) for m in METRICS}
    doc["gain"] = {m: doc["new"][m] - doc["bundled"][m] for m in METRICS}
    cell.write_text(json.dumps(doc, indent=2))
    return doc


def summary(out: Path) -> str:
    lines = ["| dataset | order | k | rest | bundled J | new J | gain J | bundled thrJ | new thrJ | gain thrJ | "
             "gate | fine-tune s |", "|" + "---|" * 12]
    for p in sorted(out.glob("*-k*.json"), key=lambda p: (p.name.split("-k")[0], int(p.stem.split("-k")[1]))):
        d = json.loads(p.read_text())
        g = d.get("gate") or {}
        gate = "-" if not g else ("kept new" if g.get("accepted") else "kept bundled") + (
            f" ({g['difference']:+.3f}±{g['se']:.3f}, n={g['n']})" if g.get("difference") is not None
            and g.get("se") is not None else "")
        lines.append(f"| {d['dataset']} | {d['order']} | {d['k']} | {d['n_rest']} | {d['bundled']['iou']:.4f} | "
                     f"{d['new']['iou']:.4f} | {d['gain']['iou']:+.4f} | {d['bundled']['thresholded_jaccard']:.4f}"
                     f" | {d['new']['thresholded_jaccard']:.4f} | {d['gain']['thresholded_jaccard']:+.4f} | {gate} | "
                     f"{d.get('wall_seconds', 0):.0f} |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--datasets", default="ph2,isic-val")
    ap.add_argument("--orders", default="quality,random")
    ap.add_argument("--ks", default="0,10,25,50")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    ks = [int(k) for k in a.ks.split(",")]
    for name in a.datasets.split(","):
        samples = load(name, a.data_root)
        base_file = a.out / f"{name}-bundled.json"
        if base_file.is_file():
            base = json.loads(base_file.read_text())
        else:
            base = {i: {m: r[m] for m in (*METRICS, "predicted_quality")}
                    for i, r in score(samples, "default").items()}
            base_file.write_text(json.dumps(base))
        for k in ks:  # k first: both orders of a k before the next k (a cut-short run has paired cells)
            for order in a.orders.split(","):
                d = run_cell(name, samples, base, order, k, a.out, a.seed)
                print(f"{name} {order} k={k}: thrJ {d['bundled']['thresholded_jaccard']:.4f} -> "
                      f"{d['new']['thresholded_jaccard']:.4f} ({d.get('wall_seconds', 0):.0f} s)", flush=True)
                summary(a.out)
    print(summary(a.out))


if __name__ == "__main__":
    main()
