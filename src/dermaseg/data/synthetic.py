"""Synthetic dermoscopy-like images with known lesion masks, and faithful copies of every dataset layout.

Used by the tests so that the suite runs without ``../shared/data``. ``make_image`` draws a skin-coloured,
textured background with a dark dermoscope vignette, a brownish lesion (an ellipse whose radius is
perturbed by a few low harmonics, so it ranges from an ellipse to an irregular blob) and, optionally, dark
hair-like curves that cross the lesion without changing its mask.

``write_dataset(root, layout, n, size, seed)`` writes ``n`` such images in one of the layouts
``folder | ham10000 | isic2016 | isic2017 | isic2018 | ph2`` with the real file and folder names (see each
``_write_<layout>`` docstring) and returns the dataset root. ``size`` is (height, width).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["LAYOUTS", "HAM_DX", "make_image", "write_dataset"]

LAYOUTS = ("folder", "ham10000", "isic2016", "isic2017", "isic2018", "ph2")
HAM_DX = ("nv", "mel", "bkl", "bcc", "akiec", "vasc", "df")


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1], H×W, by bilinear upsampling of a coarse random grid."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    im = Image.fromarray(grid, mode="F").resize((w, h), Image.BILINEAR)
    return np.asarray(im, dtype=np.float32)


def _lesion_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Bool H×W: an ellipse with a harmonically perturbed radius (0 to 4 harmonics)."""
    cy = h * rng.uniform(0.38, 0.62)
    cx = w * rng.uniform(0.38, 0.62)
    base = min(h, w)
    ry = base * rng.uniform(0.16, 0.3)
    rx = base * rng.uniform(0.16, 0.3)
    theta0 = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    cos_t, sin_t = np.cos(theta0), np.sin(theta0)
    u = dx * cos_t + dy * sin_t
    v = -dx * sin_t + dy * cos_t
    ang = np.arctan2(v / ry, u / rx)
    radius = np.ones_like(ang)
    for k in range(2, 2 + int(rng.integers(0, 5))):
        radius += rng.uniform(0.02, 0.12) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    r = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    return r <= radius


def _draw_hairs(rng: np.random.Generator, rgb: np.ndarray, count: int) -> np.ndarray:
    """Draw ``count`` dark smooth curves (quadratic Bézier polylines) on an H×W×3 uint8 image."""
    h, w = rgb.shape[:2]
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    t = np.linspace(0.0, 1.0, 24)[:, None]
    for _ in range(count):
        p0 = rng.uniform([0, 0], [w, h])
        p2 = rng.uniform([0, 0], [w, h])
        p1 = (p0 + p2) / 2 + rng.normal(0, min(h, w) * 0.25, size=2)
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        shade = int(rng.integers(15, 60))
        draw.line([tuple(p) for p in pts.tolist()], fill=(shade, shade - 10 if shade > 10 else 0, 5),
                  width=int(rng.integers(1, 3)))
    return np.asarray(im)


