"""A real `dermaseg train` process killed with SIGKILL, then `--resume`d, ends where an uninterrupted run ends.

The in-process resume test (test_trainer_loop.py) stops the trainer between epochs; this one kills the
operating-system process at whatever instruction it is on, so it also covers the atomic checkpoint
writes and the command line's resume path.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dermaseg.data.synthetic import write_dataset

pytestmark = pytest.mark.slow

ARGS = ["--recipe", "default", "--model", "unet-tiny", "--image-size", "64", "--batch-size", "2",
        "--epochs", "4", "--seed", "5"]


def _train(data, out, *extra):
    """Start `dermaseg train` in its own process; its output goes to a file (a pipe nobody reads can fill)."""
    cmd = [sys.executable, "-m", "dermaseg", "train", "--data", str(data), "--out", str(out), *ARGS, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    log = open(f"{out}.log", "a")  # the child holds it; tmp_path removes it
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def _log(out) -> str:
    return open(f"{out}.log").read()[-2000:]


def _epochs_done(out) -> int:
    hist = out / "history.csv"
    if not hist.is_file():
        return 0
    return len(list(csv.DictReader(hist.open())))


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    data = write_dataset(tmp_path / "data", "folder", n=40, size=(64, 64), seed=4)

    straight = tmp_path / "straight"
    p = _train(data, straight)
    assert p.wait(timeout=300) == 0, _log(straight)

    killed = tmp_path / "killed"
    p = _train(data, killed)
    deadline = time.monotonic() + 300
    while _epochs_done(killed) < 1 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # into the next epoch
    assert p.poll() is None, "the run finished before it could be killed; make its epochs longer"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done = _epochs_done(killed)
    assert 1 <= done < 4 and not (killed / "metrics.json").exists()
    # whatever the kill interrupted, the file under the final name is a complete checkpoint
    # (history.csv and last.pt are written one after the other, so their epochs may differ by one)
    assert 1 <= torch.load(killed / "last.pt", weights_only=True)["training"]["epoch"] < 4

    p = _train(data, killed, "--resume")
    assert p.wait(timeout=300) == 0, _log(killed)

    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(killed / "last.pt", weights_only=True)
    assert a["training"]["epoch"] == b["training"]["epoch"] == 4
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    rows = list(csv.DictReader((killed / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["train_loss"] for r in rows] == [
        r["train_loss"] for r in csv.DictReader((straight / "history.csv").open())]
    assert (killed / "metrics.json").is_file() and (killed / "best.pt").is_file()
