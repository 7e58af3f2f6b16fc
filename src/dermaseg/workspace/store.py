"""``Workspace``: a folder of images under review and its state in one SQLite file (layout in
:mod:`dermaseg.workspace.layout`).

Durability: a mask is written to a temporary file beside its final name, flushed and fsync'ed, renamed onto
``masks/<id>.png`` (and the folder fsync'ed), and only then is the database row committed (WAL,
``synchronous=FULL``). A process killed at any moment leaves either the old or the new PNG, never a torn one,
and a row that names a mask only once that mask is on disk: at most the stroke in flight is lost. Every write
takes the database's write lock first (``BEGIN IMMEDIATE``), so the version check and the write are one step,
also between processes.

Versions: each image has a ``version`` that every change (mask, status, note, pixel size) increments. A
writer passes the version it last saw (``if_version``); a different current version raises
:class:`StaleVersion` carrying the current one (the web API's 409), so no update is lost between two
annotators. Every mutating call takes ``user`` and ``remote`` and appends an event to the append-only
``events`` table, the review log.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.errors import DataError, DermasegError
from dermaseg.io import read_mask
from dermaseg.workspace.build import add_images, check_init_target, collect_inputs
from dermaseg.workspace.files import now_utc, write_mask_png
from dermaseg.workspace.layout import (
    AUTO_DIR,
    DB_FILE,
    IMAGES_DIR,
    MASKS_DIR,
    MODELS_DIR,
    REVIEWED,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
)
from dermaseg.workspace.versions import current_version

__all__ = ["Workspace", "StaleVersion", "UnknownImage", "SETTABLE_STATUSES"]

#: statuses a person may set (``auto`` is the state before any review)
SETTABLE_STATUSES = ("edited", "approved", "skipped")
_COLUMNS = ("id", "name", "width", "height", "status", "version", "has_mask", "predicted_quality",
            "model_version", "flags", "pixel_size", "note", "reviewer", "updated_at")


class StaleVersion(DermasegError):
    """A write based on an older version of an image than the current one (HTTP 409)."""

    def __init__(self, image_id: str, given: int, current: int) -> None:
        super().__init__(f"image {image_id}: version {given} is stale (current version {current}; "
                         "reload the image to see the newer mask)")
        self.image_id, self.given, self.current = image_id, given, current


class UnknownImage(DermasegError):
    """An image id the workspace does not hold."""


def _row(r: sqlite3.Row) -> dict[str, Any]:
    d = {k: r[k] for k in _COLUMNS}
    d["flags"] = [f for f in (d["flags"] or "").split(",") if f]
    d["has_mask"] = bool(d["has_mask"])
    return d


class Workspace:
    """One workspace folder (module docstring). Open with :meth:`open`, create with :meth:`init`; safe to
    share between threads (one connection behind a lock)."""

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self.root = Path(root)
        self._db = conn
        self._lock = threading.RLock()
        self.last_init: dict[str, Any] = {}

    # ------------------------------------------------------------- opening
    @classmethod
    def open(cls, root: str | os.PathLike, create: bool = False) -> Workspace:
        """Open the workspace at ``root`` (``create``: make an empty one when it has no state file)."""
        root = Path(root).expanduser()
        db = root / DB_FILE
        if not db.is_file():
            if not create:
                raise DataError(f"{root}: not a workspace (no {DB_FILE}; make one with `dermaseg workspace init`)")
            if root.exists() and not root.is_dir():
                raise DataError(f"{root}: exists and is not a folder")
            root.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(db, timeout=30, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(SCHEMA)
            ver = conn.execute("SELECT value FROM settings WHERE key='schema_version'").fetchone()
            if ver is None:
                conn.execute("INSERT INTO settings VALUES ('schema_version', ?), ('created', ?)",
                             (str(SCHEMA_VERSION), now_utc()))
            elif int(ver[0]) > SCHEMA_VERSION:
                raise DataError(f"{db}: made by a newer dermaseg (schema {ver[0]}); upgrade dermaseg")
        except sqlite3.DatabaseError as e:
            raise DataError(f"{db}: cannot open the workspace state ({e})") from e
        for folder in (IMAGES_DIR, MASKS_DIR, AUTO_DIR):
            (root / folder).mkdir(exist_ok=True)
            for stale in (root / folder).glob(".*.part"):  # temp files of a process killed mid-write
                stale.unlink(missing_ok=True)
        return cls(root, conn)

    @classmethod
    def init(cls, root: str | os.PathLike, images: list[str | os.PathLike], **kw: Any) -> Workspace:
        """Create a workspace at ``root`` (or add to the one there) from ``images`` (files and folders):
        keyword arguments of :func:`dermaseg.workspace.build.add_images` (``recursive``, ``pixel_size``,
        ``masks``, ``status``, ``copy``, ``metadata``, ``user``, ``remote``). The summary of what was added
        is kept in :attr:`last_init`."""
        root = Path(root).expanduser()
        check_init_target(root)
        jobs = collect_inputs(root, images, kw.get("recursive", False))
        ws = cls.open(root, create=True)
        try:
            ws.last_init = add_images(ws, jobs, inputs=list(images),
                                      **{k: v for k, v in kw.items() if k != "recursive"})
        except BaseException:
            ws.close()
            raise
        return ws

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def _write(self):
        """One write transaction, holding the database's write lock from its start."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record(self, user: str, remote: str | None, action: str, image_id: str | None = None,
               **detail: Any) -> None:
        """Append one event to the review log (e.g. a fine-tune or a change of the current model)."""
        with self._write() as db:
            self._event(db, user, remote, action, image_id, **detail)

    def _event(self, db, user: str, remote: str | None, action: str, image_id: str | None, **detail: Any) -> None:
        db.execute("INSERT INTO events (time, user, remote, action, image_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                   (now_utc(), user, remote, action, image_id, json.dumps(detail, sort_keys=True)))

    # ------------------------------------------------------------- settings
    def setting(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            r = self._db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return default if r is None or r[0] is None else r[0]

    @property
    def name(self) -> str:
        return self.root.resolve().name

    @property
    def pixel_size(self) -> float | None:
        """The default pixel size (mm per pixel) of the workspace, or None."""
        v = self.setting("pixel_size")
        return float(v) if v else None

    @property
    def model_version(self) -> str:
        """The current model version, which makes automatic masks: ``default`` (the bundled model) or
        ``vN``. Its one home is ``models/current.json`` (:mod:`dermaseg.models.versions`), which
        ``segment --model DIR`` and the server read too."""
        return current_version(self.root / MODELS_DIR)

    def set_setting(self, key: str, value: str | None, user: str = "local", remote: str | None = None) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))
            self._event(db, user, remote, "setting", None, key=key, value=value)

    def set_pixel_size(self, pixel_size: float | None, image_id: str | None = None, user: str = "local",
                       remote: str | None = None) -> None:
        """Set the workspace's default pixel size, or (``image_id``) one image's override (None clears it)."""
        if image_id is None:
            return self.set_setting("pixel_size", None if pixel_size is None else repr(float(pixel_size)),
                                    user, remote)
        with self._write() as db:
            self._get(db, image_id)
            db.execute("UPDATE images SET pixel_size=?, version=version+1, updated_at=? WHERE id=?",
                       (pixel_size, now_utc(), image_id))
            self._event(db, user, remote, "pixel_size", image_id, pixel_size=pixel_size)

    # ------------------------------------------------------------- reading
    def _get(self, db, image_id: str) -> sqlite3.Row:
        r = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM images WHERE id=?", (str(image_id),)).fetchone()
        if r is None:
            raise UnknownImage(f"image {image_id}: not in the workspace {self.root}")
        return r

    def image(self, image_id: str) -> dict[str, Any]:
        """One image's row (keys: id, name, width, height, status, version, has_mask, predicted_quality,
        model_version, flags (list), pixel_size (the override or None), note, reviewer, updated_at)."""
        with self._lock:
            return _row(self._get(self._db, image_id))

    def has(self, image_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM images WHERE id=?", (str(image_id),)).fetchone() is not None

    def images(self, status: str | list[str] | None = None, order: str | None = None, flagged: bool = False,
               limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Image rows, optionally of some statuses (a name, a comma-separated list or a list) and only those
        with flags; ``order="quality"``: lowest predicted quality first (not yet predicted last), else by id."""
        where, args = [], []
        if status:
            wanted = status.split(",") if isinstance(status, str) else list(status)
            wanted = [s.strip() for s in wanted if s.strip()]
            bad = [s for s in wanted if s not in STATUSES]
            if bad:
                raise DermasegError(f"status: {bad[0]!r} is not one of {', '.join(STATUSES)}")
            where.append(f"status IN ({', '.join('?' * len(wanted))})")
            args += wanted
        if flagged:
            where.append("flags != ''")
        if order not in (None, "", "quality", "name"):
            raise DermasegError(f"order: {order!r} is not 'quality' or 'name'")
        sql = f"SELECT {', '.join(_COLUMNS)} FROM images"
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        sql += " ORDER BY predicted_quality IS NULL, predicted_quality, id" if order == "quality" else " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        with self._lock:
            return [_row(r) for r in self._db.execute(sql, args)]

    def counts(self) -> dict[str, int]:
        """Number of images per status (every status present, 0 when none)."""
        with self._lock:
            got = dict(self._db.execute("SELECT status, COUNT(*) FROM images GROUP BY status").fetchall())
        return {s: int(got.get(s, 0)) for s in STATUSES}

    def image_path(self, row_or_id: dict[str, Any] | str) -> Path:
        row = self.image(row_or_id) if isinstance(row_or_id, str) else row_or_id
        return self.root / IMAGES_DIR / row["name"]

    def mask_path(self, image_id: str) -> Path:
        """``masks/<id>.png``: a person's mask (exists once the image was edited, approved or imported)."""
        return self.root / MASKS_DIR / f"{image_id}.png"

    def auto_path(self, image_id: str) -> Path:
        """``.auto/<id>.png``: the automatic mask."""
        return self.root / AUTO_DIR / f"{image_id}.png"

    def current_mask(self, image_id: str) -> np.ndarray | None:
        """The image's current mask (a person's when there is one, else the automatic one), or None."""
        row = self.image(image_id)
        p = self.mask_path(image_id) if row["has_mask"] else self.auto_path(image_id)
        return read_mask(p) if p.is_file() else None

    def effective_pixel_size(self, row: dict[str, Any]) -> float | None:
        """An image's pixel size: its own override, else the workspace default."""
        return row["pixel_size"] if row["pixel_size"] is not None else self.pixel_size

    def approved_pairs(self) -> list[tuple[Path, Path]]:
        """(image path, mask path) of every approved image, by id."""
        return [(self.image_path(r), self.mask_path(r["id"])) for r in self.images(status="approved")]

    def log(self, image_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The review log, oldest first: {id, time, user, remote, action, image_id, detail (dict)}."""
        sql, args = "SELECT id, time, user, remote, action, image_id, detail FROM events", []
        if image_id is not None:
            sql, args = sql + " WHERE image_id=?", [image_id]
        sql += " ORDER BY id"
        if limit is not None:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY id', ' ORDER BY id DESC')} LIMIT ?) ORDER BY id"
            args.append(int(limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [{**{k: r[k] for k in ("id", "time", "user", "remote", "action", "image_id")},
                 "detail": json.loads(r["detail"] or "{}")} for r in rows]

    # ------------------------------------------------------------- writing
    def add_image(self, image_id: str, name: str, width: int, height: int, user: str = "local",
                  remote: str | None = None, **detail: Any) -> None:
        """Record a new image already copied into ``images/`` (used by ``workspace init``)."""
        with self._write() as db:
            db.execute("INSERT INTO images (id, name, width, height, updated_at) VALUES (?, ?, ?, ?, ?)",
                       (image_id, name, int(width), int(height), now_utc()))
            self._event(db, user, remote, "add", image_id, name=name, **detail)

    def import_mask(self, image_id: str, status: str, user: str = "local", remote: str | None = None,
                    source: str = "") -> None:
        """Record an annotation already written to ``masks/<id>.png`` (``workspace init --masks``)."""
        with self._write() as db:
            db.execute("UPDATE images SET status=?, has_mask=1, version=version+1, reviewer=?, updated_at=? "
                       "WHERE id=?", (status, user, now_utc(), image_id))
            self._event(db, user, remote, "import", image_id, status=status, source=source)

    @staticmethod
    def _check_version(image_id: str, row: sqlite3.Row, if_version: int | None) -> None:
        if if_version is not None and int(if_version) != int(row["version"]):
            raise StaleVersion(image_id, int(if_version), int(row["version"]))

    @staticmethod
    def _check_shape(image_id: str, row: sqlite3.Row, mask: np.ndarray) -> None:
        if row["width"] and tuple(mask.shape) != (row["height"], row["width"]):
            raise DermasegError(f"mask: {mask.shape[1] if mask.ndim > 1 else '?'}x{mask.shape[0]} pixels, but "
                                f"image {image_id} is {row['width']}x{row['height']}")

    def set_auto_mask(self, image_id: str, mask: np.ndarray, quality: float | None, model_version: str,
                      flags: tuple[str, ...] | list[str] = ()) -> bool:
        """Store the automatic mask and its predicted quality, model version and flags. The mask file goes
        to ``.auto/``: it NEVER replaces an edited or approved mask. Returns False (nothing written) when
        the row already has an automatic mask of this model version (a concurrent computation)."""
        mask = np.asarray(mask, bool)
        with self._lock:
            row = self._get(self._db, image_id)
            self._check_shape(image_id, row, mask)
            if row["model_version"] == model_version and self.auto_path(image_id).is_file():
                return False
            write_mask_png(self.auto_path(image_id), mask)
            with self._write() as db:
                q = None if quality is None or not np.isfinite(quality) else float(quality)
                db.execute("UPDATE images SET predicted_quality=?, model_version=?, flags=? WHERE id=?",
                           (q, model_version, ",".join(flags), image_id))
        return True

    def save_mask(self, image_id: str, mask: np.ndarray, user: str = "local", if_version: int | None = None,
                  remote: str | None = None, source: str = "edit") -> dict[str, Any]:
        """Make ``mask`` (bool H×W) the image's person-made mask: PNG written and fsync'ed, then the row
        committed (status ``edited``, version + 1). Raises :class:`StaleVersion` when ``if_version`` is not
        the current version. Returns the new row."""
        mask = np.asarray(mask, bool)
        with self._write() as db:
            row = self._get(db, image_id)
            self._check_version(image_id, row, if_version)
            self._check_shape(image_id, row, mask)
            write_mask_png(self.mask_path(image_id), mask)
            db.execute("UPDATE images SET status='edited', has_mask=1, version=version+1, reviewer=?, "
                       "updated_at=? WHERE id=?", (user, now_utc(), image_id))
            self._event(db, user, remote, "mask", image_id, source=source, version=int(row["version"]) + 1,
                        area_px=int(mask.sum()))
            return _row(self._get(db, image_id))

    def set_status(self, image_id: str, status: str, user: str = "local", note: str | None = None,
                   if_version: int | None = None, remote: str | None = None) -> dict[str, Any]:
        """Set ``approved``, ``skipped`` or ``edited`` (and optionally the note). Approving an image no one
        edited approves its automatic mask: it is copied into ``masks/`` first. Returns the new row."""
        if status not in SETTABLE_STATUSES:
            raise DermasegError(f"status: {status!r} is not one of {', '.join(SETTABLE_STATUSES)}")
        with self._write() as db:
            row = self._get(db, image_id)
            self._check_version(image_id, row, if_version)
            has_mask = bool(row["has_mask"])
            if status in REVIEWED and not has_mask:
                auto = self.auto_path(image_id)
                if not auto.is_file():
                    raise DermasegError(f"image {image_id}: no mask yet to mark {status} "
                                        "(its automatic mask is still being computed)")
                write_mask_png(self.mask_path(image_id), read_mask(auto))
                has_mask = True
            new_note = row["note"] if note is None else str(note)
            db.execute("UPDATE images SET status=?, has_mask=?, note=?, version=version+1, reviewer=?, "
                       "updated_at=? WHERE id=?", (status, int(has_mask), new_note, user, now_utc(), image_id))
            detail: dict[str, Any] = {"status": status, "from": row["status"], "version": int(row["version"]) + 1}
            if note is not None:
                detail["note"] = new_note
            self._event(db, user, remote, "status", image_id, **detail)
            return _row(self._get(db, image_id))

    def set_note(self, image_id: str, note: str, user: str = "local", if_version: int | None = None,
                 remote: str | None = None) -> dict[str, Any]:
        """Set an image's free-text note (status unchanged)."""
        with self._write() as db:
            row = self._get(db, image_id)
            self._check_version(image_id, row, if_version)
            db.execute("UPDATE images SET note=?, version=version+1, updated_at=? WHERE id=?",
                       (str(note), now_utc(), image_id))
            self._event(db, user, remote, "note", image_id, note=str(note), version=int(row["version"]) + 1)
            return _row(self._get(db, image_id))
