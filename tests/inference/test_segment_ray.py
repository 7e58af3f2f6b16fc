"""`dermaseg segment --executor ray` (inference/segment_ray.py): the one-line error without Ray, and on a local
2-CPU Ray cluster on 127.0.0.1, 20 synthetic images (and one broken file) segmented by 2 Ray Data actors
give every output file byte for byte and results.csv (all but `seconds`) as the local executor; the broken
image fails alone (named, exit 1); `--skip-existing` re-runs only what is missing; a worker that cannot
start stops the run with one line naming why."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from dermaseg.data.inputs import SegmentJob
from dermaseg.data.synthetic import make_image
from dermaseg.errors import DermasegError
from dermaseg.inference.segment import segment_files
from dermaseg.inference.segment_image import SegmentOptions
from dermaseg.inference.segment_ray import PredictorSpec, segment_on_ray
from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model
from tests.clirun import run_cli

N = 20


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _files(out: Path) -> dict[str, bytes]:
    """Every output file but results.csv, by its path below ``out``."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "results.csv"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """20 synthetic 64×80 lesions in a folder (and a sub-folder), one broken PNG, and a saved unet-tiny whose
    fixed random weights give masks of every size (a model file: the actors load it by path)."""
    root = tmp_path_factory.mktemp("segray")
    images = root / "in"  # not "images": a folder beside nothing but "images/" reads as a folder-pairs dataset
    (images / "sub").mkdir(parents=True)
    for i in range(N):
        folder = images / "sub" if i % 4 == 0 else images
        Image.fromarray(make_image(64, 80, seed=100 + i)[0]).save(folder / f"im{i:02d}.png")
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    torch.manual_seed(0)
    model = root / "tiny.pt"
    save_model(create_model("unet-tiny", pretrained=False, input_size=(64, 64)), model)
    return images, model


def test_without_ray_segment_says_what_to_install(monkeypatch, inputs, tmp_path, capsys):
    images, model = inputs
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, cap = run_cli(["segment", str(images), "--out", str(tmp_path / "out"), "--model", str(model),
                         "--executor", "ray"], capsys)
    assert code == 2
    assert cap.err.strip() == "error: --executor ray: Ray is not installed (ray); pip install 'dermaseg[ray]'"
    assert not (tmp_path / "out").exists()  # checked before anything is made
    code, cap = run_cli(["segment", str(images), "--out", str(tmp_path / "out"), "--model", str(model),
                         "--executor", "spark"], capsys)
    assert code == 2 and cap.err.strip() == "error: --executor spark: choose local or ray"


# ---- on a local Ray cluster ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_segment_on_ray_equals_the_local_executor_and_resumes(ray_local, inputs, tmp_path, capsys):
    images, model = inputs
    common = ["segment", str(images), "-r", "--model", str(model), "--measure"]
    local, remote = tmp_path / "local", tmp_path / "ray"
    code, cap_l = run_cli([*common, "--out", str(local)], capsys)
    assert code == 1  # the broken image
    code, cap = run_cli([*common, "--out", str(remote), "--executor", "ray", "--workers", "2"], capsys)
    assert code == 1, cap.err
    assert f"ray: {N + 1} images on 2 worker(s), 1 CPU(s) each" in cap.err
    # the broken image fails alone, named, as locally; the summary is the local run's
    assert cap.err.count("error: ") == 1 and f"error: {images / 'broken.png'}" in cap.err
    assert f"{N + 1} images: {N} segmented, 0 skipped (already done), 1 failed" in cap.out
    assert cap_l.out.split(";")[0] == cap.out.split(";")[0]
    assert "1 of 21 images failed" in cap.err and "Traceback" not in cap.err

    want = _files(local)
    assert len(want) == 3 * N and not any(k.startswith("broken") for k in want)
    assert _files(remote) == want  # every mask, probability map and overlay byte for byte
    rows_l, rows_r = _rows(local), _rows(remote)
    assert len(rows_r) == N and {r["lesion_area_px"] for r in rows_r} != {"0"}  # masks, not all empty
    assert _without_seconds(rows_r) == _without_seconds(rows_l)  # incl. the --measure columns, in job order
    assert all(float(r["seconds"]) > 0 for r in rows_r)

    # resume: three images lose an output, one its row; only those four run again (on Ray), plus the broken one
    (remote / "im01_mask.png").unlink()
    (remote / "im02_prob.png").unlink()
    (remote / "sub" / "im04_overlay.png").unlink()
    kept = [r for r in rows_r if r["output"] != "im03"]
    with open(remote / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows_r[0]))
        w.writeheader()
        w.writerows(kept)
    before = {r["output"]: r["seconds"] for r in kept}
    summary = segment_files([images], remote, model=str(model), recursive=True, measure_masks=True,
                            skip_existing=True, executor="ray", workers=2, progress=True)
    cap = capsys.readouterr()
    err = cap.err
    assert (summary.segmented, summary.skipped, len(summary.failed)) == (4, N - 4, 1)
    assert f"{N + 1}/{N + 1}" in err  # the progress bar counted every image, skipped ones included
    assert "ray: 5 images on 2 worker(s)" in err  # only what is not done goes to the cluster
    assert f"{N + 1} images: 4 segmented, {N - 4} skipped (already done), 1 failed" in cap.out
    assert _files(remote) == want
    rows = _rows(remote)
    assert _without_seconds(rows) == _without_seconds(rows_l)
    redone = {r["output"] for r in rows if before.get(r["output"]) != r["seconds"]}
    assert redone == {"im01", "im02", "im03", "sub/im04"}  # the others kept their rows (and seconds)


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_run_in_one_line(ray_local, tmp_path):
    # a model file the driver could read but a node cannot (here: none can): one line naming the cause
    spec = PredictorSpec(str(tmp_path / "absent.pt"))
    jobs = [SegmentJob(tmp_path / "a.png", "a")]
    with pytest.raises(DermasegError, match=r"^--executor ray: a segment worker failed \(.*absent\.pt: model file "
                                            r"not found\); the finished images are kept, rerun with --skip-existing"):
        list(segment_on_ray(spec, jobs, [None], SegmentOptions(out=tmp_path, model_name="m"), workers=1))
