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


def test_isic2017_part3_bad_values_are_problems(tmp_path):
    """Non-numeric, missing, NaN values and extra fields in a Part 3 CSV: a bad_table_row naming the line,
    the image unlabelled (not silently a nevus), every other row read."""
    root = write_dataset(tmp_path / "i17", "isic2017", n=9, size=SIZE)
    csv_path = root / "ISIC-2017_Training_Part3_GroundTruth.csv"
    csv_path.write_text("image_id,melanoma,seborrheic_keratosis\nISIC_0000000,yes,0\nISIC_0000001,,1\n"
                        "ISIC_0000002,nan,0\r\n", encoding="utf-8")
    (root / "ISIC-2017_Validation_Part3_GroundTruth.csv").write_text(
        "\ufeffimage_id,melanoma,seborrheic_keratosis\r\nISIC_0000003,1,0,9\r\nISIC_0000004,0\r\n"
        "ISIC_0000005,1.0,0.0\r\n", encoding="utf-8")
    ds = load_dataset(root)
    details = sorted((p.where.rsplit("/", 1)[-1], p.detail) for p in ds.problems)
    assert details == [
        ("ISIC-2017_Training_Part3_GroundTruth.csv:2", "melanoma value 'yes' is not a number"),
        ("ISIC-2017_Training_Part3_GroundTruth.csv:3", "no melanoma value"),
        ("ISIC-2017_Training_Part3_GroundTruth.csv:4", "melanoma value 'nan' is not a number"),
        ("ISIC-2017_Validation_Part3_GroundTruth.csv:2", "4 fields, the header has 3"),
        ("ISIC-2017_Validation_Part3_GroundTruth.csv:3", "no seborrheic_keratosis value"),
    ]
    by = {s.id: s.label for s in ds}
    assert [by[f"ISIC_000000{i}"] for i in range(6)] == [None] * 5 + ["melanoma"]


def test_isic2016_part3_bad_value(tmp_path):
    root = write_dataset(tmp_path / "i16", "isic2016", n=4, size=SIZE)
    (root / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv").write_text("ISIC_0000000,benign\nISIC_0000001,maybe\n")
    ds = load_dataset(root)
    assert [(p.kind, p.detail) for p in ds.problems] == [
        ("bad_table_row", "diagnosis 'maybe' is not benign, malignant, 0 or 1")]
    assert {s.id: s.label for s in ds}["ISIC_0000001"] is None