def make_image(h: int, w: int, seed: int, hairs: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One dermoscopy-like image and its lesion mask.

    Returns ``(rgb, mask)``: ``rgb`` uint8 H×W×3, ``mask`` bool H×W (the lesion before hairs are drawn;
    hairs never change the mask). The same arguments always give the same arrays.
    """
    if h < 8 or w < 8:
        raise ValueError(f"image too small: {h}x{w}")
    rng = np.random.default_rng(seed)
    r = rng.uniform(200, 235)
    g = r - rng.uniform(40, 60)
    skin = np.array([r, g, g - rng.uniform(20, 35)], np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = skin
    tex = 10.0 * _smooth_noise(rng, h, w, cell=max(4, min(h, w) // 6))
    img += tex[..., None] * np.array([1.0, 0.8, 0.7], np.float32)
    img += rng.normal(0.0, 3.0, size=(h, w, 1)).astype(np.float32)

    mask = _lesion_mask(rng, h, w)
    lesion_col = np.array([rng.uniform(90, 150), rng.uniform(50, 90), rng.uniform(25, 60)], np.float32)
    inner = _smooth_noise(rng, h, w, cell=max(3, min(h, w) // 12))
    # soft edge: blend over a 1-2 px band by averaging the mask with its 4-neighbours
    m = mask.astype(np.float32)
    soft = m.copy()
    soft[1:, :] += m[:-1, :]
    soft[:-1, :] += m[1:, :]
    soft[:, 1:] += m[:, :-1]
    soft[:, :-1] += m[:, 1:]
    soft /= 5.0
    soft = np.where(mask, np.maximum(soft, 0.8), np.minimum(soft, 0.2))
    lesion = lesion_col + (18.0 * inner)[..., None]
    img = img * (1 - soft[..., None]) + lesion * soft[..., None]

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rr = np.sqrt(((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2)
    vignette = np.clip(1.0 - 0.5 * np.clip(rr - 0.8, 0, None) / 0.6, 0.45, 1.0)
    img *= vignette[..., None]
    rgb = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if hairs:
        rgb = _draw_hairs(rng, rgb, count=int(rng.integers(3, 8)))
    return rgb, mask


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = array.astype(np.uint8) * 255 if array.dtype == bool else array
    im = Image.fromarray(a)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        im.save(path, format="JPEG", quality=95)
    elif suffix == ".bmp":
        im.save(path, format="BMP")
    else:
        im.save(path, format="PNG")


def _write_csv(path: Path, header: list[str] | None, rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        wr = csv.writer(f)
        if header is not None:
            wr.writerow(header)
        wr.writerows(rows)


def _pairs(n: int, size: tuple[int, int], seed: int, hairs: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    h, w = size
    return [make_image(h, w, seed * 100_003 + i, hairs=hairs and i % 2 == 0) for i in range(n)]


def _write_folder(root: Path, pairs, seed: int, mask_suffix: str = "", image_ext: str = ".jpg",
                  labels: bool = False, **_: Any) -> None:
    """``images/case_000.jpg`` + ``masks/case_000{mask_suffix}.png``; ``labels.csv`` (id,label) if asked."""
    rows = []
    for i, (rgb, mask) in enumerate(pairs):
        sid = f"case_{i:03d}"
        _save(root / "images" / f"{sid}{image_ext}", rgb)
        _save(root / "masks" / f"{sid}{mask_suffix}.png", mask)
        rows.append([sid, ("melanoma", "nevus")[i % 2]])
    if labels:
        _write_csv(root / "labels.csv", ["id", "label"], rows)


def _write_ham10000(root: Path, pairs, seed: int, extra_metadata: int = 0, **_: Any) -> None:
    """HAM10000 as downloaded from the Harvard Dataverse.

    ``HAM10000_images_part_1/ISIC_xxxxxxx.jpg`` (first half) and ``HAM10000_images_part_2/`` (second half),
    ``HAM10000_segmentations_lesion_tschandl/ISIC_xxxxxxx_segmentation.png`` and ``HAM10000_metadata.csv``
    with columns lesion_id,image_id,dx,dx_type,age,sex,localization. Consecutive images share a
    lesion_id in runs of 1 to 3 (as HAM10000's follow-up images do). ``extra_metadata`` adds rows whose
    image is absent (like the real partial copy in ../shared/data).
    """
    rng = np.random.default_rng(seed)
    rows: list[list[Any]] = []
    lesion = 0
    left = 0
    dx = HAM_DX[0]
    half = (len(pairs) + 1) // 2
    for i, (rgb, mask) in enumerate(pairs):
        if left == 0:
            lesion += 1
            left = int(rng.integers(1, 4))
            dx = HAM_DX[(lesion - 1) % len(HAM_DX)]
        left -= 1
        iid = f"ISIC_{24306 + i:07d}"
        part = 1 if i < half else 2
        _save(root / f"HAM10000_images_part_{part}" / f"{iid}.jpg", rgb)
        _save(root / "HAM10000_segmentations_lesion_tschandl" / f"{iid}_segmentation.png", mask)
        rows.append([f"HAM_{lesion:07d}", iid, dx, "histo", 45.0, ("male", "female")[i % 2], "back"])
    for j in range(extra_metadata):
        rows.append([f"HAM_{9_000_000 + j:07d}", f"ISIC_{90000 + j:07d}", HAM_DX[j % len(HAM_DX)],
                     "consensus", 50.0, "female", "trunk"])
    _write_csv(root / "HAM10000_metadata.csv",
               ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"], rows)


def _isic_ids(n: int, start: int = 0) -> list[str]:
    return [f"ISIC_{start + i:07d}" for i in range(n)]


def _split_counts(n: int, names: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """Share n images over the split names: (name, first index, count); every split gets one when n >= splits."""
    k = len(names)
    counts = [n // k + (1 if i < n % k else 0) for i in range(k)]
    out, start = [], 0
    for name, c in zip(names, counts, strict=True):
        out.append((name, start, c))
        start += c
    return out


def _write_isic2016(root: Path, pairs, seed: int, **_: Any) -> None:
    """ISBI 2016 Part 1: ``ISBI2016_ISIC_Part1_{Training,Test}_Data/ISIC_xxxxxxx.jpg``,
    ``ISBI2016_ISIC_Part1_{Training,Test}_GroundTruth/ISIC_xxxxxxx_Segmentation.png`` (capital S) and the
    Part 3 diagnosis CSVs without header: Training ``ISIC_xxxxxxx,benign|malignant``, Test ``…,0.0|1.0``.
    """
    ids = _isic_ids(len(pairs))
    for split, first, count in _split_counts(len(pairs), ("Training", "Test")):
        rows = []
        for i in range(first, first + count):
            rgb, mask = pairs[i]
            _save(root / f"ISBI2016_ISIC_Part1_{split}_Data" / f"{ids[i]}.jpg", rgb)
            _save(root / f"ISBI2016_ISIC_Part1_{split}_GroundTruth" / f"{ids[i]}_Segmentation.png", mask)
            malignant = i % 3 == 0
            if split == "Training":
                rows.append([ids[i], "malignant" if malignant else "benign"])
            else:
                rows.append([ids[i], "1.0" if malignant else "0.0"])
        _write_csv(root / f"ISBI2016_ISIC_Part3_{split}_GroundTruth.csv", None, rows)


def _write_isic2017(root: Path, pairs, seed: int, **_: Any) -> None:
    """ISIC 2017 Task 1 (+ Part 3 labels): ``ISIC-2017_{Training,Validation,Test_v2}_Data/ISIC_xxxxxxx.jpg``
    (the Training data folder also holds ``ISIC_xxxxxxx_superpixels.png`` files and its metadata CSV, as
    released), ``ISIC-2017_<split>_Part1_GroundTruth/ISIC_xxxxxxx_segmentation.png`` and
    ``ISIC-2017_<split>_Part3_GroundTruth.csv`` (image_id,melanoma,seborrheic_keratosis; 0.0/1.0).
    """
    ids = _isic_ids(len(pairs))
    for split, first, count in _split_counts(len(pairs), ("Training", "Validation", "Test_v2")):
        rows, meta = [], []
        data_dir = root / f"ISIC-2017_{split}_Data"
        for i in range(first, first + count):
            rgb, mask = pairs[i]
            _save(data_dir / f"{ids[i]}.jpg", rgb)
            if split == "Training":
                sp = np.zeros(rgb.shape, np.uint8)
                sp[..., 0] = (np.arange(rgb.shape[1]) // 8)[None, :]
                _save(data_dir / f"{ids[i]}_superpixels.png", sp)
            _save(root / f"ISIC-2017_{split}_Part1_GroundTruth" / f"{ids[i]}_segmentation.png", mask)
            mel, sk = (1.0, 0.0) if i % 3 == 0 else (0.0, 1.0) if i % 3 == 1 else (0.0, 0.0)
            rows.append([ids[i], mel, sk])
            meta.append([ids[i], 40 + i % 30, ("male", "female")[i % 2]])
        _write_csv(root / f"ISIC-2017_{split}_Part3_GroundTruth.csv",
                   ["image_id", "melanoma", "seborrheic_keratosis"], rows)
        _write_csv(data_dir / f"ISIC-2017_{split}_Data_metadata.csv", ["image_id", "age_approximate", "sex"], meta)


def _write_isic2018(root: Path, pairs, seed: int, **_: Any) -> None:
    """ISIC 2018 Task 1: ``ISIC2018_Task1-2_{Training,Validation,Test}_Input/ISIC_xxxxxxx.jpg`` (with the
    release's ATTRIBUTION.txt and LICENSE.txt) and ``ISIC2018_Task1_<split>_GroundTruth/ISIC_xxxxxxx_segmentation.png``.
    No diagnosis labels (those belong to Task 3).
    """
    ids = _isic_ids(len(pairs))
    for split, first, count in _split_counts(len(pairs), ("Training", "Validation", "Test")):
        inp = root / f"ISIC2018_Task1-2_{split}_Input"
        for i in range(first, first + count):
            rgb, mask = pairs[i]
            _save(inp / f"{ids[i]}.jpg", rgb)
            _save(root / f"ISIC2018_Task1_{split}_GroundTruth" / f"{ids[i]}_segmentation.png", mask)
        (inp / "ATTRIBUTION.txt").write_text("synthetic images, no attribution needed\n")
        (inp / "LICENSE.txt").write_text("CC-0\n")


PH2_TXT_HEADER = ("||   Name   ||  Histological Diagnosis  ||  Clinical Diagnosis  ||  Asymmetry  ||  Pigment Network"
                  "  ||  Dots/Globules  ||  Streaks  ||  Regression Areas  ||  Blue-Whitish Veil  ||  Colors  ||")
PH2_XLSX_COLUMNS = ["Image Name", "Histological Diagnosis", "Common Nevus", "Atypical Nevus", "Melanoma",
                    "Asymmetry\n(0/1/2)", "Pigment Network\n(AT/T)", "Dots/Globules\n(A/AT/T)", "Streaks\n(A/P)",
                    "Regression Areas\n(A/P)", "Blue-Whitish Veil\n(A/P)", "White", "Red", "Light-Brown",
                    "Dark-Brown", "Blue-Gray", "Black"]


def _write_ph2(root: Path, pairs, seed: int, ph2_meta: str = "both", **_: Any) -> None:
    """PH2 as distributed (``PH2Dataset/``): ``PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp``,
    ``IMDxxx_lesion/IMDxxx_lesion.bmp`` (0/255), plus ``PH2_dataset.txt`` (a ``||``-delimited table,
    Clinical Diagnosis coded 0 common nevus, 1 atypical nevus, 2 melanoma, followed by a legend) and/or
    ``PH2_dataset.xlsx`` (12 title/legend rows, then a header row ``Image Name, Histological Diagnosis,
    Common Nevus, Atypical Nevus, Melanoma, …`` with the diagnosis marked by an ``X``).
    ``ph2_meta`` is ``txt``, ``xlsx``, ``both`` or ``none``.
    """
    codes = []
    base = root / "PH2 Dataset images"
    for i, (rgb, mask) in enumerate(pairs):
        name = f"IMD{2 + i:03d}"
        _save(base / name / f"{name}_Dermoscopic_Image" / f"{name}.bmp", rgb)
        _save(base / name / f"{name}_lesion" / f"{name}_lesion.bmp", mask)
        codes.append((name, i % 3))
    if ph2_meta in ("txt", "both"):
        lines = [PH2_TXT_HEADER]
        for name, code in codes:
            histo = "Melanoma" if code == 2 else ""
            lines.append(f"||  {name}  ||  {histo:<22}  ||          {code}           ||      1      ||"
                         f"        T         ||       A        ||     A     ||         A          ||"
                         f"          A          ||   3 4    ||")
        lines += ["", "Legends:", "", "Clinical Diagnosis:", "\t0 - Common Nevus;", "\t1 - Atypical Nevus;",
                  "\t2 - Melanoma.", "", "Asymmetry:", "\t0 - Fully Symmetric;", "\t1 - Symetric in 1 axe;",
                  "\t2 - Fully Asymmetric."]
        (root / "PH2_dataset.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if ph2_meta in ("xlsx", "both"):
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "Sheet1"
        preamble = ["PH² Database", "", "Legends:", "Asymmetry: 0 - Fully Symmetric; 1 - Symetric in 1 axe; "
                    "2 - Fully Asymmetric", "Pigment Network: AT - Atypical; T - Typical",
                    "Dots/Globules: A - Absent; AT - Atypical; T - Typical", "Streaks: A - Absent; P - Present",
                    "Regression Areas: A - Absent; P - Present", "Blue-Whitish Veil: A - Absent; P - Present",
                    "", "", ""]
        for text in preamble:
            ws.append([text] if text else [None])
        ws.append(PH2_XLSX_COLUMNS)
        for name, code in codes:
            marks = ["X" if code == k else None for k in range(3)]
            ws.append([name, "Melanoma" if code == 2 else None, *marks, 1, "T", "A", "A", "A", "A",
                       None, None, "X", "X", None, None])
        wb.save(root / "PH2_dataset.xlsx")


_WRITERS = {"folder": _write_folder, "ham10000": _write_ham10000, "isic2016": _write_isic2016,
            "isic2017": _write_isic2017, "isic2018": _write_isic2018, "ph2": _write_ph2}


def write_dataset(root: str | Path, layout: str = "folder", n: int = 8, size: tuple[int, int] = (96, 128),
                  seed: int = 0, hairs: bool = False, **opts: Any) -> Path:
    """Write ``n`` synthetic image/mask pairs under ``root`` in ``layout``; return the dataset root.

    ``size`` is (height, width). Options per layout: folder ``mask_suffix=""`` (e.g. ``"_mask"``),
    ``image_ext=".jpg"``, ``labels=False``; ham10000 ``extra_metadata=0`` (rows without image);
    ph2 ``ph2_meta="both"|"txt"|"xlsx"|"none"``. The ph2 root is the ``PH2Dataset`` folder itself.
    """
    if layout not in _WRITERS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    root = Path(root)
    need = {"isic2016": 2, "isic2017": 3, "isic2018": 3}.get(layout, 1)
    if n < need:
        raise ValueError(f"layout {layout} needs n >= {need} (one image per split at least)")
    root.mkdir(parents=True, exist_ok=True)
    _WRITERS[layout](root, _pairs(n, size, seed, hairs), seed, **opts)
    return root
