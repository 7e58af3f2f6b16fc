"""Bad-input catalogue, datasets: every layout broken the ways downloads and hand-made folders break (masks
of another size, missing masks, orphan masks, metadata tables with BOM/CRLF/UTF-16, missing columns, extra
fields, bad encodings, non-numeric or missing ISIC Part 3 values, an empty dataset). `data check` reports
each as a problem naming the file (exit 1) or refuses in one line (exit 2), never a traceback and never
"OK" for a broken dataset; `evaluate` and `train` refuse before writing anything."""

from __future__ import annotations

import shutil

import pytest

from dermaseg.data.synthetic import write_dataset

from .files import _png, lesion
from .harness import assert_ok, assert_refused, run_cli, snapshot

LAYOUTS = {"folder": {"labels": True}, "isic2016": {}, "isic2017": {}, "isic2018": {}, "ham10000": {}, "ph2": {}}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return {name: write_dataset(root / name, name, n=4, size=(48, 64), **opts) for name, opts in LAYOUTS.items()}


def _first(root, pattern):
    return sorted(root.glob(pattern))[0]


def _small_mask(path):
    path.write_bytes(_png(lesion(10, 12)[1].astype("uint8") * 255))
    return path


def _put(p, data):
    p.write_bytes(data)
    return p


def _table(text, encoding="utf-8", newline="\n"):
    return text.replace("\n", newline).encode(encoding)


FOLDER_META = "image_id,lesion_id,diagnosis\ncase_000,L1,melanoma\ncase_001,L1,melanoma\ncase_002,L2,nevus\ncase_003,L3,nevus\n"


def _meta(ds, data):
    (ds / "labels.csv").unlink(missing_ok=True)
    p = ds / "metadata.csv"
    p.write_bytes(data)
    return p


def _replace_line(path, old, new):
    path.write_text(path.read_text().replace(old, new, 1))
    return path


