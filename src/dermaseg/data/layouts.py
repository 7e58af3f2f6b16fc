"""Readers of each dataset layout as downloaded, and format detection (used by ``readers.load_dataset``).

Folder names are matched case-insensitively (Kaggle's HAM10000 copy is lower-case). Every reader
returns a :class:`~dermaseg.data.dataset.Dataset` whose samples are sorted by (split, id), and records
layout problems (missing masks, orphan masks, duplicate ids, metadata rows without image) instead of
raising; it raises :class:`DataError` only when the folder is not that layout at all.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem, Record, Sample, normalise_label
from dermaseg.errors import DataError
from dermaseg.io import IMAGE_EXTENSIONS

__all__ = ["detect_format", "READERS", "read_csv_rows"]

_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2, None: 3}
_MASK_SUFFIXES = ("_segmentation", "_mask", "_lesion", "-mask", "_seg")


def _children(root: Path) -> list[Path]:
    try:
        return sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as e:  # pragma: no cover - permissions
        raise DataError(f"{root}: cannot list folder ({e})") from e


def _child(root: Path, *names: str) -> Path | None:
    """The child of ``root`` whose name matches one of ``names`` case-insensitively."""
    want = {n.lower() for n in names}
    for p in _children(root):
        if p.name.lower() in want:
            return p
    return None


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _list_images(folder: Path) -> list[Path]:
    """Image files in ``folder``; when it has none, those one level down (zip files unpacked twice)."""
    files = [p for p in _children(folder) if _is_image(p)]
    if not files:
        for sub in _children(folder):
            if sub.is_dir():
                files += [p for p in _children(sub) if _is_image(p)]
    return files


def _index(paths: list[Path], key, problems: list[Problem]) -> dict[str, Path]:
    """Map key(path) -> path; every further path with the same key is a ``duplicate_id`` problem."""
    out: dict[str, Path] = {}
    for p in sorted(paths, key=lambda q: str(q)):
        k = key(p)
        if k is None:
            continue
        if k in out:
            problems.append(Problem("duplicate_id", k, f"{out[k]} and {p}"))
            continue
        out[k] = p
    return out


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV/TSV file with a header row (delimiter sniffed from the header line)."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    first = text.split("\n", 1)[0]
    delim = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delim)
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def _finish(root: Path, fmt: str, samples: list[Sample], problems: list[Problem], **kw) -> Dataset:
    samples.sort(key=lambda s: (_SPLIT_ORDER.get(s.split, 3), s.id, str(s.image)))
    return Dataset(root=root, format=fmt, samples=samples, problems=problems, **kw)


def _pair(root: Path, fmt: str, images: dict[str, Path], masks: dict[str, Path], problems: list[Problem],
          split: str | None, labels: dict[str, str | None] | None, groups: dict[str, str] | None = None,
          meta: dict[str, dict] | None = None) -> list[Sample]:
    """Samples from id->image and id->mask maps; record images without mask and masks without image."""
    samples = []
    for sid, img in images.items():
        mask = masks.get(sid)
        if mask is None:
            problems.append(Problem("image_without_mask", str(img)))
        label = None
        if labels is not None:
            if sid in labels:
                label = labels[sid]
            else:
                problems.append(Problem("image_without_label", str(img)))
        samples.append(Sample(id=sid, image=img, mask=mask, group=(groups or {}).get(sid, sid), label=label,
                              split=split, meta=dict((meta or {}).get(sid, {}))))
    for sid, m in masks.items():
        if sid not in images:
            problems.append(Problem("mask_without_image", str(m)))
    return samples


# --------------------------------------------------------------------------------------------- HAM10000
def _ham_parts(root: Path) -> tuple[list[Path], Path | None, Path | None]:
    parts = [p for p in _children(root) if p.is_dir() and p.name.lower().startswith("ham10000_images")]
    seg = next((p for p in _children(root) if p.is_dir() and p.name.lower().startswith("ham10000_segmentations")),
               None)
    metas = [p for p in _children(root) if p.is_file() and p.name.lower().startswith("ham10000_metadata")
             and p.suffix.lower() in (".csv", ".tab", ".tsv", ".txt")]
    metas.sort(key=lambda p: (p.suffix.lower() != ".csv", p.name))
    return parts, seg, (metas[0] if metas else None)


def read_ham10000(root: Path, metadata: Path | None = None) -> Dataset:
    """HAM10000: ``HAM10000_images_part_{1,2}/``, ``HAM10000_segmentations_lesion_tschandl/`` and
    ``HAM10000_metadata.csv`` (group = lesion_id, label = dx). Every metadata row is kept in ``records``;
    rows whose image is absent are ``metadata_without_image`` problems."""
    parts, seg, meta_file = _ham_parts(root)
    meta_file = metadata or meta_file
    if not parts and seg is None and meta_file is None:
        raise DataError(f"{root}: not a HAM10000 folder (no HAM10000_images_part_*, "
                        "HAM10000_segmentations_lesion_tschandl or HAM10000_metadata.csv)")
    problems: list[Problem] = []
    images = _index([p for d in parts for p in _list_images(d)], lambda p: p.stem, problems)
    masks: dict[str, Path] = {}
    if seg is not None:
        mask_files = [p for p in seg.rglob("*") if _is_image(p) and p.stem.lower().endswith("_segmentation")]
        masks = _index(mask_files, lambda p: p.stem[: -len("_segmentation")], problems)
    records: list[Record] = []
    labels: dict[str, str | None] | None = None
    groups: dict[str, str] = {}
    meta: dict[str, dict] = {}
    if meta_file is not None:
        rows = read_csv_rows(meta_file)
        need = {"lesion_id", "image_id", "dx"}
        if rows and not need <= set(rows[0]):
            raise DataError(f"{meta_file}: expected columns lesion_id, image_id, dx; found {', '.join(rows[0])}")
        labels = {}
        for row in rows:
            iid = row["image_id"]
            if not iid:
                continue
            if iid in labels:
                problems.append(Problem("duplicate_id", iid, f"{meta_file.name} lists it twice"))
                continue
            labels[iid] = normalise_label(row["dx"])
            groups[iid] = row["lesion_id"] or iid
            meta[iid] = {k: v for k, v in row.items() if k not in need}
            records.append(Record(id=iid, group=groups[iid], label=labels[iid]))
            if iid not in images:
                problems.append(Problem("metadata_without_image", iid, f"row of {meta_file.name}"))
    samples = _pair(root, "ham10000", images, masks, problems, None, labels, groups, meta)
    sources = {"metadata": str(meta_file)} if meta_file else {}
    return _finish(root, "ham10000", samples, problems, records=records, sources=sources)


# --------------------------------------------------------------------------------------------- ISIC
_ISIC_SPLIT = re.compile(r"_(training|validation|test)(?:_v\d+)?_", re.IGNORECASE)
_SPLIT_NAME = {"training": "train", "validation": "val", "test": "test"}


def _isic_year(name: str) -> str | None:
    low = name.lower()
    if "isic" not in low:
        return None
    for year in ("2016", "2017", "2018"):
        if year in low:
            return year
    return None


def _isic_role(name: str) -> str | None:
    """'images', 'masks', 'labels' or None for a Task-1-relevant ISIC folder or CSV name."""
    low = name.lower()
    other_part = re.search(r"(part|task)[23]\b|part[23]_|task[23]_", low) and not re.search(r"part1|task1", low)
    if low.endswith(".csv"):
        return "labels" if "part3" in low and "groundtruth" in low else None
    if other_part:
        return None
    if "groundtruth" in low:
        return "masks"
    if low.endswith(("_data", "_input")):
        return "images"
    return None


def _isic_entries(root: Path) -> dict[str, list[tuple[str, str, Path]]]:
    """year -> [(role, split, path)] for the ISIC folders and Part 3 CSVs directly in ``root``."""
    out: dict[str, list[tuple[str, str, Path]]] = {}
    for p in _children(root):
        year = _isic_year(p.name)
        m = _ISIC_SPLIT.search(p.name + "_")
        role = _isic_role(p.name)
        if year is None or m is None or role is None:
            continue
        if role == "labels" and not p.is_file() or role != "labels" and not p.is_dir():
            continue
        out.setdefault(year, []).append((role, _SPLIT_NAME[m.group(1).lower()], p))
    return out


def _isic_labels(path: Path, year: str) -> dict[str, str | None]:
    """Part 3 ground truth: 2017 image_id,melanoma,seborrheic_keratosis; 2016 headerless id,benign|malignant|0/1."""
    text = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    rows = [r for r in csv.reader(text) if r and r[0].strip()]
    out: dict[str, str | None] = {}
    if year == "2017" or (rows and rows[0][0].strip().lower() == "image_id"):
        header = [h.strip().lower() for h in rows[0]]
        if "melanoma" not in header:
            raise DataError(f"{path}: expected columns image_id, melanoma, seborrheic_keratosis")
        mi, si = header.index("melanoma"), header.index("seborrheic_keratosis") if "seborrheic_keratosis" in header else None
        for r in rows[1:]:
            mel = float(r[mi] or 0) >= 0.5
            sk = si is not None and float(r[si] or 0) >= 0.5
            out[r[0].strip()] = "melanoma" if mel else "seborrheic_keratosis" if sk else "nevus"
        return out
    for r in rows:
        if len(r) < 2:
            continue
        v = r[1].strip().lower()
        if v in ("benign", "malignant"):
            out[r[0].strip()] = v
        else:
            try:
                out[r[0].strip()] = "malignant" if float(v) >= 0.5 else "benign"
            except ValueError:
                continue  # a header row
    return out


def read_isic(root: Path, year: str | None = None) -> Dataset:
    """ISIC 2016/2017/2018 Task 1: ``*_Data/`` or ``*_Input/`` images, ``*_GroundTruth/`` masks named
    ``<id>_segmentation.png`` or ``<id>_Segmentation.png``, split from the folder name, labels from the
    ``*_Part3_GroundTruth.csv`` of the same split (2016, 2017). ``*_superpixels.png`` files are skipped."""
    entries = _isic_entries(root)
    if year is None:
        if len(entries) != 1:
            found = ", ".join(f"isic{y}" for y in sorted(entries)) or "none"
            raise DataError(f"{root}: expected the folders of exactly one ISIC challenge year (found: {found}); "
                            "pass --format isic2016, isic2017 or isic2018")
        year = next(iter(entries))
    fmt = f"isic{year}"
    items = entries.get(year, [])
    if not any(role == "images" for role, _, _ in items):
        raise DataError(f"{root}: no ISIC {year} image folder (*_Data or *_Input with Training/Validation/Test "
                        "in its name)")
    problems: list[Problem] = []
    samples: list[Sample] = []
    for split in ("train", "val", "test"):
        img_dirs = [p for role, s, p in items if role == "images" and s == split]
        if not img_dirs:
            continue
        files = [p for d in img_dirs for p in _list_images(d) if not p.stem.lower().endswith("_superpixels")]
        images = _index(files, lambda p: p.stem, problems)
        mask_files = [p for role, s, d in items if role == "masks" and s == split for p in _list_images(d)]
        masks = _index(mask_files, lambda p: p.stem[:-13] if p.stem.lower().endswith("_segmentation") else None,
                       problems)
        csvs = [p for role, s, p in items if role == "labels" and s == split]
        labels = None
        if csvs:
            labels = {}
            for c in csvs:
                labels.update(_isic_labels(c, year))
            for sid in sorted(set(labels) - set(images)):
                problems.append(Problem("metadata_without_image", sid, f"row of {csvs[0].name}"))
        meta: dict[str, dict] = {}
        tag = {"train": "training", "val": "validation", "test": "test"}[split]
        for f in [*_children(root), *(q for d in img_dirs for q in _children(d))]:
            low = f.name.lower()
            if f.is_file() and low.endswith("_metadata.csv") and f"_{tag}" in low and _isic_year(f.name) == year:
                for row in read_csv_rows(f):
                    meta.setdefault(row.get("image_id", ""), {k: v for k, v in row.items() if k != "image_id"})
        samples += _pair(root, fmt, images, masks, problems, split, labels, meta=meta)
    return _finish(root, fmt, samples, problems)


# --------------------------------------------------------------------------------------------- PH2
def _ph2_images_root(root: Path) -> Path | None:
    for base in (root, _child(root, "PH2Dataset")):
        if base is not None and base.is_dir():
            found = _child(base, "PH2 Dataset images", "PH2_Dataset_images")
            if found is not None and found.is_dir():
                return found
    return None


def _ph2_labels_xlsx(path: Path) -> dict[str, str]:
    """PH2_dataset.xlsx: title rows, then a header row with 'Image Name', 'Common Nevus', 'Atypical Nevus',
    'Melanoma'; the clinical diagnosis is the column marked 'X'."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:
        raise DataError(f"{path}: cannot read spreadsheet ({e})") from e
    out: dict[str, str] = {}
    cols: dict[str, int] | None = None
    for row in wb.worksheets[0].iter_rows(values_only=True):
        cells = [" ".join(str(c).split()).lower() if c is not None else "" for c in row]
        if cols is None:
            if "image name" in cells:
                cols = {name: cells.index(name) for name in ("image name", "common nevus", "atypical nevus",
                                                             "melanoma") if name in cells}
            continue
        name = cells[cols["image name"]].upper() if len(cells) > cols["image name"] else ""
        if not name.startswith("IMD"):
            continue
        for key, label in (("common nevus", "common_nevus"), ("atypical nevus", "atypical_nevus"),
                           ("melanoma", "melanoma")):
            i = cols.get(key)
            if i is not None and i < len(cells) and cells[i].strip() == "x":
                out[name] = label
                break
    wb.close()
    if cols is None:
        raise DataError(f"{path}: no header row with 'Image Name' found")
    return out


