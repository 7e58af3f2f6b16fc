"""The ISIC 2016-2018 Task 1 layouts: superpixels skipped, metadata, Part 3 labels, missing and orphan masks."""

from __future__ import annotations

from collections import Counter

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset

SIZE = (40, 52)


def _kinds(ds):
    return Counter(p.kind for p in ds.problems)


def test_isic2017_skips_superpixels_and_reads_metadata(tmp_path):
    root = write_dataset(tmp_path / "i17", "isic2017", n=6, size=SIZE)
    assert any(root.glob("ISIC-2017_Training_Data/*_superpixels.png"))
    ds = load_dataset(root)
    assert not any("superpixels" in s.id for s in ds)
    assert ds.samples[0].meta["sex"] in ("male", "female")
    by = {s.id: s.label for s in ds}
    assert by["ISIC_0000000"] == "melanoma" and by["ISIC_0000001"] == "seborrheic_keratosis"
    assert by["ISIC_0000002"] == "nevus"
    assert ds.select("auto").splits_present == ("test",)
    assert len(ds.select("train")) + len(ds.select("val")) + len(ds.select("test")) == len(ds)


def test_isic2016_labels_words_and_numbers(tmp_path):
    root = write_dataset(tmp_path / "i16", "isic2016", n=6, size=SIZE)
    ds = load_dataset(root)
    assert Counter(s.label for s in ds) == {"malignant": 2, "benign": 4}
    assert all(s.mask.name.endswith("_Segmentation.png") for s in ds)
    assert load_dataset(root, format="isic").format == "isic2016"


def test_isic_missing_mask_and_orphan_mask(tmp_path):
    root = write_dataset(tmp_path / "i18", "isic2018", n=6, size=SIZE)
    (root / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000000_segmentation.png").unlink()
    (root / "ISIC2018_Task1-2_Validation_Input" / "ISIC_0000002.jpg").unlink()
    ds = load_dataset(root)
    assert _kinds(ds) == {"image_without_mask": 1, "mask_without_image": 1}
    assert next(s for s in ds if s.id == "ISIC_0000000").mask is None
