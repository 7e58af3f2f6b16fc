"""The adapt loop as a library: fine-tune on approved (image, mask) pairs, write ``models/vN/``, gate it.

:func:`finetune_version` is what ``dermaseg workspace finetune DIR`` and ``POST /api/workspace/finetune``
run (in a background thread there). One call:

1. splits the approved pairs into a training part and a **held-out** part (grouped by lesion when groups
   are given, seeded; at least :data:`MIN_HELDOUT` images, about a fifth), fixed for this call;
2. fine-tunes the **current** model (or ``init``) on the training part with the ``finetune`` recipe,
   through the one trainer (:func:`dermaseg.training.run.train_run`; no validation inside the run, so the
   held-out images stay unseen until the gate), reporting progress through ``progress(dict)``;
3. scores the current and the new model on the same held-out images through the Predictor and
   :func:`~dermaseg.evaluation.evaluate.evaluate` (each image at its own resolution): per-image Jaccard,
   the mean paired difference new - current and its standard error (sd of the differences / sqrt(n));
4. **the gate**: the new version becomes current only when that difference is not negative (the new
   model is not worse on the held-out approved images); with fewer than :data:`MIN_HELDOUT` held-out
   images nothing can be checked and the version is kept but not made current (the reason says so);
5. re-checks the predicted quality on the held-out images: with at least :data:`MIN_QUALITY_CHECK` of
   them and a Spearman correlation >= :data:`MIN_QUALITY_RHO` between predicted and actual Jaccard it is
   ``re-checked``; otherwise its ``status`` is ``uncalibrated`` (saved in the model's config, shown by
   the workspace), never silently reused from the bundled model.

Files (:mod:`dermaseg.workspace.versions`): the work happens in ``models/.work-vN-<pid>/``, renamed to
``models/vN/`` only once every file is written, and ``current.json`` changes only after that; a kill at
any point leaves the current version working (the next call removes the dead work folder). One
fine-tune at a time per models folder (``models/.finetune.lock``, with the owner's pid).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dermaseg.data.dataset import Sample
from dermaseg.data.splits import holdout
from dermaseg.errors import DataError, DermasegError
from dermaseg.evaluation.evaluate import evaluate
from dermaseg.inference.predictor import load_predictor
from dermaseg.inference.quality import spearman
from dermaseg.io import write_text
from dermaseg.models.files import read_model_file, write_model_file
from dermaseg.training.orchestrate import resolve_recipe
from dermaseg.training.run import train_run
from dermaseg.workspace.versions import (
    clean_stale,
    current_model_path,
    current_version,
    next_version,
    set_current,
    utc_now,
)

__all__ = ["finetune_version", "score_pair", "paired", "MIN_PAIRS", "MIN_HELDOUT", "MIN_QUALITY_CHECK",
           "MIN_QUALITY_RHO", "FinetuneBusy"]

MIN_PAIRS = 4  # fewer approved images cannot fine-tune anything
MIN_HELDOUT = 3  # fewer held-out images cannot check a new version
MIN_QUALITY_CHECK = 10  # fewer cannot re-check the predicted quality
MIN_QUALITY_RHO = 0.3


class FinetuneBusy(DermasegError):
    """Another fine-tune holds the models folder's lock."""


def _samples(pairs: Sequence[tuple[Any, Any]], groups: dict[str, str] | None) -> list[Sample]:
    out, seen = [], set()
    for image, mask in pairs:
        image, mask = Path(image), Path(mask)
        for p in (image, mask):
            if not p.is_file():
                raise DataError(f"{p}: file not found")
        sid = image.stem
        if sid in seen:
            raise DataError(f"{image}: two approved images share the name {sid!r}")
        seen.add(sid)
        out.append(Sample(id=sid, image=image, mask=mask, group=(groups or {}).get(sid, sid)))
    return out


def _split(samples: list[Sample], heldout_ids: Sequence[str] | None, seed: int) -> tuple[list, list]:
    if heldout_ids is not None:
        held = set(heldout_ids)
        return [s for s in samples if s.id not in held], [s for s in samples if s.id in held]
    n_held = max(MIN_HELDOUT, round(0.2 * len(samples)))
    if len(samples) - n_held < MIN_PAIRS:
        return list(samples), []
    return holdout(samples, n_held / len(samples), seed)


