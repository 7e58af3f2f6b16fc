"""Model versions of a models folder (``DIR/models/vN/``, ``current.json``): re-exported from their one
home, :mod:`dermaseg.workspace.versions` (a workspace records its current version there, below the model
layer, so the workspace store can read it)."""

from __future__ import annotations

from dermaseg.workspace.versions import (
    BUNDLED,
    clean_stale,
    current_model_path,
    current_version,
    list_versions,
    next_version,
    read_json,
    set_current,
    utc_now,
    version_dir,
)

__all__ = ["BUNDLED", "current_version", "current_model_path", "set_current", "list_versions",
           "next_version", "version_dir", "clean_stale", "read_json", "utc_now"]
