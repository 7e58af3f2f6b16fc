"""Run one ``dermaseg`` command in-process and judge it by the bad-input contract: no traceback, one
``error: <file or option>: <problem>`` line naming the file or option, the right exit code, no partial
output, and every input file byte-identical before and after."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from dermaseg.cli import main

__all__ = ["Outcome", "run_cli", "snapshot", "assert_refused", "assert_ok", "error_lines"]


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    exc: str | None  # an exception that escaped main(): what a terminal would show as a traceback


def run_cli(argv: list, capsys) -> Outcome:
    """``dermaseg ARGV`` in this process: exit code, stdout, stderr, and any exception that escaped."""
    capsys.readouterr()
    code, exc = None, None
    try:
        main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - anything else is the traceback a user would see
        exc = f"{type(e).__name__}: {e}"
    cap = capsys.readouterr()
    return Outcome(code, cap.out, cap.err, exc)


def snapshot(*paths: Path) -> dict[str, str]:
    """sha256 of every file (and the target of every link) under ``paths``: inputs must not change."""
    digest: dict[str, str] = {}
    for root in paths:
        root = Path(root)
        items = [root] if not root.is_dir() or root.is_symlink() else sorted(root.rglob("*"))
        for p in items:
            if p.is_symlink():
                digest[os.fsdecode(p)] = "link:" + os.readlink(p)
            elif p.is_file():
                digest[os.fsdecode(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.is_dir():
                digest[os.fsdecode(p)] = "dir"
    return digest


def error_lines(o: Outcome) -> list[str]:
    """The error lines: dermaseg's ``error: ...``, or click's ``Error: Invalid value for '--x' ...`` of a usage
    error (its Usage/Try lines around it are click's; `cli.main` owns their format)."""
    return [line for line in (o.err + o.out).splitlines() if line.startswith(("error:", "Error:"))]


def _no_traceback(o: Outcome) -> None:
    assert o.exc is None, f"an exception escaped (a traceback on a terminal): {o.exc}"
    assert "Traceback" not in o.err + o.out, o.err[-2000:]


def assert_refused(o: Outcome, names: str | list[str], code: int = 2) -> str:
    """Refused: exit ``code``, exactly one ``error:`` line, naming one of ``names``. Returns the line."""
    _no_traceback(o)
    assert o.code == code, f"exit {o.code}, expected {code}; stderr: {o.err[-1500:]!r} stdout: {o.out[-500:]!r}"
    lines = error_lines(o)
    assert len(lines) == 1, f"expected one error line, got {lines!r} (stderr {o.err[-1500:]!r})"
    names = [names] if isinstance(names, str) else names
    assert any(n in lines[0] for n in names), f"{lines[0]!r} names none of {names!r}"
    return lines[0]


def assert_ok(o: Outcome, code: int = 0) -> None:
    _no_traceback(o)
    assert o.code == code, f"exit {o.code}, expected {code}; stderr: {o.err[-1500:]!r}"
