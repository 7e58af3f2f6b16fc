"""load_dataset on every synthetic layout, layout variants, format overrides, and the real layouts."""

from __future__ import annotations

from collections import Counter

import pytest

from dermaseg.data.dataset import LABEL_VOCABULARY
from dermaseg.data.readers import detect_format, load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DataError

SIZE = (40, 52)


def _kinds(ds):
    return Counter(p.kind for p in ds.problems)


@pytest.mark.parametrize("layout,n,splits,labels", [
    ("folder", 4, (), ()),
    ("ham10000", 6, (), None),
    ("isic2016", 4, ("train", "test"), ("benign", "malignant")),
    ("isic2017", 6, ("train", "val", "test"), ("melanoma", "nevus", "seborrheic_keratosis")),
    ("isic2018", 6, ("train", "val", "test"), ()),
    ("ph2", 6, (), ("atypical_nevus", "common_nevus", "melanoma")),
])
def test_every_synthetic_layout(tmp_path, layout, n, splits, labels):
    root = write_dataset(tmp_path / layout, layout, n=n, size=SIZE)
    assert detect_format(root) == layout
    ds = load_dataset(root)
    assert ds.format == layout and len(ds) == n and not ds.problems
    assert ds.splits_present == splits
    assert all(s.mask is not None and s.image.is_file() and s.mask.is_file() for s in ds)
    assert len({s.id for s in ds}) == n
    if labels is not None:
        assert ds.labels == labels
    assert set(ds.labels) <= set(LABEL_VOCABULARY[layout]) or layout == "folder"
    assert load_dataset(root, format=layout).samples == ds.samples


def test_format_override_errors(tmp_path):
    root = write_dataset(tmp_path / "i17", "isic2017", n=3, size=SIZE)
    with pytest.raises(DataError, match="PH2 Dataset images.*looks like isic2017"):
        load_dataset(root, format="ph2")
    with pytest.raises(DataError, match="ISIC 2016"):
        load_dataset(root, format="isic2016")
    with pytest.raises(DataError, match="unknown dataset format"):
        load_dataset(root, format="isic2019")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot tell the dataset layout"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing")


@pytest.mark.realdata
def test_real_isic2017(shared_data):
    ds = load_dataset(shared_data / "isic2017")
    assert ds.format == "isic2017" and not ds.problems
    assert Counter(s.split for s in ds) == {"train": 2000, "val": 150}
    assert Counter(s.label for s in ds.select("train")) == {"nevus": 1372, "melanoma": 374,
                                                            "seborrheic_keratosis": 254}
    assert Counter(s.label for s in ds.select("val")) == {"nevus": 78, "seborrheic_keratosis": 42, "melanoma": 30}


@pytest.mark.realdata
def test_real_ham10000(shared_data):
    ds = load_dataset(shared_data / "ham10000")
    assert ds.format == "ham10000" and len(ds) == 5 and all(s.mask is not None for s in ds)
    assert len(ds.records) == 10015 and len({r.group for r in ds.records}) == 7470
    assert Counter(p.kind for p in ds.problems) == {"metadata_without_image": 10010}
    assert Counter(r.label for r in ds.records) == {"nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514,
                                                    "akiec": 327, "vasc": 142, "df": 115}
