"""The command line's contract: a DermasegError is one line and exit code 2, usage errors exit 2,
`python -m dermaseg` is the same command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dermaseg.cli import main


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr()


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    code, cap = _run(["data", "check", str(tmp_path / "absent")], capsys)
    assert code == 2 and cap.err.startswith("error: ") and str(tmp_path / "absent") in cap.err
    assert len(cap.err.strip().splitlines()) == 1 and "Traceback" not in cap.err


def test_usage_errors_exit_2(capsys):
    code, cap = _run(["segment"], capsys)  # missing argument
    assert code == 2 and "Missing" in cap.err
    code, cap = _run(["no-such-command"], capsys)
    assert code == 2 and "No such command" in cap.err


def test_python_dash_m_is_the_command():
    done = subprocess.run([sys.executable, "-m", "dermaseg", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in ("models", "data", "segment", "evaluate", "train", "sweep", "report"):
        assert command in done.stdout
