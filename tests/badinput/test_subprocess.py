"""A few of the catalogue's cases as real processes: what reaches a terminal is one line and an exit code,
never a traceback (the in-process cases cannot see what the interpreter prints on an escaped exception)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .files import broken_images, write


def _dermaseg(*args, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    argv = [os.fsencode(sys.executable), b"-m", b"dermaseg", *[a if isinstance(a, bytes) else os.fsencode(str(a))
                                                               for a in args]]
    return subprocess.run(argv, capture_output=True, timeout=300, env=env, cwd=cwd)


def _one_line(done, code, name: bytes):
    err = done.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in done.stderr + done.stdout, err
    assert done.returncode == code, (done.returncode, err)
    # a progress bar (tqdm, carriage returns) may stand before the error; the rest is the one line
    lines = [line.rsplit(b"\r", 1)[-1].strip() for line in done.stderr.splitlines()]
    lines = [line for line in lines if line and b"%|" not in line]
    assert len(lines) == 1 and lines[0].startswith(b"error: ") and name in lines[0], err


def test_corrupt_metrics_json_in_report(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_bytes(b"\xff\xfe{")
    _one_line(_dermaseg("report", run), 2, os.fsencode(run / "metrics.json"))


def test_torch_unpickling_error_is_one_line(tmp_path):
    import pickle

    import torch

    model = tmp_path / "model.pt"
    torch.save({"config": {"name": "default"}, "state_dict": {}, "extra": {"x": pickle.PickleError("x")}}, model)
    from .files import _png, lesion

    image = write(tmp_path / "a.png", _png(lesion()[0]))
    _one_line(_dermaseg("segment", image, "--out", tmp_path / "out", "--model", model), 2, os.fsencode(model))
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file names of arbitrary bytes: Linux")
def test_bomb_with_a_non_utf8_name_in_evaluate(tmp_path):
    from dermaseg.data.synthetic import write_dataset

    ds = write_dataset(tmp_path / "ds", "folder", n=2, size=(48, 64))
    (ds / "images" / "case_000.jpg").unlink()
    (ds / "masks" / "case_000.png").rename(os.fsdecode(ds / "masks" / os.fsdecode(b"b\xffd.png")))
    bad = write(ds / "images" / os.fsdecode(b"b\xffd.png"), broken_images()["bomb-header"][1])
    done = _dermaseg("evaluate", "--data", ds, "--out", tmp_path / "out", "--no-report", "--on-error", "stop")
    # stderr writes the undecodable byte as Python's escape (b\udcffd.png): the name is still there
    _one_line(done, 2, os.fsencode(bad.parent) + b"/b\\udcffd.png")
    assert not (tmp_path / "out").exists()
