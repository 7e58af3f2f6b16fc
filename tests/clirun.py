"""Run the ``dermaseg`` CLI in-process for tests: the exit code and what it printed."""

from __future__ import annotations

import pytest

from dermaseg.cli import main


def run_cli(args, capsys):
    """``dermaseg ARGS`` in this process -> (exit code, capsys's captured out/err)."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return e.value.code, capsys.readouterr()


def run_cli_out_err(args, capsys) -> tuple[int, str, str]:
    """``dermaseg ARGS`` in this process -> (exit code, stdout, stderr)."""
    code, cap = run_cli(args, capsys)
    return code, cap.out, cap.err
