"""load_dataset on every synthetic layout, layout variants, format overrides, and the real layouts."""

from __future__ import annotations

import shutil
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


def test_select_errors_on_absent_split(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "f", "folder", n=2, size=SIZE))
    assert len(ds.select("auto")) == 2 and len(ds.select("all")) == 2
    with pytest.raises(DataError, match="no 'val' split"):
        ds.select("val")


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
