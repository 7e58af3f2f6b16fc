"""``dermaseg serve``: load the models, bind the socket, print the URL, run uvicorn until interrupted."""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.serve.app import create_app

__all__ = ["serve", "is_loopback", "bind"]


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


def serve(host: str = "127.0.0.1", port: int = 8000, model: Any = "default", sam: Any = "litemedsam",
          max_upload_mb: float = 50, cache_mb: float = 2048, device: str | None = None,
          threads: int | None = None, log_level: str = "warning", backend: str = "torch",
          workspace: Any = None) -> None:
    """Serve the app and the API on ``host:port`` (blocks). Prints the URL once the socket listens."""
    import uvicorn

    if max_upload_mb <= 0 or cache_mb <= 0:
        raise DermasegError("--max-upload-mb and --cache-mb must be positive")
    sock = bind(host, port)  # fail fast, before the models load
    if not is_loopback(host):
        print(f"warning: listening on {host}: dermaseg serve has no authentication; anyone who can reach "
              "this address can upload images and read every result", file=sys.stderr)
    print(f"loading models: {model} (automatic), {sam or 'none'} (prompted), backend {backend}...", flush=True)
    app = create_app(model, sam, max_upload_mb=max_upload_mb, cache_mb=cache_mb, device=device, threads=threads,
                     backend=backend, workspace=workspace)
    h, p = sock.getsockname()[:2]
    shown = f"[{h}]" if ":" in h else h
    kept = f"workspace {workspace}: every mask and review is kept" if workspace is not None else \
        "no --workspace: nothing is kept after the server stops"
    print(f"dermaseg serve: http://{shown}:{p}/  (API: /api, docs: /docs; Ctrl+C stops; {kept})", flush=True)
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
