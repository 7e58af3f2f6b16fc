"""PH2 as downloaded: ``PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp`` and
``IMDxxx_lesion/IMDxxx_lesion.bmp``; the clinical diagnosis from ``PH2_dataset.xlsx`` or ``.txt``."""

from __future__ import annotations

from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem
from dermaseg.data.layouts.common import child, children, finish, list_images, pair_samples
from dermaseg.errors import DataError

__all__ = ["read_ph2", "detect"]


def _ph2_images_root(root: Path) -> Path | None:
    for base in (root, child(root, "PH2Dataset")):
        if base is not None and base.is_dir():
            found = child(base, "PH2 Dataset images", "PH2_Dataset_images")
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
    for case in children(base):
        if not case.is_dir():
            continue
        name = case.name.upper()
        img_dir = child(case, f"{case.name}_Dermoscopic_Image")
        les_dir = child(case, f"{case.name}_lesion")
        imgs = list_images(img_dir) if img_dir is not None else []
        mks = list_images(les_dir) if les_dir is not None else []
        if imgs:
            images[name] = next((p for p in imgs if p.stem.upper() == name), imgs[0])
        if mks:
            masks[name] = next((p for p in mks if p.stem.lower() == f"{name.lower()}_lesion"), mks[0])
    top = base.parent
    labels: dict[str, str] | None = None
    for fname, parser in (("PH2_dataset.xlsx", _ph2_labels_xlsx), ("PH2_dataset.txt", _ph2_labels_txt)):
        f = child(top, fname)
        if f is not None and f.is_file():
            labels = parser(f)
            for sid in sorted(set(labels) - set(images)):
                problems.append(Problem("metadata_without_image", sid, f"row of {f.name}"))
            sources = {"labels": str(f)}
            break
    else:
        sources = {}
    samples = pair_samples(root, "ph2", images, masks, problems, None, labels)
    return finish(root, "ph2", samples, problems, sources=sources)


def detect(root: Path) -> str | None:
    """``"ph2"`` when a ``PH2 Dataset images`` folder is here or in ``PH2Dataset/``."""
    return "ph2" if _ph2_images_root(root) is not None else None
