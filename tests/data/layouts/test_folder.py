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
