"""Accounts for ``dermaseg serve --auth``: users, roles, password hashes, bearer tokens, the audit log.

Everything lives in one SQLite file (``W/users.sqlite`` of a workspace, or ``--users FILE``):

- ``users(name, role, hash, created, updated)``: passwords hashed with **argon2id** (argon2-cffi's
  ``PasswordHasher``: the winner of the Password Hashing Competition and OWASP's first choice; memory-hard,
  so a stolen file cannot be brute-forced cheaply on GPUs, unlike bcrypt's 4 KiB state or PBKDF2, and its
  parameters travel inside each hash so they can be raised later (:meth:`UserDB.verify` rehashes));
- ``tokens(digest, name, created)``: bearer tokens for scripts, stored only as SHA-256 digests (a token is
  32 random bytes, so a fast hash is enough; a stolen file yields no usable token);
- ``audit(id, time, user, remote, action, image_id, detail)``: append-only (triggers refuse UPDATE and
  DELETE): who did what, when, from where. With a workspace the workspace's ``events`` table is the
  review log; this one records the server's own events (logins, refusals, uploads, deletions).

Roles decide what an account may do; :data:`PERMISSIONS` is the one table (see :mod:`.gate` for which
request needs which permission).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError

__all__ = ["ROLES", "PERMISSIONS", "UserDB", "User", "Sessions", "LoginLimiter", "allowed", "users_file",
           "MIN_PASSWORD"]

ROLES = ("annotator", "reviewer", "admin")
#: the one permission table: action -> roles allowed. view/upload/edit: open, prompt and correct
#: images; approve: mark a mask approved (workspace review); finetune: start fine-tuning or change the
#: current model version (reviewers, who approve the masks it learns from, and admins); delete: remove
#: a workspace image or another account's data; admin: server statistics and the audit log.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "upload": frozenset(ROLES),
    "edit": frozenset(ROLES),
    "approve": frozenset({"reviewer", "admin"}),
    "finetune": frozenset({"reviewer", "admin"}),
    "delete": frozenset({"admin"}),
    "admin": frozenset({"admin"}),
}
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
                                  created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (digest TEXT PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, user TEXT,
                                  remote TEXT, action TEXT NOT NULL, image_id TEXT, detail TEXT);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def allowed(role: str | None, action: str) -> bool:
    """May ``role`` do ``action``? Unknown actions are refused (fail closed)."""
    return role in PERMISSIONS.get(action, frozenset())


def users_file(workspace: Path | None, users: Path | None) -> Path:
    """The accounts file: ``--users FILE``, else ``W/users.sqlite`` of ``--workspace W``."""
    if users is not None:
        return Path(users)
    if workspace is not None:
        if not Path(workspace).is_dir():
            raise DermasegError(f"{workspace}: no such workspace folder")
        return Path(workspace) / "users.sqlite"
    raise DermasegError("give --workspace W (accounts in W/users.sqlite) or --users FILE")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str


class UserDB:
    """The accounts file (created on first write). Each call opens its own connection: safe from any
    thread of the server."""

    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise DermasegError(f"{self.path}: no accounts file (add one with `dermaseg users add`)")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(self._db()) as db, db:
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise DermasegError(f"{self.path}: not a dermaseg accounts file ({e})") from e
        self._hasher = None

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    @property
    def hasher(self):
        if self._hasher is None:
            from argon2 import PasswordHasher  # argon2id, RFC 9106's second recommended parameters

            self._hasher = PasswordHasher()
        return self._hasher

    # ------------------------------------------------------------------ accounts
    def add(self, name: str, role: str, password: str) -> User:
        _check_name(name)
        _check_role(role)
        _check_password(password)
        h = self.hasher.hash(password)
        with closing(self._db()) as db, db:
            if db.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone():
                raise DermasegError(f"user {name}: already exists (dermaseg users passwd changes the password)")
            db.execute("INSERT INTO users VALUES (?,?,?,?,?)", (name, role, h, _now(), _now()))
        return User(name, role)

    def passwd(self, name: str, password: str) -> None:
        _check_password(password)
        self.get(name)
        h = self.hasher.hash(password)
        with closing(self._db()) as db, db:
            db.execute("UPDATE users SET hash=?, updated=? WHERE name=?", (h, _now(), name))
            db.execute("DELETE FROM tokens WHERE name=?", (name,))  # a new password revokes tokens

    def remove(self, name: str) -> None:
        self.get(name)
        with closing(self._db()) as db, db:
            db.execute("DELETE FROM users WHERE name=?", (name,))
            db.execute("DELETE FROM tokens WHERE name=?", (name,))

    def get(self, name: str) -> User:
        with closing(self._db()) as db:
            row = db.execute("SELECT name, role FROM users WHERE name=?", (name,)).fetchone()
        if row is None:
            raise DermasegError(f"user {name}: no such user in {self.path}")
        return User(*row)

    def list(self) -> list[dict[str, Any]]:
        with closing(self._db()) as db:
            rows = db.execute("SELECT u.name, u.role, u.created, u.updated, COUNT(t.digest) FROM users u "
                              "LEFT JOIN tokens t ON t.name = u.name GROUP BY u.name ORDER BY u.name").fetchall()
        return [{"name": r[0], "role": r[1], "created": r[2], "updated": r[3], "tokens": r[4]} for r in rows]

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (same cost for an unknown name)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        with closing(self._db()) as db:
            row = db.execute("SELECT name, role, hash FROM users WHERE name=?", (str(name)[:64],)).fetchone()
        h = row[2] if row else _dummy_hash(self.hasher)
        try:
            self.hasher.verify(h, str(password))
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self.hasher.check_needs_rehash(h):
            with closing(self._db()) as db, db:
                db.execute("UPDATE users SET hash=? WHERE name=?", (self.hasher.hash(password), name))
        return User(row[0], row[1])

    # ------------------------------------------------------------------ tokens
    def new_token(self, name: str) -> str:
        """A new bearer token for ``name`` (shown once; only its digest is kept)."""
        self.get(name)
        token = "dsg_" + secrets.token_urlsafe(32)
        with closing(self._db()) as db, db:
            db.execute("INSERT INTO tokens VALUES (?,?,?)", (_digest(token), name, _now()))
        return token

    def token_user(self, token: str) -> User | None:
        with closing(self._db()) as db:
            row = db.execute("SELECT u.name, u.role FROM tokens t JOIN users u ON u.name = t.name "
                             "WHERE t.digest=?", (_digest(token),)).fetchone()
        return User(*row) if row else None

    # ------------------------------------------------------------------ audit
    def audit(self, user: str | None, remote: str | None, action: str, image_id: str | None = None,
              **detail: Any) -> None:
        with closing(self._db()) as db, db:
            db.execute("INSERT INTO audit (time, user, remote, action, image_id, detail) VALUES (?,?,?,?,?,?)",
                       (_now(), user, remote, action, image_id, json.dumps(detail, default=str)))

    def log(self, limit: int | None = None) -> list[dict[str, Any]]:
        q = "SELECT id, time, user, remote, action, image_id, detail FROM audit ORDER BY id"
        with closing(self._db()) as db:
            rows = db.execute(q + (f" DESC LIMIT {int(limit)}" if limit else "")).fetchall()
        rows = sorted(rows) if limit else rows
        keys = ("id", "time", "user", "remote", "action", "image_id", "detail")
        return [{**dict(zip(keys, r, strict=True)), "detail": json.loads(r[6] or "{}")} for r in rows]


_DUMMY: dict[int, str] = {}


def _dummy_hash(hasher) -> str:
    if id(hasher) not in _DUMMY:
        _DUMMY[id(hasher)] = hasher.hash(secrets.token_hex(16))
    return _DUMMY[id(hasher)]


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise DermasegError(f"user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise DermasegError(f"role {role!r}: expected one of {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise DermasegError(f"password: at least {MIN_PASSWORD} characters")


class Sessions:
    """Browser sessions in memory (a restart logs everyone out): random id -> (user, expiry)."""

    def __init__(self, ttl_s: float = 12 * 3600.0) -> None:
        self.ttl_s = float(ttl_s)
        self._s: dict[str, tuple[User, float]] = {}
        self._lock = threading.Lock()

    def new(self, user: User) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._s = {k: v for k, v in self._s.items() if v[1] > now}
            self._s[sid] = (user, now + self.ttl_s)
        return sid

    def get(self, sid: str | None) -> User | None:
        if not sid:
            return None
        with self._lock:
            v = self._s.get(sid)
            if v is None or v[1] < time.monotonic():
                self._s.pop(sid, None)
                return None
            return v[0]

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._s.pop(sid or "", None)


class LoginLimiter:
    """Failed logins: after ``max_failures`` within ``window_s`` from one address or for one name, further
    attempts are refused (429) until the window has passed."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures, self.window_s = int(max_failures), float(window_s)
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        xs = [t for t in self._fails.get(key, ()) if now - t < self.window_s]
        self._fails[key] = xs
        return xs

    def retry_after(self, *keys: str) -> int:
        """Seconds until a login for these keys is allowed again (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = [self.window_s - (now - xs[-self.max_failures]) for k in keys
                     if len(xs := self._recent(k, now)) >= self.max_failures]
        return int(max(waits) + 1) if waits else 0

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)
