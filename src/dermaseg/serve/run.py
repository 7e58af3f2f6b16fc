"""``dermaseg serve``: load the models, bind the socket, print the URL, run uvicorn until interrupted."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.serve import security as sec
from dermaseg.serve.app import create_app
from dermaseg.serve.auth import UserDB
from dermaseg.serve.security import LOOPBACK_HOSTS

__all__ = ["serve", "is_loopback", "bind", "allowed_hosts"]


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1 addresses."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port), or DermasegError."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        raise DermasegError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from e
    sock.setblocking(False)
    return sock


def allowed_hosts(host: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The Host names the server answers to: loopback names, the ``--host`` address itself when it is a
    specific one (not 0.0.0.0 / ::), and every ``--allowed-host``."""
    names = list(LOOPBACK_HOSTS)
    if host.strip("[]") not in ("0.0.0.0", "::", ""):
        names.append(host.strip("[]"))
    return names + [h for h in extra if h]


def serve(host: str = "127.0.0.1", port: int = 8000, model: Any = "default", sam: Any = "litemedsam-derm",
          max_upload_mb: float = 50, cache_mb: float = 2048, device: str | None = None,
          threads: int | None = None, log_level: str = "warning", backend: str = "torch",
          workspace: Any = None, auth: bool = False, users: str | None = None,
          allowed_host: list[str] | tuple[str, ...] = (), max_pixels: int | None = None,
          request_timeout_s: float | None = None, max_active: int | None = None,
          ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> None:
    """Serve the app and the API on ``host:port`` (blocks). Prints the URL once the socket listens.

    ``auth``: accounts required (``users``: the accounts file, default ``W/users.sqlite`` of the
    workspace); refused without it on any address but loopback. ``ssl_certfile``/``ssl_keyfile``:
    HTTPS (uvicorn's TLS)."""
    import uvicorn

    if max_upload_mb <= 0 or cache_mb <= 0:
        raise DermasegError("--max-upload-mb and --cache-mb must be positive")
    if not is_loopback(host) and not auth:
        raise DermasegError(f"--host {host}: reachable by others; run it with --auth (accounts: dermaseg "
                            "users add NAME --role ROLE --users FILE) or keep --host 127.0.0.1")
    if auth and not users and workspace is not None:
        users = str(Path(workspace) / "users.sqlite")
    if auth and not users:
        raise DermasegError("--auth needs the accounts: --users FILE (or --workspace W: W/users.sqlite)")
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise DermasegError("give both --ssl-certfile and --ssl-keyfile")
    for opt, v in (("--max-pixels", max_pixels), ("--request-timeout", request_timeout_s),
                   ("--max-active", max_active)):
        if v is not None and not v > 0:
            raise DermasegError(f"{opt} must be positive")
    if users:
        if not UserDB(users).list():
            raise DermasegError(f"{users}: no accounts yet (dermaseg users add NAME --role admin --users {users})")
    sock = bind(host, port)  # fail fast, before the models load
    hosts = allowed_hosts(host, allowed_host)
    if not is_loopback(host) and not allowed_host:
        print(f"note: answering only to Host {', '.join(hosts)}; add the name clients use with "
              "--allowed-host NAME", file=sys.stderr)
    print(f"loading models: {model} (automatic), {sam or 'none'} (prompted), backend {backend}...", flush=True)
    app = create_app(model, sam, max_upload_mb=max_upload_mb, cache_mb=cache_mb, device=device, threads=threads,
                     backend=backend, workspace=workspace, allowed_hosts=hosts, users=users if auth else None,
                     max_pixels=max_pixels or sec.DEFAULT_MAX_PIXELS,
                     request_timeout_s=request_timeout_s or sec.DEFAULT_REQUEST_TIMEOUT_S,
                     max_active=max_active or sec.DEFAULT_MAX_ACTIVE)
    h, p = sock.getsockname()[:2]
    shown = f"[{h}]" if ":" in h else h
    scheme = "https" if ssl_certfile else "http"
    mode = "accounts required" if auth else "local, no accounts"
    kept = f"workspace {workspace}: every mask and review is kept" if workspace is not None else \
        "no --workspace: nothing is kept after the server stops"
    print(f"dermaseg serve: {scheme}://{shown}:{p}/  ({mode}; API: /api, docs: /docs; Ctrl+C stops; {kept})",
          flush=True)
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5,
                            ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    uvicorn.Server(config).run(sockets=[sock])
