"""The server's hardening, as ASGI middleware and small checks (no authentication: see :mod:`.auth`).

- :class:`Guard`: the ``Host`` header must name this server (loopback names by default, more with
  ``--allowed-host``: DNS rebinding), a state-changing request (anything but GET/HEAD/OPTIONS) that a
  browser sent from another site is refused (its ``Origin``, else its ``Referer``, must be this server:
  CSRF), and every answer carries the security headers (:data:`SECURITY_HEADERS`, a CSP without inline
  script).
- :class:`WorkLimit`: a bounded work queue. Requests that run a model or decode an image (uploads,
  prompts, masks, measurements) beyond ``max_active`` at once are answered 429 with ``Retry-After``
  (an estimate from recent service times) instead of letting latency grow without bound.
- :class:`Busy`: a request that waited longer than the per-request limit for a model is answered 503 with
  ``Retry-After`` (:class:`~dermaseg.serve.engine.Engine` raises it).
- :func:`check_upload_size`: the upload limit, exact (the body limit leaves room for the multipart
  envelope; this counts the file's own bytes).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from dermaseg.errors import DermasegError

__all__ = ["Guard", "WorkLimit", "Busy", "TooLarge", "LOOPBACK_HOSTS", "SECURITY_HEADERS", "host_name",
           "check_upload_size", "DEFAULT_MAX_PIXELS", "DEFAULT_REQUEST_TIMEOUT_S", "DEFAULT_MAX_ACTIVE"]

#: host names a server on loopback answers to (plus ``--allowed-host``)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: the largest image decoded (width × height): big dermoscopic photographs are ~30 MP; an 8000×8000
#: one-bit PNG of 8 KB (64 MP) would cost seconds and hundreds of MB, and is refused from its header
DEFAULT_MAX_PIXELS = 40_000_000
#: longest a request waits for a model before it is answered 503
DEFAULT_REQUEST_TIMEOUT_S = 30.0
#: model/decoding requests handled at once; beyond that 429 + Retry-After
DEFAULT_MAX_ACTIVE = 16

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'")
#: the interactive API docs (/docs, /redoc) are third-party pages with one inline script each
_DOCS_CSP = _CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'")
SECURITY_HEADERS = {
    "content-security-policy": _CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Busy(DermasegError):
    """The server is at its limit: answered 503 with ``Retry-After`` (seconds)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = int(retry_after)


class TooLarge(DermasegError):
    """An upload over the limit: answered 413."""


def host_name(value: str | None) -> str:
    """``Host``-header or URL authority -> the lower-case host name without port or brackets."""
    v = (value or "").strip().lower()
    if v.startswith("["):
        return v[1:v.find("]")] if "]" in v else v[1:]
    if v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


async def send_json(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in {**SECURITY_HEADERS, **(headers or {})}.items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: Host allow-list, same-origin check on state-changing requests, security headers.

    ``allowed_hosts``: host names (no port) this server answers to; ``"*"`` allows any (not advised).
    A request without ``Origin`` and ``Referer`` (curl, scripts) passes the origin check: browsers send
    ``Origin`` on every cross-site POST/PUT/DELETE, and scripts authenticate with a bearer token.
    """

    def __init__(self, app, allowed_hosts=LOOPBACK_HOSTS) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed_hosts}

    def host_ok(self, host: str) -> bool:
        return "*" in self.allowed or host_name(host) in self.allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        host = headers.get("host", "")
        if not self.host_ok(host):
            return await send_json(send, 400, f"host '{host_name(host)[:80]}' is not allowed: this server "
                                    "answers to " + ", ".join(sorted(self.allowed)) + " (dermaseg serve "
                                    "--allowed-host NAME adds one)")
        if scope.get("method", "GET").upper() not in SAFE_METHODS:
            origin = headers.get("origin") or headers.get("referer")
            if origin is not None and not self._same_site(origin, host):
                return await send_json(send, 403, "cross-site request refused: the Origin/Referer is not "
                                        "this server (CSRF protection)")
        csp = _DOCS_CSP if scope.get("path", "") in ("/docs", "/redoc") else _CSP
        extra = [(k.encode(), v.encode()) for k, v in {**SECURITY_HEADERS, "content-security-policy": csp}.items()]

        async def send_with_headers(msg):
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers") or []}
                msg = {**msg, "headers": list(msg.get("headers") or []) + [h for h in extra if h[0] not in have]}
            await send(msg)

        await self.app(scope, receive, send_with_headers)

    def _same_site(self, origin: str, host: str) -> bool:
        """``origin`` (an Origin or Referer URL) names this server: same host[:port] as ``Host``, or an
        allowed host name. ``Origin: null`` (sandboxed frames, file: pages) is never same-site."""
        if origin.strip().lower() == "null":
            return False
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            return False
        if not netloc:
            return False
        return netloc == host.strip().lower()


def _heavy(method: str, path: str) -> bool:
    """Requests that decode an image or run a model."""
    if not path.startswith("/api/"):
        return False
    if path.endswith("/measurements"):
        return True
    return method in ("POST", "PUT") and (path.startswith("/api/images") or path == "/api/segment")


class WorkLimit:
    """ASGI middleware: at most ``max_active`` heavy requests at once; more are answered 429 with a
    ``Retry-After`` estimated from the last 50 service times. ``stats()`` counts refusals."""

    def __init__(self, app, max_active: int = DEFAULT_MAX_ACTIVE) -> None:
        self.app, self.max_active = app, max(1, int(max_active))
        self.active = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._times: deque[float] = deque(maxlen=50)

    def retry_after(self) -> int:
        mean = sum(self._times) / len(self._times) if self._times else 1.0
        return int(min(60, max(1, math.ceil(mean * self.active / max(1, self.max_active) + mean))))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not _heavy(scope.get("method", "GET").upper(), scope.get("path", "")):
            return await self.app(scope, receive, send)
        with self._lock:
            full = self.active >= self.max_active
            if full:
                self.refused += 1
            else:
                self.active += 1
        if full:
            return await send_json(send, 429, f"server busy: {self.max_active} requests are being worked "
                                    "on; retry after the time in Retry-After",
                                    {"retry-after": str(self.retry_after())})
        t0 = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self.active -= 1
                self._times.append(time.monotonic() - t0)

    def stats(self) -> dict[str, Any]:
        return {"active": self.active, "max_active": self.max_active, "refused_429": self.refused}


def check_upload_size(fileobj, limit_bytes: int, label: str) -> None:
    """Refuse (413, :class:`TooLarge`) an uploaded file of more than ``limit_bytes`` bytes, exactly."""
    try:
        pos = fileobj.tell()
        fileobj.seek(0, 2)
        size = fileobj.tell()
        fileobj.seek(pos)
    except (OSError, AttributeError):
        return
    if size > limit_bytes:
        raise TooLarge(f"upload too large: {size} bytes, the limit is {label} ({limit_bytes} bytes; "
                       "dermaseg serve --max-upload-mb)")
