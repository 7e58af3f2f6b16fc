"""A workspace's files and SQLite schema (their one home is :mod:`dermaseg.data.layouts.workspace`, the
data layer's reader of a workspace as a dataset; re-exported here for the workspace package's users)."""

from __future__ import annotations

from dermaseg.data.layouts.workspace import (
    AUTO_DIR,
    DB_FILE,
    IMAGES_DIR,
    MASKS_DIR,
    METADATA_FILE,
    MODELS_DIR,
    REVIEWED,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
    is_workspace,
)

__all__ = ["DB_FILE", "IMAGES_DIR", "MASKS_DIR", "AUTO_DIR", "MODELS_DIR", "METADATA_FILE", "STATUSES",
           "REVIEWED", "SCHEMA", "SCHEMA_VERSION", "is_workspace"]
