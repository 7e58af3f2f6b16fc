"""The HAM10000 layout: groups by lesion, labels, both image parts, Kaggle's lower-case names."""

from __future__ import annotations

from collections import Counter

from dermaseg.data.dataset import LABEL_VOCABULARY
from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset

SIZE = (40, 52)


def _kinds(ds):
    return Counter(p.kind for p in ds.problems)


def test_ham10000_groups_labels_parts(tmp_path):
    root = write_dataset(tmp_path / "ham", "ham10000", n=8, size=SIZE, extra_metadata=3)
    ds = load_dataset(root)
    assert {s.image.parent.name for s in ds} == {"HAM10000_images_part_1", "HAM10000_images_part_2"}
    groups = Counter(s.group for s in ds)
    assert max(groups.values()) > 1  # several images share a lesion_id
    assert all(s.group.startswith("HAM_") and s.label in LABEL_VOCABULARY["ham10000"] for s in ds)
    # metadata rows without image: problems and records, not a crash
    assert len(ds) == 8 and len(ds.records) == 11 and ds.metadata_only
    assert _kinds(ds) == {"metadata_without_image": 3}
    # the metadata table alone is a dataset too
    only = load_dataset(root / "HAM10000_metadata.csv")
    assert len(only.records) == 11


def test_ham10000_lowercase_kaggle_names(tmp_path):
    root = write_dataset(tmp_path / "ham", "ham10000", n=4, size=SIZE)
    for d in list(root.iterdir()):
        if d.is_dir():
            d.rename(root / d.name.lower())
    ds = load_dataset(root)
    assert len(ds) == 4 and all(s.mask is not None for s in ds) and not ds.problems
