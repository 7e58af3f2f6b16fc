"""Every usage error of the command line (unknown option or command, missing argument or option, bad value)
is one line on stderr and exit code 2, in process and as a real subprocess; `--version` prints the version."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dermaseg
from dermaseg.cli import main

CASES = [
    (["segment", "x.png"], "Missing option '--out'", "dermaseg segment --help"),
    (["--versio"], "No such option: --versio", "dermaseg --help"),
    (["segment", "--bogus"], "No such option: --bogus", "dermaseg segment --help"),
    (["no-such-command"], "No such command 'no-such-command'", "dermaseg --help"),
    (["segment"], "Missing argument", "dermaseg segment --help"),
    (["segment", "x.png", "--out", "o", "--device"], "requires an argument", "--help"),
    (["evaluate", "--data", "d", "--out", "o", "--limit", "abc"], "Invalid value for '--limit'", "evaluate --help"),
    (["data", "split", "d", "--out", "s.json", "--folds", "1"], "Invalid value for '--folds'", "data split --help"),
    (["train", "--data", "d", "--out", "o", "--epochs", "0"], "Invalid value for '--epochs'", "train --help"),
]


def _in_process(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Usage:" not in err
    return lines[0]


@pytest.mark.parametrize("argv, message, hint", CASES)
def test_usage_error_in_process(argv, message, hint, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _in_process(argv, capsys)
    line = _one_line(err)
    assert code == 2 and line.startswith("error: ") and message in line and hint in line
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("argv, message, hint", CASES[:4])
def test_usage_error_in_a_real_subprocess(argv, message, hint, tmp_path):
    done = subprocess.run([sys.executable, "-m", "dermaseg", *argv], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    line = _one_line(done.stderr)
    assert done.returncode == 2 and line.startswith("error: ") and message in line and hint in line


def test_version(capsys):
    code, out, err = _in_process(["--version"], capsys)
    assert code == 0 and out.strip() == f"dermaseg {dermaseg.__version__}" and not err
    done = subprocess.run([sys.executable, "-m", "dermaseg", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"dermaseg {dermaseg.__version__}"


def test_no_arguments_shows_the_help(capsys):
    code, out, err = _in_process([], capsys)
    assert code == 2 and "segment" in err + out and "Traceback" not in err
