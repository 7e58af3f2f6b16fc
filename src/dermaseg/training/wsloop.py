"""The adapt loop on a workspace, with a model: fine-tune on its approved masks (:func:`finetune_workspace`,
``dermaseg workspace finetune`` and the server's job) and re-compute the automatic masks of the images not
yet reviewed with the current version (:func:`refresh_auto`; which ones: :mod:`dermaseg.workspace.current`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dermaseg.data.layouts.workspace import read_workspace
from dermaseg.inference.flags import review_flags
from dermaseg.inference.predictor import load_predictor
from dermaseg.io import read_image
from dermaseg.models.files import resolve_model_path
from dermaseg.training.adapt import finetune_version
from dermaseg.workspace.current import models_dir, refresh_targets
from dermaseg.workspace.store import Workspace

__all__ = ["finetune_workspace", "refresh_auto", "current_predict", "format_gate"]


def _groups(ws: Workspace) -> dict[str, str]:
    """Lesion groups of the approved images (``metadata.csv``'s ``lesion_id``), so that no lesion is in
    both the training and the held-out part."""
    try:
        return {s.id: s.group for s in read_workspace(ws.root).samples if s.group}
    except Exception:  # a table the reader refuses: each image its own group
        return {}


def finetune_workspace(ws: Workspace, *, recipe: str = "finetune", epochs: int | None = None,
                       freeze: str | None = None, seed: int = 0, device: str | None = None,
                       progress: Callable[[dict], None] | None = None, user: str = "local",
                       remote: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fine-tune the current model on the workspace's approved masks into ``models/vN/`` and gate it
    (:func:`dermaseg.training.adapt.finetune_version`). Returns its metrics (``version``, ``gate``,
    ``current``, ...). The attempt and its result go to the review log. Too few approved images ->
    DataError, with nothing written."""
    over = dict(overrides or {})
    if epochs is not None:
        over["epochs"] = int(epochs)
    if freeze is not None:
        over["freeze"] = freeze
    doc = finetune_version(ws.approved_pairs(), models_dir(ws), groups=_groups(ws), recipe=recipe,
                           overrides=over, seed=seed, device=device, progress=progress)
    g = doc["gate"]
    doc["n_train"] = len(ws.approved_pairs()) - int(g["n"] or 0)
    ws.record(user, remote, "finetune", None, version=doc["version"], accepted=bool(g["accepted"]),
              difference=g["difference"], se=g["se"], n_heldout=g["n"], current=doc["current"])
    return doc


def refresh_auto(ws: Workspace, predict: Callable[[Any], Any], version: str | None = None,
                 stop: threading.Event | None = None,
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Compute the automatic masks of :func:`refresh_targets` with ``predict(rgb) -> Prediction`` (the
    current version's Predictor) and store them labelled ``version``; returns how many were written."""
    version = version or ws.model_version
    todo = refresh_targets(ws, version)
    done = 0
    for i, r in enumerate(todo):
        if stop is not None and stop.is_set():
            break
        pred = predict(read_image(ws.image_path(r), name=r["name"]))
        if ws.set_auto_mask(r["id"], pred.mask, pred.quality, version, review_flags(pred.flags, pred.quality)):
            done += 1
        if progress is not None:
            progress(i + 1, len(todo))
    return done


def format_gate(doc: dict[str, Any]) -> str:
    """The lines ``workspace finetune`` prints: the version, the paired result, whether it is current."""
    g = doc["gate"]
    lines = [f"{doc['version']}: fine-tuned on {doc.get('n_train', '?')} approved images"
             f" in {doc.get('seconds', 0):.0f} s"]
    if g.get("difference") is not None:
        se = f" ± {g['se']:.4f}" if g.get("se") is not None else ""
        lines.append(f"gate: Jaccard new {g['new']:.4f} vs current {g['current']:.4f} on {g['n']} held-out "
                     f"approved images, paired difference {g['difference']:+.4f}{se} (SE)")
    lines.append(("accepted: " if g["accepted"] else "not accepted: ") + g["reason"])
    q = doc.get("quality") or {}
    if q:
        lines.append(f"predicted quality: {q.get('status')} ({q.get('why', '')})")
    lines.append(f"current model: {doc['current']}")
    return "\n".join(lines)


def current_predict(ws: Workspace, device: str | None = None, threads: int | None = None) -> Callable[[Any], Any]:
    """``predict(rgb) -> Prediction`` with the workspace's current model (through the one Predictor)."""
    predictor = load_predictor(str(resolve_model_path(ws.root)), device=device, threads=threads)

    def predict(rgb: Any) -> Any:
        try:
            predictor.set_image(rgb)
            return predictor.predict()
        finally:
            predictor.reset_image()

    return predict
