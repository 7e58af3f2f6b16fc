"""--executor ray for `train --folds` and `sweep` (training/ray_runs.py, ray_cluster.py): the trial resources,
the one-line error without Ray, and a 2-fold CV and a 2-point sweep on a local Ray cluster on 127.0.0.1
(2 CPUs) whose files and tables equal the local executor's; a restart skips the finished runs."""

from __future__ import annotations

import csv
import json
import sys

import pytest
import torch

from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DermasegError
from dermaseg.ray_cluster import require_ray
from dermaseg.training import recipes
from dermaseg.training import sweep as sweep_mod
from dermaseg.training.ray_runs import trial_resources
from tests.clirun import run_cli

TINY = ["--model", "unet-tiny", "--image-size", "64", "--batch-size", "4", "--epochs", "1", "--device", "cpu"]


def test_trial_resources_take_a_gpu_where_there_are_gpus():
    assert trial_resources(4, 2, None) == {"cpu": 1.0, "gpu": 1.0}
    assert trial_resources(4, 2, "cuda") == {"cpu": 1.0, "gpu": 1.0}
    assert trial_resources(4, 2, "cpu") == {"cpu": 2.0}  # --device cpu keeps runs off the GPUs
    assert trial_resources(0, 3, None) == {"cpu": 3.0}


def test_without_ray_the_executor_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(DermasegError, match=r"^--executor ray: Ray is not installed \(ray\); "
                                            r"pip install 'dermaseg\[ray\]'$"):
        require_ray()
    data = write_dataset(tmp_path / "data", "folder", n=6, size=(64, 64), seed=1)
    for args in (["train", "--data", str(data), "--out", str(tmp_path / "cv"), "--folds", "2", *TINY],
                 ["sweep", "--data", str(data), "--grid", "melseg", "--folds", "2", "--out", str(tmp_path / "sw"),
                  "--epochs", "1"]):
        code, cap = run_cli([*args, "--executor", "ray"], capsys)
        assert code == 2
        assert cap.err.strip() == "error: --executor ray: Ray is not installed (ray); pip install 'dermaseg[ray]'"
        assert "Traceback" not in cap.err
    code, cap = run_cli(["train", "--data", str(data), "--out", str(tmp_path / "cv"), "--folds", "2", *TINY,
                         "--executor", "spark"], capsys)
    assert code == 2 and cap.err.strip() == "error: --executor spark: choose local or ray"


# ---- on a local Ray cluster ---------------------------------------------------------------------------------


def _rows(path):
    return list(csv.DictReader(path.open()))


def _assert_same_numbers(a, b, tol=1e-6):
    """Two tables/dicts equal: numbers to ``tol``, everything else exactly; wall-clock times (keys with
    "seconds") only present in both."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            if "seconds" not in k:
                _assert_same_numbers(a[k], b[k], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same_numbers(x, y, tol)
    else:
        try:
            fa, fb = float(a), float(b)
        except (TypeError, ValueError):
            assert a == b
            return
        assert fa == pytest.approx(fb, abs=tol, nan_ok=True)


def _same_run_folder(local, remote):
    """The per-fold files of a run made on Ray equal the local executor's (metrics to 1e-6)."""
    names = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert names == {p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file()
                     and ".ray_tune" not in p.parts}
    for fold in sorted(local.glob("fold_*")):
        m_l = json.loads((fold / "metrics.json").read_text())
        m_r = json.loads((remote / fold.name / "metrics.json").read_text())
        _assert_same_numbers(m_l["summary"], m_r["summary"])
        _assert_same_numbers(_rows(fold / "per_image.csv"), _rows(remote / fold.name / "per_image.csv"))
        a = torch.load(fold / "best.pt", weights_only=True)["state_dict"]
        b = torch.load(remote / fold.name / "best.pt", weights_only=True)["state_dict"]
        assert max(float((v.double() - b[k].double()).abs().max()) for k, v in a.items()
                   if v.is_floating_point()) < 1e-6


@pytest.mark.slow
def test_cv_on_ray_equals_the_local_executor_and_resumes(ray_local, tmp_path, capsys):
    data = write_dataset(tmp_path / "data", "folder", n=12, size=(64, 64), seed=5)
    local, remote = tmp_path / "local", tmp_path / "ray"
    code, cap = run_cli(["train", "--data", str(data), "--out", str(local), "--folds", "2", *TINY], capsys)
    assert code == 0, cap.err
    code, cap = run_cli(["train", "--data", str(data), "--out", str(remote), "--folds", "2", *TINY,
                         "--executor", "ray"], capsys)
    assert code == 0, cap.err
    assert "ray: 2 runs as Tune trials, 1 CPU(s) each" in cap.out
    assert cap.out.count("[1/2]") == 1 and cap.out.count("[2/2]") == 1  # progress, one line per finished run
    _assert_same_numbers(_rows(local / "cv_table.csv"), _rows(remote / "cv_table.csv"))
    s_l = json.loads((local / "cv_summary.json").read_text())
    s_r = json.loads((remote / "cv_summary.json").read_text())
    _assert_same_numbers(s_l, s_r)
    _same_run_folder(local, remote)
    assert (remote / ".ray_tune").is_dir()  # Tune's bookkeeping beside, not instead of, the run folders
    # a restart finds both folds finished: no trial runs, the tables stay
    before = (remote / "cv_table.csv").read_bytes()
    code, cap = run_cli(["train", "--data", str(data), "--out", str(remote), "--folds", "2", *TINY,
                         "--executor", "ray"], capsys)
    assert code == 0, cap.err
    assert cap.out.count("finished earlier, skipped") == 2 and "Tune trials" not in cap.out
    assert (remote / "cv_table.csv").read_bytes() == before


@pytest.mark.slow
def test_sweep_on_ray_equals_the_local_executor(ray_local, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sweep_mod.GRIDS, "mini", ("default", {"loss": ("dicece", "focal"), "lr": (1e-3,)}))
    monkeypatch.setitem(recipes.RECIPES, "default", recipes.RECIPES["default"].override(
        input_size=(64, 64), batch_size=4))
    data = write_dataset(tmp_path / "data", "folder", n=10, size=(64, 64), seed=7)
    tables = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        code, cap = run_cli(["sweep", "--data", str(data), "--grid", "mini", "--folds", "2", "--out", str(out),
                             "--model", "unet-tiny", "--epochs", "1", "--device", "cpu", "--executor", executor],
                            capsys)
        assert code == 0, cap.err
        tables[executor] = _rows(out / "sweep_table.csv")
    assert [r["loss"] for r in tables["ray"]] == ["dicece", "focal"]
    assert all(r["folds_done"] == "2" for r in tables["ray"])
    _assert_same_numbers(tables["local"], tables["ray"])
    for point in ("dicece-lr0.001", "focal-lr0.001"):
        _same_run_folder(tmp_path / "local" / point, tmp_path / "ray" / point)
