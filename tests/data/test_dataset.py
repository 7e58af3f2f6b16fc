"""The Dataset container: splits, the mask filter of training."""

from __future__ import annotations

import pytest

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DataError

SIZE = (40, 52)


def test_select_errors_on_absent_split(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "f", "folder", n=2, size=SIZE))
    assert len(ds.select("auto")) == 2 and len(ds.select("all")) == 2
    with pytest.raises(DataError, match="no 'val' split"):
        ds.select("val")


def test_with_masks_is_the_one_training_filter(tmp_path):
    root = write_dataset(tmp_path / "f", "folder", n=3, size=SIZE)
    first = sorted((root / "masks").iterdir())[0]
    first.unlink()
    ds = load_dataset(root)
    kept = ds.with_masks()
    assert [s.id for s in kept] == [s.id for s in ds.samples if s.mask is not None] and len(kept) == 2
    assert len(ds) == 3 and kept.root == ds.root and kept.format == ds.format  # a copy; the dataset unchanged
    for m in (root / "masks").iterdir():
        m.unlink()
    with pytest.raises(DataError, match="no image with a mask to train on"):
        load_dataset(root).with_masks()
