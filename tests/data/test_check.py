"""check_dataset finds each problem kind on broken synthetic copies, never writes, and the CLI exit codes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dermaseg.cli import app, main
from dermaseg.data.check import check_dataset
from dermaseg.data.synthetic import write_dataset

SIZE = (40, 52)


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def _kinds(report):
    return {k: len(v) for k, v in report.by_kind().items()}


@pytest.fixture
def folder(tmp_path):
    return write_dataset(tmp_path / "f", "folder", n=4, size=SIZE, labels=True)


def test_clean_dataset_ok(folder):
    rep = check_dataset(folder, progress=False)
    assert rep.ok and rep.format == "folder"
    assert rep.counts == {"all": {"images": 4, "masks": 4, "labelled": 4}}
    assert rep.sizes == {"52x40": 4}
    assert rep.classes["all"] == {"melanoma": 2, "nevus": 2}


def _save_mask(path: Path, a: np.ndarray) -> None:
    Image.fromarray(a).save(path)


BREAKERS = {
    "image_without_mask": lambda r: (r / "masks/case_000.png").unlink(),
    "mask_without_image": lambda r: shutil.copy(r / "masks/case_000.png", r / "masks/stray.png"),
    "unreadable": lambda r: (r / "images/case_001.jpg").write_bytes(
        (r / "images/case_001.jpg").read_bytes()[:400]),
    "size_mismatch": lambda r: _save_mask(r / "masks/case_002.png", np.full((20, 26), 255, np.uint8) * (
        np.arange(26)[None, :] < 10)),
    "empty_mask": lambda r: _save_mask(r / "masks/case_003.png", np.zeros(SIZE, np.uint8)),
    "full_mask": lambda r: _save_mask(r / "masks/case_003.png", np.full(SIZE, 255, np.uint8)),
    "non_binary_mask": lambda r: _save_mask(r / "masks/case_001.png",
                                            (np.arange(SIZE[1])[None, :].repeat(SIZE[0], 0) % 3 * 100)
                                            .astype(np.uint8)),
    "duplicate_id": lambda r: shutil.copy(r / "images/case_000.jpg", r / "images/case_000.png"),
    "image_without_label": lambda r: (r / "labels.csv").write_text("id,label\ncase_000,nevus\ncase_001,nevus\n"
                                                                   "case_002,nevus\n"),
}


@pytest.mark.parametrize("kind", sorted(BREAKERS))
def test_each_problem_kind_found(folder, kind):
    BREAKERS[kind](folder)
    before = _tree_hash(folder)
    rep = check_dataset(folder, progress=False)
    assert _tree_hash(folder) == before  # never modifies the data
    assert not rep.ok
    assert _kinds(rep) == {kind: 1}, rep.problems


def test_garbage_image_and_mask_unreadable(folder):
    (folder / "images/case_002.jpg").write_bytes(b"not an image at all")
    (folder / "masks/case_003.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rep = check_dataset(folder, progress=False)
    assert _kinds(rep) == {"unreadable": 2}


def test_metadata_rows_without_image_summarised(tmp_path):
    root = write_dataset(tmp_path / "h", "ham10000", n=4, size=SIZE, extra_metadata=25)
    rep = check_dataset(root, progress=False)
    assert _kinds(rep) == {"metadata_without_image": 25} and rep.n_records == 29
    line = rep.summary_line("metadata_without_image", rep.by_kind()["metadata_without_image"])
    assert "25 of 29 metadata rows have no image here (4 present" in line
    assert rep.classes["metadata"]["nv"] >= 1


def test_cli_data_check_exit_codes(tmp_path, folder):
    runner = CliRunner()
    res = runner.invoke(app, ["data", "check", str(folder)])
    assert res.exit_code == 0, res.output
    assert "folder" in res.output and "no problems" in res.output
    root = write_dataset(tmp_path / "h", "ham10000", n=3, size=SIZE, extra_metadata=15)
    before = _tree_hash(root)
    res = runner.invoke(app, ["data", "check", str(root)])
    assert res.exit_code == 1
    assert "15 of 18 metadata rows" in res.output and "5 more (--verbose" in res.output
    res = runner.invoke(app, ["data", "check", str(root), "--verbose"])
    assert res.exit_code == 1 and "ISIC_0090014" in res.output and "more (--verbose" not in res.output
    assert _tree_hash(root) == before


def test_cli_wrong_format_one_line_error(tmp_path, capsys):
    root = write_dataset(tmp_path / "h", "ham10000", n=2, size=SIZE)
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", str(root), "--format", "ph2"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: --format ph2:") and "looks like ham10000" in err


@pytest.mark.realdata
def test_real_isic2017_clean(shared_data):
    rep = check_dataset(shared_data / "isic2017", progress=False)
    assert rep.ok, rep.problems[:5]
    assert rep.counts["train"]["images"] == 2000 and rep.counts["val"]["masks"] == 150
    assert rep.sizes == {"256x192": 2150}


@pytest.mark.realdata
def test_real_ham10000_partial(shared_data):
    rep = check_dataset(shared_data / "ham10000", progress=False)
    assert _kinds(rep) == {"metadata_without_image": 10010} and rep.sizes == {"600x450": 5}


@pytest.mark.parametrize("layout", ["folder", "isic2018", "ph2"])
def test_empty_dataset_is_not_ok(tmp_path, layout):
    """An empty copy (the folders of a layout, no image in them) never checks OK."""
    root = write_dataset(tmp_path / "d", layout, n=3, size=SIZE)
    for p in sorted(root.rglob("*"), reverse=True):
        if p.is_file() and p.suffix.lower() in (".jpg", ".png", ".bmp"):
            p.unlink()
        elif p.is_dir() and layout == "ph2" and p.parent.name == "PH2 Dataset images":
            shutil.rmtree(p)
    rep = check_dataset(root, progress=False)
    assert not rep.ok and _kinds(rep)["no_images"] == 1  # (PH2's label table then lists absent images too)
    res = CliRunner().invoke(app, ["data", "check", str(root)])
    assert res.exit_code == 1 and "no images found: 1" in res.output and "OK" not in res.output
