"""``dermaseg train --nproc N``: start ``torchrun`` on this machine for the user.

The command runs ``python -m torch.distributed.run --nnodes 1 --nproc-per-node N --master-addr 127.0.0.1
--master-port <a free port> -m dermaseg train <the same options>``: N processes of the very command the
user typed (without ``--nproc``), which then train as one DDP run (:mod:`dermaseg.training.distributed`).
On CPU the processes talk over the loopback interface (``GLOO_SOCKET_IFNAME``, unless already set). For
several machines run ``torchrun`` yourself (docs/scaling.md).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from dermaseg.errors import DermasegError

__all__ = ["free_port", "loopback_interface", "torchrun_command", "launch_torchrun"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``host`` now (the OS's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def loopback_interface() -> str | None:
    """The loopback interface's name (``lo`` on Linux, ``lo0`` on macOS), or None."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:  # pragma: no cover - platforms without if_nameindex
        return None
    return next((n for n in names if n in ("lo", "lo0")), None)


def torchrun_command(nproc: int, args: list[str], port: int | None = None) -> list[str]:
    """The torchrun command line that runs ``dermaseg <args>`` in ``nproc`` processes on this machine."""
    port = free_port() if port is None else port
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
            "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "dermaseg", *args]


def launch_torchrun(nproc: int, args: list[str]) -> int:
    """Run ``dermaseg <args>`` under torchrun with ``nproc`` processes; returns torchrun's exit code."""
    if nproc < 1:
        raise DermasegError(f"--nproc {nproc}: give at least 1 process")
    env = dict(os.environ)
    lo = loopback_interface()
    if lo is not None:
        env.setdefault("GLOO_SOCKET_IFNAME", lo)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    print(f"torchrun: {nproc} processes on this machine (127.0.0.1)", flush=True)
    return subprocess.call(torchrun_command(nproc, args), env=env)