def _ph2_labels_txt(path: Path) -> dict[str, str]:
    """PH2_dataset.txt: '||'-delimited rows; 'Clinical Diagnosis' 0 common nevus, 1 atypical, 2 melanoma."""
    codes = {"0": "common_nevus", "1": "atypical_nevus", "2": "melanoma"}
    name_i, clin_i = 1, 3
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "||" not in line:
            continue
        fields = [f.strip() for f in line.split("||")]
        low = [f.lower() for f in fields]
        if "clinical diagnosis" in low:
            clin_i = low.index("clinical diagnosis")
            name_i = low.index("name") if "name" in low else name_i
            continue
        if len(fields) > clin_i and fields[name_i].upper().startswith("IMD") and fields[clin_i] in codes:
            out[fields[name_i].upper()] = codes[fields[clin_i]]
    return out


def read_ph2(root: Path) -> Dataset:
    """PH2: ``PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp`` and
    ``IMDxxx_lesion/IMDxxx_lesion.bmp``; labels from ``PH2_dataset.xlsx`` (preferred) or ``PH2_dataset.txt``."""
    base = _ph2_images_root(root)
    if base is None:
        raise DataError(f"{root}: not a PH2 folder (no 'PH2 Dataset images' folder here or in PH2Dataset/)")
    problems: list[Problem] = []
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for case in _children(base):
        if not case.is_dir():
            continue
        name = case.name.upper()
        img_dir = _child(case, f"{case.name}_Dermoscopic_Image")
        les_dir = _child(case, f"{case.name}_lesion")
        imgs = _list_images(img_dir) if img_dir is not None else []
        mks = _list_images(les_dir) if les_dir is not None else []
        if imgs:
            images[name] = next((p for p in imgs if p.stem.upper() == name), imgs[0])
        if mks:
            masks[name] = next((p for p in mks if p.stem.lower() == f"{name.lower()}_lesion"), mks[0])
    top = base.parent
    labels: dict[str, str] | None = None
    for fname, parser in (("PH2_dataset.xlsx", _ph2_labels_xlsx), ("PH2_dataset.txt", _ph2_labels_txt)):
        f = _child(top, fname)
        if f is not None and f.is_file():
            labels = parser(f)
            for sid in sorted(set(labels) - set(images)):
                problems.append(Problem("metadata_without_image", sid, f"row of {f.name}"))
            sources = {"labels": str(f)}
            break
    else:
        sources = {}
    samples = _pair(root, "ph2", images, masks, problems, None, labels)
    return _finish(root, "ph2", samples, problems, sources=sources)