def paired(new: Sequence[float], cur: Sequence[float]) -> dict[str, Any]:
    """Mean paired difference new - current, its standard error (sample sd / sqrt(n)) and n."""
    d = [float(a) - float(b) for a, b in zip(new, cur, strict=True)]
    n = len(d)
    if n == 0:
        return {"difference": None, "se": None, "n": 0}
    mean = sum(d) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) / math.sqrt(n) if n > 1 else None
    return {"difference": mean, "se": se, "n": n}


def score_pair(current, new, heldout: list[Sample], device: str | None = None) -> dict[str, Any]:
    """Score model ``current`` and model ``new`` (names or files) on the same ``heldout`` samples through
    the Predictor and the evaluator; per-image rows, means and the paired differences."""

    res = {}
    for key, model in (("current", current), ("new", new)):
        pred = load_predictor(str(model), device=device)
        r = evaluate(heldout, pred, "none", progress=False, with_hd95=False, measurements=False)
        res[key] = {row["id"]: row for row in r.rows}
    ids = [s.id for s in heldout]
    out: dict[str, Any] = {"ids": ids}
    for key in ("current", "new"):
        out[key] = {m: (sum(float(res[key][i][m]) for i in ids) / len(ids) if ids else None)
                    for m in ("iou", "thresholded_jaccard", "dice")}
    out["per_image"] = [{"id": i, "current_jaccard": float(res["current"][i]["iou"]),
                         "new_jaccard": float(res["new"][i]["iou"]),
                         "new_predicted_quality": res["new"][i]["predicted_quality"]} for i in ids]
    out["jaccard"] = paired([res["new"][i]["iou"] for i in ids], [res["current"][i]["iou"] for i in ids])
    out["thresholded_jaccard"] = paired([res["new"][i]["thresholded_jaccard"] for i in ids],
                                        [res["current"][i]["thresholded_jaccard"] for i in ids])
    return out


def _quality_check(scores: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in scores["per_image"] if r["new_predicted_quality"] not in ("", None)]
    n = len(rows)
    if n < MIN_QUALITY_CHECK:
        return {"status": "uncalibrated", "n": n,
                "why": f"{n} held-out image(s), fewer than {MIN_QUALITY_CHECK}, cannot re-check the predicted "
                       "quality; it is the init model's estimate, not calibrated on this model's errors"}

    rho = spearman([float(r["new_predicted_quality"]) for r in rows], [r["new_jaccard"] for r in rows])
    ok = math.isfinite(rho) and rho >= MIN_QUALITY_RHO
    return {"status": "re-checked" if ok else "uncalibrated", "n": n, "spearman": rho,
            "why": f"Spearman {rho:.2f} between predicted and actual Jaccard on {n} held-out images "
                   f"({'>=' if ok else '<'} {MIN_QUALITY_RHO})"}


def _lock(models: Path) -> Path:
    models.mkdir(parents=True, exist_ok=True)
    lock = models / ".finetune.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            try:
                if pid:
                    os.kill(pid, 0)
                    raise FinetuneBusy(f"{models}: a fine-tune is already running (pid {pid})")
            except ProcessLookupError:
                pass
            lock.unlink(missing_ok=True)  # its owner is gone (killed)
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return lock
    raise FinetuneBusy(f"{models}: cannot take {lock}")


