"""Model versions of a workspace: ``DIR/models/vN/`` folders and which one is current (the one home;
:mod:`dermaseg.models.versions` re-exports it).

Layout of a models folder (``DIR/models/``, written by :mod:`dermaseg.training.adapt`):

- ``vN/`` one fine-tuned version: ``model.pt`` (a model file of :mod:`dermaseg.models.files`, weights and
  pipeline config, no optimiser state), ``config.json`` (what it started from, recipe, seed, times),
  ``metrics.json`` (the gate: current and new scored on the same held-out approved images, the paired
  difference and its standard error, the decision, the predicted-quality check), ``images.json`` (the
  image ids it trained on and the held-out ids it was scored on), ``history.csv`` (per epoch).
- ``current.json`` ``{"version": "vN" | "default", "since": ISO time, "why": ...}``: the model
  ``segment --model DIR`` and the workspace use. Written atomically; absent means the bundled model.
- ``.work-vN-<pid>/`` a fine-tune in progress; a version appears only by renaming a complete folder, so
  a killed fine-tune leaves the current version as it was (:func:`clean_stale` removes the leftovers).

Everything here is plain files and JSON (no torch), so reading which model is current costs nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.io import write_text

__all__ = ["BUNDLED", "current_version", "current_model_path", "set_current", "list_versions",
           "next_version", "version_dir", "clean_stale", "read_json", "utc_now"]

BUNDLED = "default"
_VERSION = re.compile(r"^v(\d+)$")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def version_dir(models: Path, version: str) -> Path:
    """``models/<version>`` after checking the name (``vN``)."""
    if not _VERSION.match(str(version)):
        raise DermasegError(f"{version!r}: not a model version (expected v1, v2, ... or 'default')")
    return Path(models) / version


def current_version(models: Path) -> str:
    """The current version's name (``vN``), or ``"default"`` (the bundled model)."""
    doc = read_json(Path(models) / "current.json")
    v = (doc or {}).get("version", BUNDLED)
    if v != BUNDLED and not (Path(models) / str(v) / "model.pt").is_file():
        raise DermasegError(f"{Path(models) / 'current.json'}: names version {v!r}, which has no model.pt")
    return str(v)


def current_model_path(models: Path) -> Path | str:
    """The current version's ``model.pt`` or ``"default"``."""
    v = current_version(models)
    return BUNDLED if v == BUNDLED else Path(models) / v / "model.pt"


def set_current(models: Path, version: str, why: str = "") -> dict[str, Any]:
    """Make ``version`` (``vN`` or ``default``) current (rollback and roll forward alike); returns the
    new current.json. A version without a model.pt is refused."""
    models = Path(models)
    if version != BUNDLED:
        d = version_dir(models, version)
        if not (d / "model.pt").is_file():
            have = ", ".join(v["version"] for v in list_versions(models)) or "none"
            raise DermasegError(f"{d}: no such model version (versions: {have}, or 'default')")
    doc = {"version": version, "since": utc_now(), "why": why}
    models.mkdir(parents=True, exist_ok=True)
    write_text(models / "current.json", json.dumps(doc, indent=2))
    return doc


def list_versions(models: Path) -> list[dict[str, Any]]:
    """Every finished version, oldest first: ``version``, ``created``, ``started_from``, ``n_train``,
    ``n_heldout``, ``accepted``, ``reason``, ``difference``, ``se``, ``current``."""
    models = Path(models)
    if not models.is_dir():
        return []
    try:
        cur = current_version(models)
    except DermasegError:
        cur = None
    rows = []
    for d in sorted((p for p in models.iterdir() if p.is_dir() and _VERSION.match(p.name)),
                    key=lambda p: int(p.name[1:])):
        if not (d / "model.pt").is_file():
            continue
        cfg = read_json(d / "config.json") or {}
        gate = (read_json(d / "metrics.json") or {}).get("gate", {})
        rows.append({"version": d.name, "created": cfg.get("created"), "started_from": cfg.get("started_from"),
                     "n_train": cfg.get("n_train"), "n_heldout": cfg.get("n_heldout"),
                     "accepted": gate.get("accepted"), "reason": gate.get("reason"),
                     "difference": gate.get("difference"), "se": gate.get("se"), "current": d.name == cur})
    return rows


def next_version(models: Path) -> str:
    """The next free ``vN`` (never re-using a number, also not one of a fine-tune in progress)."""
    models = Path(models)
    nums = [0]
    if models.is_dir():
        for p in models.iterdir():
            m = _VERSION.match(p.name) or re.match(r"^\.work-v(\d+)-\d+$", p.name)
            if m:
                nums.append(int(m.group(1)))
    return f"v{max(nums) + 1}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(models: Path) -> list[str]:
    """Remove the work folders of fine-tunes whose process is gone (killed); returns their names."""
    models = Path(models)
    gone = []
    if models.is_dir():
        for p in models.iterdir():
            m = re.match(r"^\.work-v\d+-(\d+)$", p.name)
            if m and p.is_dir() and not _alive(int(m.group(1))):
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p.name)
    return gone
