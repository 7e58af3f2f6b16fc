"""The pipelined local segment (decode threads, the model, finishing threads) against the one-after-another
run on real images: the same files byte for byte, the same results.csv in the same order, the same failures;
--skip-existing over a pipelined run; the default thread split."""

from __future__ import annotations

import csv
import shutil

import pytest

from dermaseg.inference.segment import segment_files
from dermaseg.inference.segment_pipeline import ThreadSplit, thread_split


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


@pytest.mark.realdata
@pytest.mark.slow
def test_pipelined_outputs_identical_to_sequential(shared_data, tmp_path):
    val = sorted((shared_data / "isic2017" / "ISIC-2017_Validation_Data").glob("*.jpg"))[:5]
    ph2 = sorted((shared_data / "ph2_dev" / "images").glob("*.jpg"))[:2]
    if len(val) < 5 or len(ph2) < 2:
        pytest.skip("ISIC 2017 validation / PH2 images not found")
    src = tmp_path / "in"
    src.mkdir()
    for f in [*val, *ph2]:
        shutil.copy(f, src / f.name)
    (src / "ISIC_0000000_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")  # fails in both runs
    split = ThreadSplit(model=1, decode=2, finish=3)
    seq = segment_files([src], tmp_path / "seq", pipeline=False, threads=split, echo=False, progress=False)
    pipe = segment_files([src], tmp_path / "pipe", threads=split, echo=False, progress=False)
    assert seq.segmented == pipe.segmented == 7 and len(seq.failed) == len(pipe.failed) == 1
    assert "ISIC_0000000_broken.jpg" in pipe.failed[0] and seq.failed == pipe.failed
    names = sorted(p.name for p in (tmp_path / "seq").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "pipe").iterdir()) and len(names) == 7 * 3 + 1
    for n in names:
        if n.endswith(".png"):
            assert (tmp_path / "seq" / n).read_bytes() == (tmp_path / "pipe" / n).read_bytes(), n
    rows = _rows(tmp_path / "pipe" / "results.csv")
    assert rows == _rows(tmp_path / "seq" / "results.csv")
    assert [r["image"].rsplit("/", 1)[-1] for r in rows] == sorted(f.name for f in [*val, *ph2])  # input order
    line = pipe.line()
    assert "images/s whole command" in line and "model time" in line and "backend torch" in line
    assert 0 < pipe.model_seconds <= pipe.seconds

    # --skip-existing over the pipelined run: nothing redone; a missing output redoes only its image
    again = segment_files([src], tmp_path / "pipe", threads=split, skip_existing=True, echo=False, progress=False)
    assert again.skipped == 7 and again.segmented == 0 and len(again.failed) == 1
    (tmp_path / "pipe" / f"{val[2].stem}_prob.png").unlink()
    again = segment_files([src], tmp_path / "pipe", threads=split, skip_existing=True, echo=False, progress=False)
    assert again.skipped == 6 and again.segmented == 1
    assert (tmp_path / "pipe" / f"{val[2].stem}_prob.png").read_bytes() == \
        (tmp_path / "seq" / f"{val[2].stem}_prob.png").read_bytes()
    assert _rows(tmp_path / "pipe" / "results.csv") == rows


def test_default_thread_split():
    assert thread_split(1) == ThreadSplit(model=1, decode=1, finish=1)
    assert thread_split(2) == ThreadSplit(model=1, decode=1, finish=1)
    assert thread_split(4) == ThreadSplit(model=2, decode=1, finish=1)
    assert thread_split(8) == ThreadSplit(model=5, decode=1, finish=2)
    assert thread_split(16) == ThreadSplit(model=9, decode=2, finish=5)
    assert thread_split(64) == ThreadSplit(model=16, decode=8, finish=21)
    assert thread_split(2, batch=4).batch == 4 and thread_split(2).depth == 6