def finetune_version(pairs: Sequence[tuple[Any, Any]], models: str | Path, *, init: str | None = None,
                     groups: dict[str, str] | None = None, heldout_ids: Sequence[str] | None = None,
                     recipe: str = "finetune", overrides: dict[str, Any] | None = None, seed: int = 0,
                     device: str | None = None, progress: Callable[[dict], None] | None = None,
                     activate: bool = True) -> dict[str, Any]:
    """Fine-tune, write ``models/vN/``, gate it (module docstring). Returns the version's metrics.json
    (``version``, ``gate``, ``scores``, ``quality``, ``seconds``). ``init``: the model to start from
    (default: the current version). ``overrides``: recipe fields (``epochs``, ``lr``, ...).
    ``activate=False`` never changes the current version (the benchmark). Bad data -> DataError, with
    nothing written and the current version unchanged."""

    models = Path(models)
    samples = _samples(pairs, groups)
    if len(samples) < MIN_PAIRS:
        raise DataError(f"{models.parent}: {len(samples)} approved image(s); fine-tuning needs at least "
                        f"{MIN_PAIRS}")
    notify = progress or (lambda _d: None)
    lock = _lock(models)
    work = None
    try:
        clean_stale(models)
        cur = current_version(models)
        start = init if init is not None else str(current_model_path(models))
        r = resolve_recipe(recipe, init=start, **(overrides or {}))
        version = next_version(models)
        work = models / f".work-{version}-{os.getpid()}"
        work.mkdir(parents=True)
        train, held = _split(samples, heldout_ids, seed)
        notify({"stage": "start", "version": version, "n_train": len(train), "n_heldout": len(held),
                "fraction": 0.0})
        t0 = time.perf_counter()

        def on_train(d: dict) -> None:
            done = d["epoch"] - 1 + (d["batch"] / d["batches"] if d["stage"] == "batch" and d.get("batches")
                                     else 1.0)
            notify({**d, "stage": "train", "version": version, "fraction": 0.85 * done / max(1, d["epochs"])})

        ds = SimpleNamespace(root=models.parent, format="workspace")
        summary = train_run(ds, r, work / "run", train, [], f"fine-tune on {len(train)} approved images; "
                            f"{len(held)} held out for the gate", seed=seed, device=device, progress=False,
                            report=False, callback=on_train)
        seconds = time.perf_counter() - t0
        notify({"stage": "score", "version": version, "fraction": 0.9})
        scores = score_pair(start, work / "run" / "best.pt", held, device=device) if held else None
        quality = _quality_check(scores) if scores else _quality_check({"per_image": []})
        _finish_model(work, quality, version)
        gate = _gate(scores, len(held), cur)
        doc = {"version": version, "created": utc_now(), "started_from": cur if init is None else str(init),
               "gate": gate, "scores": scores, "quality": quality, "seconds": seconds,
               "epochs": summary.get("epochs"), "recipe": r.to_dict()}
        write_text(work / "metrics.json", json.dumps(doc, indent=2, default=float))
        write_text(work / "images.json", json.dumps({"train": [s.id for s in train],
                                                      "heldout": [s.id for s in held]}, indent=2))
        cfg = json.loads((work / "config.json").read_text(encoding="utf-8"))
        cfg.update({"version": version, "created": doc["created"], "started_from": doc["started_from"],
                    "n_train": len(train), "n_heldout": len(held)})
        write_text(work / "config.json", json.dumps(cfg, indent=2))
        os.rename(work, models / version)  # the version exists only complete
        work = None
        if gate["accepted"] and activate:
            set_current(models, version, why=gate["reason"])
        doc["current"] = current_version(models)
        notify({"stage": "done", "version": version, "fraction": 1.0, "accepted": gate["accepted"],
                "reason": gate["reason"], "current": doc["current"]})
        return doc
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        lock.unlink(missing_ok=True)


def _finish_model(work: Path, quality: dict[str, Any], version: str) -> None:
    """``work/run/`` -> ``work/model.pt`` (quality status and ``version`` set: the version a DICOM SEG
    names), ``config.json``, ``history.csv``."""

    f = read_model_file(work / "run" / "best.pt")
    cfg = {**f.config, "version": version}
    if isinstance(cfg.get("quality"), dict):
        cfg["quality"] = {**cfg["quality"], "status": quality["status"]}
    write_model_file(work / "model.pt", cfg, f.state_dict, f.extra)
    for name in ("config.json", "history.csv"):
        if (work / "run" / name).is_file():
            os.replace(work / "run" / name, work / name)
    shutil.rmtree(work / "run")


def _gate(scores: dict[str, Any] | None, n_held: int, cur: str) -> dict[str, Any]:
    if not scores or n_held < MIN_HELDOUT:
        return {"accepted": False, "difference": None, "se": None, "n": n_held,
                "reason": f"{n_held} held-out approved image(s), fewer than {MIN_HELDOUT}: the new version "
                          f"cannot be checked, so {cur} stays current (approve more images, or make it "
                          "current by hand)"}
    j = scores["jaccard"]
    diff, se = j["difference"], j["se"]
    ok = diff >= 0
    se_txt = f" ± {se:.4f}" if se is not None else ""
    return {"accepted": ok, "difference": diff, "se": se, "n": n_held, "metric": "per-image Jaccard",
            "current": scores["current"]["iou"], "new": scores["new"]["iou"],
            "reason": (f"new {scores['new']['iou']:.4f} vs current {scores['current']['iou']:.4f} Jaccard on "
                       f"{n_held} held-out approved images (paired difference {diff:+.4f}{se_txt} SE): "
                       + ("not worse, the new version is current" if ok else
                          f"worse, {cur} stays current"))}

