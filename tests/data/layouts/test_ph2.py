"""The PH2 layout: labels from the .txt or .xlsx table, nested in its parent folder, no labels."""

from __future__ import annotations

from collections import Counter

import pytest

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset

SIZE = (40, 52)


def _kinds(ds):
    return Counter(p.kind for p in ds.problems)


@pytest.mark.parametrize("meta", ["txt", "xlsx"])
def test_ph2_labels_from_txt_or_xlsx(tmp_path, meta):
    root = write_dataset(tmp_path / "ph2", "ph2", n=6, size=SIZE, ph2_meta=meta)
    ds = load_dataset(root)
    assert [s.label for s in ds] == ["common_nevus", "atypical_nevus", "melanoma"] * 2
    assert ds.samples[0].image.suffix == ".bmp" and ds.samples[0].mask.name == "IMD002_lesion.bmp"


def test_ph2_nested_in_parent_and_no_labels(tmp_path):
    write_dataset(tmp_path / "dl" / "PH2Dataset", "ph2", n=3, size=SIZE, ph2_meta="none")
    ds = load_dataset(tmp_path / "dl")
    assert ds.format == "ph2" and len(ds) == 3 and ds.labels == ()
