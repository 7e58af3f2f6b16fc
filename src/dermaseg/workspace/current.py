"""A workspace's current model: list the versions, make one current (rollback), and the rule of which
automatic masks a version change makes stale.

The one home of "which model is current" is ``DIR/models/current.json`` (:mod:`dermaseg.workspace.versions`):
:attr:`Workspace.model_version <dermaseg.workspace.store.Workspace.model_version>`, ``segment --model DIR``
(:func:`dermaseg.models.files.resolve_model_path`) and the server (``serve --workspace DIR``) all read it.

Re-computation (:func:`needs_auto`, :func:`refresh_targets`): after a new current version, the automatic
mask of every image whose status is still ``auto`` and whose automatic mask another version made is
computed again (plus any image with no automatic mask at all). Edited, approved and skipped images keep
theirs: a person reviewed them, and a model's mask never goes into ``masks/`` anyway
(:meth:`~dermaseg.workspace.store.Workspace.set_auto_mask` writes only ``.auto/``). The computing itself
needs a model: :func:`dermaseg.training.wsloop.refresh_auto` and the server's
:class:`~dermaseg.serve.wsstore.AutoWorker`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dermaseg.workspace.layout import MODELS_DIR
from dermaseg.workspace.store import Workspace
from dermaseg.workspace.versions import BUNDLED, list_versions, set_current

__all__ = ["models_dir", "use_version", "list_models", "needs_auto", "refresh_targets"]


def models_dir(ws: Workspace) -> Path:
    """``DIR/models``: the workspace's model versions."""
    return ws.root / MODELS_DIR


def use_version(ws: Workspace, version: str, user: str = "local", remote: str | None = None) -> dict[str, Any]:
    """Make ``version`` (``vN`` or ``default``) current: rollback and roll forward; logged. Returns
    current.json."""
    before = ws.model_version
    doc = set_current(models_dir(ws), version, why=f"made current by {user}")
    ws.record(user, remote, "model", None, version=version, before=before)
    return doc


def list_models(ws: Workspace) -> list[dict[str, Any]]:
    """The bundled model and every version, oldest first (:func:`dermaseg.workspace.versions.list_versions`)."""
    cur = ws.model_version
    return [{"version": BUNDLED, "created": None, "started_from": None, "n_train": None, "n_heldout": None,
             "accepted": None, "reason": "the bundled model", "difference": None, "se": None,
             "current": cur == BUNDLED}] + list_versions(models_dir(ws))


def needs_auto(ws: Workspace, row: dict[str, Any], version: str) -> bool:
    """The rule (module docstring): no automatic mask yet, or not reviewed and made by another version."""
    return not ws.auto_path(row["id"]).is_file() or (row["status"] == "auto" and row["model_version"] != version)


def refresh_targets(ws: Workspace, version: str | None = None) -> list[dict[str, Any]]:
    """Rows whose automatic mask must be (re)computed for ``version`` (default: the current one)."""
    version = version or ws.model_version
    return [r for r in ws.images() if needs_auto(ws, r, version)]
