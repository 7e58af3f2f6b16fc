"""The final model of a cross-validation: refit on every given image with the CV-chosen epoch count.

A K-fold CV leaves K fold models, each trained on (K-1)/K of the images and scored on the rest; none of
them is *the* model. ``dermaseg train --folds K`` (``--final refit``, the default) therefore trains once
more on all the images (no validation: every image was scored out of fold already) for the median of the
folds' best epochs, into ``OUT/final/`` (a normal run folder), and moves its model to ``OUT/final.pt``,
which ``--model OUT`` loads (:func:`dermaseg.models.files.resolve_model_path`). The CV's scores are the
estimate of how this model does on new images of the same kind; ``OUT/final/config.json`` records the
epoch count and the folds it came from. ``--final none`` skips it (the fold models stay as they are).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from dermaseg.io import write_text
from dermaseg.training.recipes import Recipe
from dermaseg.training.run import train_run
from dermaseg.training.tracking import Tracker

__all__ = ["FINAL_CHOICES", "cv_epochs", "refit_final"]

FINAL_CHOICES = ("refit", "none")


def cv_epochs(out: Path, k: int) -> tuple[int | None, list[int]]:
    """(the median best epoch over the finished folds, rounded; the folds' best epochs)."""
    best = []
    for i in range(k):
        p = Path(out) / f"fold_{i}" / "result.json"
        if p.is_file():
            doc = json.loads(p.read_text(encoding="utf-8"))
            if doc.get("best_epoch"):
                best.append(int(doc["best_epoch"]))
    if not best:
        return None, []
    return max(1, int(round(statistics.median(best)))), best


def refit_final(dataset, recipe: Recipe, out: Path, k: int, seed: int = 0, workers: int = 0,
                device: str | None = None, tracker: Tracker | None = None) -> dict[str, Any] | None:
    """Refit on every sample of ``dataset`` for the CV-chosen epochs (module docstring; tracked by
    ``tracker``); returns what was done (None when not every fold has finished, or when final.pt exists
    already)."""
    out = Path(out)
    epochs, best = cv_epochs(out, k)
    if epochs is None or len(best) < k:
        return None
    if (out / "final.pt").is_file():
        return {"model": str(out / "final.pt"), "epochs": epochs, "fold_best_epochs": best, "skipped": True}
    r = recipe.override(epochs=epochs)
    note = (f"final refit on all {len(dataset.samples)} images for {epochs} epoch(s), the median of the "
            f"{k} folds' best epochs {best}; no validation (the CV scored every image out of fold)")
    print(f"final model: {note} -> {out / 'final.pt'}")
    summary = train_run(dataset, r, out / "final", list(dataset.samples), [], note, seed=seed, workers=workers,
                        resume=(out / "final" / "last.pt").is_file(), device=device, report=False,
                        extra={"final_of_cv": {"folds": k, "fold_best_epochs": best, "epochs": epochs}},
                        tracker=tracker)
    os.replace(out / "final" / "best.pt", out / "final.pt")
    last = out / "final" / "last.pt"
    if last.is_file():
        last.unlink()  # same weights as final.pt (no validation: the last epoch is the best)
    info = {"model": str(out / "final.pt"), "epochs": epochs, "fold_best_epochs": best,
            "n_images": len(dataset.samples), "seconds": summary.get("seconds")}
    write_text(out / "final" / "final.json", json.dumps(info, indent=2))
    return info