# case -> (layout, breaker(ds) -> the file the output must name (or None), expected outcome)
#   outcome: "ok" (exit 0), "problem" (exit 1, the file named), "refused" (exit 2, one line naming the file)
CASES = {
    # folder pairs
    "folder-size-mismatch": ("folder", lambda ds: _small_mask(ds / "masks" / "case_000.png"), "problem"),
    "folder-missing-mask": ("folder", lambda ds: (ds / "masks" / "case_000.png").unlink() or
                            ds / "images" / "case_000.jpg", "problem"),
    "folder-orphan-mask": ("folder", lambda ds: _small_mask(ds / "masks" / "case_999.png"), "problem"),
    "folder-empty": ("folder", lambda ds: [p.unlink() for p in ds.rglob("*.*")] and None, "refused-or-problem"),
    "folder-no-pairs-at-all": ("folder", lambda ds: [shutil.rmtree(ds / d) for d in ("images", "masks")] and None,
                               "refused-or-problem"),
    "meta-bom": ("folder", lambda ds: _meta(ds, b"\xef\xbb\xbf" + _table(FOLDER_META)) and None, "ok"),
    "meta-crlf": ("folder", lambda ds: _meta(ds, _table(FOLDER_META, newline="\r\n")) and None, "ok"),
    "meta-bom-crlf-semicolons": ("folder", lambda ds: _meta(ds, b"\xef\xbb\xbf" + _table(
        FOLDER_META.replace(",", ";"), newline="\r\n")) and None, "ok"),
    "meta-utf16": ("folder", lambda ds: _meta(ds, _table(FOLDER_META, "utf-16")) and None, "ok"),
    "meta-header-spellings": ("folder", lambda ds: _meta(ds, _table(FOLDER_META.replace(
        "image_id,lesion_id,diagnosis", "Image ID,Lesion-ID,dx"))) and None, "ok"),
    "meta-no-id-column": ("folder", lambda ds: _meta(ds, _table(FOLDER_META.replace("image_id", "picture"))),
                          "refused"),
    # read for what it has (issue 30: PH2-like tables never block a dataset): one lesion per image
    "meta-only-id-column": ("folder", lambda ds: _meta(ds, b"image_id\ncase_000\ncase_001\n") and None, "ok"),
    "meta-extra-fields": ("folder", lambda ds: _meta(ds, _table(FOLDER_META.replace(
        "case_002,L2,nevus", "case_002,L2,nevus,oops,more"))), "problem"),
    "meta-missing-fields": ("folder", lambda ds: _meta(ds, _table(FOLDER_META.replace(
        "case_002,L2,nevus", "case_002"))), "problem"),
    "meta-duplicate-id": ("folder", lambda ds: _meta(ds, _table(FOLDER_META + "case_000,L9,nevus\n")), "problem"),
    "meta-unknown-image": ("folder", lambda ds: _meta(ds, _table(FOLDER_META + "case_777,L9,nevus\n")),
                           "problem"),
    "meta-latin1": ("folder", lambda ds: _meta(ds, _table(FOLDER_META.replace("nevus", "nævus"), "latin-1")),
                    "refused"),
    "meta-binary": ("folder", lambda ds: _meta(ds, bytes(range(256)) * 4), "refused"),
    "meta-empty-file": ("folder", lambda ds: _meta(ds, b""), "refused"),
    "meta-header-only": ("folder", lambda ds: _meta(ds, b"image_id,lesion_id,diagnosis\n") and None, "problem"),
    # ISIC 2016-2018
    "isic2017-part3-non-numeric": ("isic2017", lambda ds: _replace_line(
        ds / "ISIC-2017_Training_Part3_GroundTruth.csv", "ISIC_0000000,1.0,0.0", "ISIC_0000000,yes,0.0"), "problem"),
    "isic2017-part3-missing-value": ("isic2017", lambda ds: _replace_line(
        ds / "ISIC-2017_Training_Part3_GroundTruth.csv", "ISIC_0000000,1.0,0.0", "ISIC_0000000,,0.0"), "problem"),
    "isic2017-part3-extra-fields": ("isic2017", lambda ds: _replace_line(
        ds / "ISIC-2017_Training_Part3_GroundTruth.csv", "ISIC_0000000,1.0,0.0", "ISIC_0000000,1.0,0.0,9"),
        "problem"),
    "isic2017-part3-short-row": ("isic2017", lambda ds: _replace_line(
        ds / "ISIC-2017_Training_Part3_GroundTruth.csv", "ISIC_0000000,1.0,0.0", "ISIC_0000000"), "problem"),
    "isic2017-part3-missing-columns": ("isic2017", lambda ds: _replace_line(
        ds / "ISIC-2017_Training_Part3_GroundTruth.csv", "image_id,melanoma,seborrheic_keratosis", "image_id,foo,bar"),
        "refused-or-problem"),
    "isic2017-part3-crlf-bom": ("isic2017", lambda ds: (lambda p: p.write_bytes(
        b"\xef\xbb\xbf" + p.read_bytes().replace(b"\n", b"\r\n")))(
        ds / "ISIC-2017_Training_Part3_GroundTruth.csv") and None, "ok"),
    "isic2017-missing-mask": ("isic2017", lambda ds: (lambda p: p.unlink() or p)(
        _first(ds, "ISIC-2017_Training_Part1_GroundTruth/*.png")), "problem-any"),
    "isic2017-size-mismatch": ("isic2017", lambda ds: _small_mask(
        _first(ds, "ISIC-2017_Training_Part1_GroundTruth/*.png")), "problem"),
    "isic2016-part3-garbage": ("isic2016", lambda ds: (lambda p: p.write_text("ISIC_0000000,maybe\n,,\n"))(
        ds / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv") and ds / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
        "problem"),
    "isic2016-missing-mask": ("isic2016", lambda ds: (lambda p: p.unlink() or p)(
        _first(ds, "ISBI2016_ISIC_Part1_Training_GroundTruth/*.png")), "problem-any"),
    "isic2018-size-mismatch": ("isic2018", lambda ds: _small_mask(
        _first(ds, "ISIC2018_Task1_Training_GroundTruth/*.png")), "problem"),
    "isic2018-missing-mask": ("isic2018", lambda ds: (lambda p: p.unlink() or p)(
        _first(ds, "ISIC2018_Task1_Training_GroundTruth/*.png")), "problem-any"),
    # HAM10000
    "ham-metadata-extra-fields": ("ham10000", lambda ds: _replace_line(
        ds / "HAM10000_metadata.csv", "back\n", "back,extra,fields\n"), "problem"),
    "ham-metadata-no-dx": ("ham10000", lambda ds: _replace_line(
        ds / "HAM10000_metadata.csv", "lesion_id,image_id,dx,", "lesion_id,image_id,diagnosis_x,"),
        "refused-or-problem"),
    "ham-metadata-latin1": ("ham10000", lambda ds: (lambda p: _put(p, p.read_bytes().replace(
        b"back", "bäck".encode("latin-1"))))(ds / "HAM10000_metadata.csv"), "refused"),
    "ham-missing-mask": ("ham10000", lambda ds: (lambda p: p.unlink() or p)(
        _first(ds, "HAM10000_segmentations_lesion_tschandl/*.png")), "problem-any"),
    "ham-size-mismatch": ("ham10000", lambda ds: _small_mask(
        _first(ds, "HAM10000_segmentations_lesion_tschandl/*.png")), "problem"),
    # PH2
    "ph2-missing-lesion": ("ph2", lambda ds: (lambda p: p.unlink() or p)(
        _first(ds, "PH2 Dataset images/*/*_lesion/*.bmp")), "problem-any"),
    "ph2-txt-garbled": ("ph2", lambda ds: (ds / "PH2_dataset.xlsx").unlink() or _put(
        ds / "PH2_dataset.txt", b"\x00\xff garbage \xfe" * 20) and None, "refused-or-problem"),
}


def _apply(clean, tmp_path, case):
    layout, breaker, expected = CASES[case]
    ds = shutil.copytree(clean[layout], tmp_path / layout)
    named = breaker(ds)
    return ds, named, expected


@pytest.mark.parametrize("case", list(CASES))
def test_broken_dataset_in_data_check(clean, tmp_path, capsys, case):
    ds, named, expected = _apply(clean, tmp_path, case)
    before = snapshot(ds)
    o = run_cli(["data", "check", ds], capsys)
    last = o.out.strip().splitlines()[-1] if o.out.strip() else ""
    if expected == "ok":
        assert_ok(o, 0)
        assert last.startswith("OK")
    elif expected == "refused":
        assert_refused(o, str(named))
    else:
        if expected == "refused-or-problem" and o.code == 2:
            assert_refused(o, [str(ds), "error:"])
        else:
            assert_ok(o, 1)
            assert not last.startswith("OK"), "a broken dataset checked OK"
            if named is not None and expected != "problem-any":
                assert named.name in o.out, f"{named.name} not named in:\n{o.out}"
            elif named is not None:  # a missing mask: its image or its id is named
                assert named.name.split("_")[0] in o.out or named.stem.split("_")[1] in o.out
    assert snapshot(ds) == before


EVAL_CASES = ["folder-size-mismatch", "folder-empty", "meta-no-id-column", "meta-latin1", "ham-size-mismatch"]


@pytest.mark.parametrize("case", EVAL_CASES)
@pytest.mark.parametrize("command", ["evaluate", "train"])  # (train leaves out images without masks)
def test_broken_dataset_in_evaluate_and_train(clean, tmp_path, capsys, case, command):
    ds, named, expected = _apply(clean, tmp_path, case)
    before = snapshot(ds)
    out = tmp_path / "out"
    argv = (["evaluate", "--data", ds, "--out", out, "--no-report"] if command == "evaluate" else
            ["train", "--data", ds, "--out", out, "--epochs", "1", "--image-size", "32", "--on-error", "stop"])
    o = run_cli(argv, capsys)
    if command == "evaluate" and "warning: skipped:" in o.err:  # one image's problem: --on-error skip
        assert o.code == 0 and o.exc is None and str(named) in o.err  # (the default) reports it, goes on
    else:
        assert_refused(o, [str(named)] if named is not None else [str(ds)])
        assert not out.exists(), "partial output left"
    assert snapshot(ds) == before


def test_train_says_which_images_it_leaves_out(clean, tmp_path, capsys):
    """Images without a mask cannot be trained on: train leaves them out and says so (a warning naming the
    first). Stopped right after by `--folds 1` (refused once the dataset is read), so nothing trains."""
    ds, named, _ = _apply(clean, tmp_path, "folder-missing-mask")
    o = run_cli(["train", "--data", ds, "--out", tmp_path / "run", "--folds", "1"], capsys)
    assert_refused(o, "--folds 1")
    warnings = [line for line in o.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(named) in warnings[0] and "1 image(s)" in warnings[0]
    assert not (tmp_path / "run").exists()
