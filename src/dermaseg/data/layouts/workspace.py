"""A dermaseg workspace (``workspace.sqlite`` beside ``images/``, ``masks/``, ``metadata.csv``: see
:mod:`dermaseg.workspace.layout`) read as a folder-pairs dataset of its APPROVED images only, so that
``dermaseg train``, ``evaluate``, ``measure --data`` and ``data check`` use a reviewed workspace as it is.
Images still under review (auto, edited, skipped) are left out, and counted in ``sources["workspace"]``.
The state file is opened read-only (a running server may be writing it).

This module is the one home of a workspace's file names and SQLite schema (the data layer reads a
workspace, and :mod:`dermaseg.workspace`, above it, writes one; :mod:`dermaseg.workspace.layout` re-exports
them). A workspace is a folder DIR::

    DIR/images/<name>          the originals (copied or hard-linked; never written)
    DIR/masks/<id>.png         the current mask of every image a person made one for (0/255, the image's size)
    DIR/.auto/<id>.png         the automatic (model) mask of each image, outside masks/
    DIR/metadata.csv           image_id, lesion_id, diagnosis and any user columns
    DIR/workspace.sqlite       the state (WAL): images, events (the review log), settings
    DIR/models/vN/             fine-tuned model versions (written by `dermaseg workspace finetune`)

An image's id is its file's stem (unique in the workspace: a clash gets ``_2``, ``_3``...).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem
from dermaseg.data.layouts.common import finish, pair_samples
from dermaseg.data.layouts.folder import read_metadata
from dermaseg.errors import DataError

__all__ = ["read_workspace", "detect", "DB_FILE", "IMAGES_DIR", "MASKS_DIR", "AUTO_DIR", "MODELS_DIR",
           "METADATA_FILE", "STATUSES", "REVIEWED", "SCHEMA", "SCHEMA_VERSION", "is_workspace"]

DB_FILE = "workspace.sqlite"
IMAGES_DIR = "images"
MASKS_DIR = "masks"
AUTO_DIR = ".auto"
MODELS_DIR = "models"
METADATA_FILE = "metadata.csv"
#: an image's review state: auto (model mask only) -> edited -> approved, or skipped
STATUSES = ("auto", "edited", "approved", "skipped")
#: statuses whose mask a person made (it lives in masks/ and a model never replaces it)
REVIEWED = ("edited", "approved")
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'auto' CHECK (status IN ('auto', 'edited', 'approved', 'skipped')),
    version INTEGER NOT NULL DEFAULT 0,
    has_mask INTEGER NOT NULL DEFAULT 0,
    predicted_quality REAL,
    model_version TEXT,
    flags TEXT NOT NULL DEFAULT '',
    pixel_size REAL,
    note TEXT NOT NULL DEFAULT '',
    reviewer TEXT,
    updated_at TEXT
);
CREATE INDEX IF NOT EXISTS images_status ON images (status);
CREATE INDEX IF NOT EXISTS images_quality ON images (predicted_quality);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    user TEXT NOT NULL,
    remote TEXT,
    action TEXT NOT NULL,
    image_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_image ON events (image_id);
"""


def is_workspace(root: Path) -> bool:
    """True when ``root`` holds a workspace state file."""
    return (Path(root) / DB_FILE).is_file()


def _rows(root: Path) -> list[tuple[str, str, str]]:
    db = root / DB_FILE
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT id, name, status FROM images ORDER BY id").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise DataError(f"{db}: cannot read the workspace state ({e})") from e


def read_workspace(root: Path) -> Dataset:
    """The approved images of the workspace at ``root`` with their masks (``masks/<id>.png``)."""
    if not is_workspace(root):
        raise DataError(f"{root}: not a workspace (no {DB_FILE})")
    problems: list[Problem] = []
    rows = _rows(root)
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for image_id, name, status in rows:
        if status != "approved":
            continue
        images[image_id] = root / IMAGES_DIR / name
        m = root / MASKS_DIR / f"{image_id}.png"
        if m.is_file():
            masks[image_id] = m
    labels, groups = None, {}
    sources = {"workspace": f"{len(images)} approved of {len(rows)} images"}
    table = root / METADATA_FILE
    if table.is_file():
        try:
            labels, groups, _ = read_metadata(table, images, [])
            sources["metadata"] = str(table)
        except DataError:  # a table with only user columns: no labels or groups
            pass
        if labels is not None and not any(labels.values()):
            labels = None
    samples = pair_samples(root, "workspace", images, masks, problems, None, labels, groups)
    return finish(root, "workspace", samples, problems, sources=sources)


def detect(root: Path) -> str | None:
    """``"workspace"`` when ``root`` holds a workspace state file."""
    return "workspace" if is_workspace(root) else None