# --------------------------------------------------------------------------------------------- folder
def _mask_key(p: Path) -> str:
    stem = p.stem
    for suf in _MASK_SUFFIXES:
        if stem.lower().endswith(suf):
            return stem[: -len(suf)]
    return stem


def read_folder(root: Path) -> Dataset:
    """Folder pairs: ``images/`` and ``masks/`` matched by stem; a mask stem may add ``_mask``,
    ``_segmentation``, ``_lesion`` (or ``-mask``, ``_seg``). Optional ``labels.csv`` with an id column
    (``id``, ``image_id`` or ``image``) and any of ``label``/``dx``/``diagnosis``, ``group``/``lesion_id``,
    ``split`` (train/val/test)."""
    img_dir, mask_dir = _child(root, "images"), _child(root, "masks")
    if img_dir is None or not img_dir.is_dir():
        raise DataError(f"{root}: not a folder-pairs dataset (no images/ folder)")
    problems: list[Problem] = []
    images = _index(_list_images(img_dir), lambda p: p.stem, problems)
    masks: dict[str, Path] = {}
    if mask_dir is not None and mask_dir.is_dir():
        # a mask named exactly like an image wins over a suffix match
        masks = _index(_list_images(mask_dir), lambda p: p.stem if p.stem in images else _mask_key(p), problems)
    labels = groups = splits = None
    lab = _child(root, "labels.csv")
    if lab is not None and lab.is_file():
        rows = read_csv_rows(lab)
        cols = set(rows[0]) if rows else set()
        idc = next((c for c in ("id", "image_id", "image") if c in cols), None)
        if idc is None:
            raise DataError(f"{lab}: needs an id column (id, image_id or image)")
        lc = next((c for c in ("label", "dx", "diagnosis") if c in cols), None)
        gc = next((c for c in ("group", "lesion_id") if c in cols), None)
        norm_id = {r[idc]: Path(r[idc]).stem if Path(r[idc]).suffix.lower() in IMAGE_EXTENSIONS else r[idc]
                   for r in rows}
        labels = {norm_id[r[idc]]: normalise_label(r[lc]) for r in rows} if lc else None
        groups = {norm_id[r[idc]]: r[gc] for r in rows if r[gc]} if gc else None
        splits = ({norm_id[r[idc]]: {"training": "train", "validation": "val"}.get(r["split"].lower(),
                                                                                r["split"].lower())
                   for r in rows if r["split"]} if "split" in cols else None)
    samples = _pair(root, "folder", images, masks, problems, None, labels, groups)
    if splits:
        from dataclasses import replace

        samples = [replace(s, split=splits.get(s.id)) for s in samples]
    return _finish(root, "folder", samples, problems)


READERS = {"ham10000": read_ham10000, "isic": read_isic, "ph2": read_ph2, "folder": read_folder}


def detect_format(root: Path) -> str | None:
    """The layout of ``root`` (a name of ``FORMATS``) or None; isic is resolved to its year."""
    parts, seg, meta = _ham_parts(root)
    if parts or seg is not None or meta is not None:
        return "ham10000"
    if _ph2_images_root(root) is not None:
        return "ph2"
    entries = _isic_entries(root)
    if len(entries) == 1:
        return f"isic{next(iter(entries))}"
    if len(entries) > 1:
        return "isic"
    img = _child(root, "images")
    if img is not None and img.is_dir():
        return "folder"
    return None
