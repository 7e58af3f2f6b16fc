"""measure_version 2: colour constancy under two illuminants, colour-distribution asymmetry of a
symmetric shape, the calibration statistics by hand, and PH2's development figures recomputed from the
committed table of per-image outputs (the experts' labels are read from ../shared/data; skipped without)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dermaseg.measure import MEASURE_VERSION, measure
from dermaseg.measure import calibrate as cal
from dermaseg.measure.colour import COLOUR_NAMES, REFERENCE_SRGB, shades_of_gray
from dermaseg.measure.rules import rules

from . import shapes as S

HERE = Path(__file__).parent
PH2 = HERE.parents[2] / "shared" / "data" / "ph2_dev"
GREY = (200, 200, 200)


def _illuminate(img: np.ndarray, gains) -> np.ndarray:
    """A diagonal (von Kries) illuminant change in linear sRGB."""
    f = img / 255.0
    lin = np.where(f <= 0.04045, f / 12.92, ((f + 0.055) / 1.055) ** 2.4) * np.asarray(gains)
    lin = np.clip(lin, 0, 1)
    out = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def test_shades_of_gray_undoes_a_tinted_light_on_grey():
    img = np.full((40, 40, 3), GREY, np.uint8)
    tinted = _illuminate(img, (1.2, 1.0, 0.7))
    assert np.ptp(tinted[0, 0].astype(int)) > 30  # visibly tinted
    assert np.ptp(shades_of_gray(tinted)[0, 0].astype(int)) <= 1  # neutral again


@pytest.mark.parametrize("name", COLOUR_NAMES)
def test_reference_patch_found_under_two_illuminants(name):
    img = np.full((120, 180, 3), GREY, np.uint8)
    mask = S.draw(S.ellipse(40, 28), 180)[:120]
    img[mask] = REFERENCE_SRGB[name]
    for gains in ((1.0, 1.0, 1.0), (1.15, 1.0, 0.75)):  # neutral, warm (tungsten-like) light
        rec = measure(mask, _illuminate(img, gains), constancy="shades_of_gray")
        assert rec["colours"] == [name], (gains, rec["colours"])
        assert rec["measure_version"] == MEASURE_VERSION == rules()["measure_version"]


def test_symmetric_shape_with_asymmetric_colours():
    img = np.full((120, 180, 3), (220, 170, 150), np.uint8)
    mask = S.draw(S.ellipse(60, 35), 180, offset=(0.0, 0.0))[30:150]  # symmetric about both axes
    img[mask] = REFERENCE_SRGB["light brown"]
    uniform = measure(mask, img, constancy="none")
    left = mask.copy()
    left[:, 90:] = False
    img[left] = REFERENCE_SRGB["black"]
    rec = measure(mask, img, constancy="none")
    assert rec["asymmetry_major"] < 0.02 and rec["asymmetry_minor"] < 0.02  # shape: symmetric
    assert rec["asymmetry"] == uniform["asymmetry"] and rec["asymmetry_axes"] == 0  # shape-only unchanged
    # colours: left black, right light brown -> the halves about the minor axis share nothing
    assert rec["colour_dist_asymmetry_minor"] == pytest.approx(1.0, abs=0.02)
    assert rec["colour_dist_asymmetry_major"] < 0.05 and uniform["colour_dist_asymmetry"] < 0.05
    w, cuts = rules()["asymmetry"]["colour_weight"], rules()["asymmetry"]["cuts"]
    want = 0.5 * (rec["asymmetry_major"] + rec["asymmetry_minor"]
                  + w * (rec["colour_dist_asymmetry_major"] + rec["colour_dist_asymmetry_minor"]))
    assert rec["asymmetry_score"] == pytest.approx(want, abs=1e-9)
    assert rec["asymmetry_grade"] == sum(want > c for c in cuts)
    assert rec["asymmetry_score"] > uniform["asymmetry_score"]


def test_statistics_by_hand():
    y = np.array([1, 1, 0, 0, 0], bool)
    p = np.array([1, 0, 0, 0, 1], bool)
    assert cal.balanced_accuracy(y, p) == pytest.approx(0.5 * (1 / 2 + 2 / 3))
    assert cal.weighted_kappa([0, 1, 2], [0, 1, 2]) == pytest.approx(1.0)
    # a = [0, 0, 2, 2], b = [0, 2, 0, 2]: observed = expected -> kappa 0
    assert cal.weighted_kappa([0, 0, 2, 2], [0, 2, 0, 2]) == pytest.approx(0.0)
    assert cal.spearman([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(0.8)
    f = cal.folds(["a"] * 10 + ["b"] * 5, k=5)
    assert sorted(np.concatenate(f).tolist()) == list(range(15)) and all(len(x) == 3 for x in f)


def _read(name: str) -> list[dict]:
    import csv

    with open(HERE / "data" / name, newline="") as f:
        return [{k: (v if k == "image" else (float(v) if v != "" else None)) for k, v in r.items()}
                for r in csv.DictReader(f)]


@pytest.mark.skipif(not (PH2 / "metadata.csv").is_file(), reason="../shared/data/ph2_dev not present")
def test_ph2_development_figures_recomputed_from_committed_table():
    experts = cal.read_experts(PH2 / "metadata.csv")
    rows = _read("ph2_dev_truth_sog.csv")
    assert len(rows) == 100 and {r["image"] for r in rows} == set(experts)
    # the shipped rules are the fit on all 100 development images
    fit = cal.fit_all(rows, experts)
    shipped = rules()
    for n in COLOUR_NAMES:
        assert fit["min_share"][n] == pytest.approx(shipped["colour"]["min_share"][n], abs=2e-6)
    assert fit["asymmetry"]["colour_weight"] == shipped["asymmetry"]["colour_weight"]
    assert fit["asymmetry"]["cuts"] == pytest.approx(shipped["asymmetry"]["cuts"], abs=2e-6)
    assert shipped["colour"]["constancy"] == "shades_of_gray"
    # the cross-validated figures published in docs/measurements.md
    published = json.loads((HERE / "data" / "ph2_dev_cv_figures.json").read_text())
    for name in ("ph2_dev_truth_sog.csv", "ph2_dev_model_sog.csv"):
        cv = cal.cross_validate(_read(name), experts)
        want = published[name]
        assert cv["pooled"]["colours"]["mean_balanced_accuracy"] == pytest.approx(want["mean_balanced_accuracy"],
                                                                                   abs=5e-4)
        for n in COLOUR_NAMES:
            got = cv["pooled"]["colours"][n]
            assert got["sensitivity"] == pytest.approx(want[n][0], abs=5e-4)
            assert got["specificity"] == pytest.approx(want[n][1], abs=5e-4)
        a = cv["pooled"]["asymmetry"]
        assert a["spearman_score"] == pytest.approx(want["spearman_score"], abs=5e-4)
        assert a["weighted_kappa"] == pytest.approx(want["weighted_kappa"], abs=5e-4)
        assert [f["colours"]["mean_balanced_accuracy"] for f in cv["folds"]] == pytest.approx(
            want["folds_mean_balanced_accuracy"], abs=5e-4)


def test_a_ph2_dev_style_folder_is_a_dataset(tmp_path):
    """ph2_dev's metadata.csv (image_id, clinical_diagnosis, ...) is read, so `measure --data` works on it."""
    from PIL import Image

    from dermaseg.data.readers import load_dataset
    from dermaseg.measure.files import measure_dataset

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    img = np.full((60, 80, 3), (220, 170, 150), np.uint8)
    m = S.draw(S.disc(15), 80)[10:70]
    img[m] = REFERENCE_SRGB["dark brown"]
    for sid in ("IMD001", "IMD002"):
        Image.fromarray(img).save(tmp_path / "images" / f"{sid}.jpg", quality=95)
        Image.fromarray(m.astype(np.uint8) * 255).save(tmp_path / "masks" / f"{sid}_lesion.png")
    (tmp_path / "metadata.csv").write_text("image_id,clinical_diagnosis,asymmetry,colors\n"
                                           "IMD001,common_nevus,0,Dark-Brown\nIMD002,melanoma,2,Black\n")
    assert [s.id for s in load_dataset(tmp_path).samples] == ["IMD001", "IMD002"]
    out = measure_dataset(tmp_path, tmp_path / "m.csv")
    lines = out.read_text().splitlines()
    assert lines[0].endswith(",measure_version") and all(x.endswith("," + MEASURE_VERSION) for x in lines[1:])
