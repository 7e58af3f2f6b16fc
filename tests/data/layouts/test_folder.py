"""Folder pairs: mask suffixes, labels.csv (labels, duplicates, split and group)."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset

SIZE = (40, 52)


def _kinds(ds):
    return Counter(p.kind for p in ds.problems)


@pytest.mark.parametrize("suffix", ["", "_mask", "_segmentation", "_lesion"])
def test_folder_mask_suffixes(tmp_path, suffix):
    root = write_dataset(tmp_path / "f", "folder", n=3, size=SIZE, mask_suffix=suffix)
    ds = load_dataset(root)
    assert len(ds) == 3 and all(s.mask is not None for s in ds) and not ds.problems


def test_folder_labels_csv_and_duplicates(tmp_path):
    root = write_dataset(tmp_path / "f", "folder", n=4, size=SIZE, labels=True)
    ds = load_dataset(root)
    assert [s.label for s in ds] == ["melanoma", "nevus"] * 2
    shutil.copy(root / "images" / "case_000.jpg", root / "images" / "case_000.png")
    assert _kinds(load_dataset(root)) == {"duplicate_id": 1}


def test_folder_labels_csv_split_and_group(tmp_path):
    root = write_dataset(tmp_path / "f", "folder", n=4, size=SIZE)
    (root / "labels.csv").write_text("image,dx,lesion_id,split\ncase_000.jpg,Seborrheic Keratosis,L1,train\n"
                                     "case_001.jpg,nv,L1,train\ncase_002.jpg,nv,L2,validation\n"
                                     "case_003.jpg,MEL,L3,test\n")
    ds = load_dataset(root)
    assert [s.label for s in ds] == ["seborrheic_keratosis", "nv", "nv", "mel"]
    assert [s.group for s in ds] == ["L1", "L1", "L2", "L3"]
    assert ds.splits_present == ("train", "val", "test")


# ---- metadata.csv: users' own image id / lesion id / diagnosis table ------------------------------------

def _meta(root, text: str, name: str = "metadata.csv", encoding: str = "utf-8", newline: str = "\n") -> None:
    (root / name).write_bytes(text.replace("\n", newline).encode(encoding))


@pytest.mark.parametrize("header", ["image_id,lesion_id,dx", "Image ID,Lesion ID,Diagnosis",
                                    "IMAGE,LESION,LABEL", "file_name,patient_id,class", "id;lesion-id;dx",
                                    "image\tgroup\tdiagnosis"])
def test_folder_metadata_header_spellings(tmp_path, header):
    root = write_dataset(tmp_path / "f", "folder", n=4, size=SIZE)
    sep = ";" if ";" in header else "\t" if "\t" in header else ","
    rows = [("case_000.jpg", "L1", "mel"), ("case_001", "L1", "MEL"), ("case_002.jpg", "L2", "Nevus"),
            ("case_003", "", "nv")]
    _meta(root, header + "\n" + "\n".join(sep.join(r) for r in rows) + "\n")
    ds = load_dataset(root)
    assert [s.group for s in ds] == ["L1", "L1", "L2", "case_003"]  # an empty lesion id: the image alone
    assert [s.label for s in ds] == ["mel", "mel", "nevus", "nv"]
    assert not ds.problems and ds.sources["metadata"].endswith("metadata.csv")


@pytest.mark.parametrize("encoding,newline", [("utf-8-sig", "\r\n"), ("utf-8-sig", "\n"), ("utf-8", "\r\n"),
                                              ("utf-16", "\r\n")])
def test_folder_metadata_bom_and_crlf(tmp_path, encoding, newline):
    root = write_dataset(tmp_path / "f", "folder", n=2, size=SIZE)
    _meta(root, "image_id,lesion_id,dx\ncase_000,L1,mel\ncase_001,L1,nv\n", encoding=encoding, newline=newline)
    ds = load_dataset(root)
    assert [(s.id, s.group, s.label) for s in ds] == [("case_000", "L1", "mel"), ("case_001", "L1", "nv")]
    assert not ds.problems


def test_folder_metadata_bad_rows_are_problems(tmp_path):
    root = write_dataset(tmp_path / "f", "folder", n=4, size=SIZE)
    _meta(root, "image_id,lesion_id,dx\ncase_000,L1,mel,extra,fields\ncase_001,L1,nv\ncase_001,L9,nv\n"
                ",L3,nv\ncase_002,L2,bcc,\nghost,L4,nv\n")
    ds = load_dataset(root)
    got = sorted((p.kind, p.where.rsplit("/", 1)[-1]) for p in ds.problems)
    assert got == [("bad_table_row", "metadata.csv:2"), ("bad_table_row", "metadata.csv:5"),
                   ("duplicate_id", "case_001"), ("image_without_label", "case_000.jpg"),
                   ("image_without_label", "case_003.jpg"), ("metadata_without_image", "ghost")]
    by = ds.by_id()
    assert by["case_000"].label is None and by["case_001"].group == "L1"  # first row of a duplicate wins
    assert by["case_002"].label == "bcc"  # a trailing empty field (Excel) is not an extra field


@pytest.mark.parametrize("text,message", [
    ("lesion_id,dx\nL1,mel\n", "no image id column"),
    ("", "no image id column"),
])
def test_folder_metadata_unusable_table_is_one_error(tmp_path, text, message):
    from dermaseg.errors import DataError

    root = write_dataset(tmp_path / "f", "folder", n=2, size=SIZE)
    _meta(root, text)
    with pytest.raises(DataError, match=message) as e:
        load_dataset(root)
    assert "metadata.csv" in str(e.value) and "\n" not in str(e.value)


def test_metadata_without_lesion_or_diagnosis_columns_is_read_for_what_it_has(tmp_path, capsys):
    """PH2's ph2_dev metadata.csv (dermatologists' labels, no lesion id): never a refusal; one lesion per
    image, said once."""
    from dermaseg.data.check import check_dataset

    root = write_dataset(tmp_path / "f", "folder", n=2, size=SIZE)
    _meta(root, "image_id,age,asymmetry\ncase_000,40,1\ncase_001,52,0\n")
    ds = load_dataset(root)
    assert len(ds.samples) == 2 and all(s.group in (None, s.id) for s in ds.samples)
    assert all(s.label is None for s in ds.samples)
    load_dataset(root)
    err = capsys.readouterr().err
    assert err.count("no lesion id column") == 1 and "one lesion per image" in err
    assert not [p for p in check_dataset(root).problems if "metadata" in p.kind]
    _meta(root, "image_id,clinical_diagnosis\ncase_000,melanoma\ncase_001,common_nevus\n")
    assert {s.label for s in load_dataset(root).samples} == {"melanoma", "common_nevus"}


def test_folder_metadata_not_utf8_is_one_error(tmp_path):
    from dermaseg.errors import DataError

    root = write_dataset(tmp_path / "f", "folder", n=2, size=SIZE)
    (root / "metadata.csv").write_bytes("image_id,dx\ncase_000,naevus café\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"metadata.csv: not UTF-8 text \(line 2, byte 0xe9\)"):
        load_dataset(root)


def test_folder_metadata_preferred_to_labels_csv_and_bad_split(tmp_path):
    root = write_dataset(tmp_path / "f", "folder", n=2, size=SIZE, labels=True)
    _meta(root, "image_id,dx,split\ncase_000,bcc,training\ncase_001,bcc,holdout\n")
    ds = load_dataset(root)
    assert [s.label for s in ds] == ["bcc", "bcc"] and [s.split for s in ds] == ["train", None]
    assert [(p.kind, p.detail) for p in ds.problems] == [("bad_table_row", "split 'holdout' is not train, val "
                                                                            "or test")]


def test_folder_metadata_groups_the_splits_and_holdout(tmp_path):
    """The point of the table: folds and the training hold-out never split a lesion, and are stratified by
    its diagnosis."""
    from dermaseg.data.splits import holdout, make_splits

    root = write_dataset(tmp_path / "f", "folder", n=12, size=SIZE)
    lines = [f"case_{i:03d},L{i // 3},{'mel' if i < 6 else 'nv'}" for i in range(12)]  # 4 lesions of 3 images
    _meta(root, "image_id,lesion_id,dx\n" + "\n".join(lines) + "\n")
    ds = load_dataset(root)
    splits = make_splits(ds, folds=2, seed=0)
    for f in splits.folds:
        lesions = {ds.by_id()[x].group for x in f["val"]}
        assert len(lesions) == 2 and sorted(f["val"]) == sorted(s.id for s in ds if s.group in lesions)
    assert sorted(splits.class_counts[0].items()) == [("mel", 3), ("nv", 3)]  # one lesion of each diagnosis
    kept, held = holdout(list(ds), 0.25, seed=0)
    assert {s.group for s in kept}.isdisjoint({s.group for s in held}) and len(held) == 3
