"""HAM10000 as downloaded: ``HAM10000_images_part_{1,2}/``, ``HAM10000_segmentations_lesion_tschandl/`` and
``HAM10000_metadata.csv`` (group = ``lesion_id``, label = ``dx``)."""

from __future__ import annotations

from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem, Record, normalise_label
from dermaseg.data.layouts.common import (
    children,
    finish,
    index_by,
    is_image,
    list_images,
    pair_samples,
    read_table,
)
from dermaseg.errors import DataError

__all__ = ["read_ham10000", "detect"]


def _ham_parts(root: Path) -> tuple[list[Path], Path | None, Path | None]:
    parts = [p for p in children(root) if p.is_dir() and p.name.lower().startswith("ham10000_images")]
    seg = next((p for p in children(root) if p.is_dir() and p.name.lower().startswith("ham10000_segmentations")),
               None)
    metas = [p for p in children(root) if p.is_file() and p.name.lower().startswith("ham10000_metadata")
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
    images = index_by([p for d in parts for p in list_images(d)], lambda p: p.stem, problems)
    masks: dict[str, Path] = {}
    if seg is not None:
        mask_files = [p for p in seg.rglob("*") if is_image(p) and p.stem.lower().endswith("_segmentation")]
        masks = index_by(mask_files, lambda p: p.stem[: -len("_segmentation")], problems)
    records: list[Record] = []
    labels: dict[str, str | None] | None = None
    groups: dict[str, str] = {}
    meta: dict[str, dict] = {}
    if meta_file is not None:
        header, rows = read_table(meta_file, problems)
        need = {"lesion_id", "image_id", "dx"}
        if not need <= set(header):
            raise DataError(f"{meta_file}: expected columns lesion_id, image_id, dx; found "
                            f"{', '.join(header) or 'nothing'}")
        labels = {}
        for line, row in rows:
            iid = row["image_id"]
            if not iid:
                problems.append(Problem("bad_table_row", f"{meta_file}:{line}", "no image_id"))
                continue
            if iid in labels:
                problems.append(Problem("duplicate_id", iid, f"{meta_file.name} lists it twice (line {line})"))
                continue
            labels[iid] = normalise_label(row["dx"])
            groups[iid] = row["lesion_id"] or iid
            meta[iid] = {k: v for k, v in row.items() if k not in need}
            records.append(Record(id=iid, group=groups[iid], label=labels[iid]))
            if iid not in images:
                problems.append(Problem("metadata_without_image", iid, f"row of {meta_file.name}"))
    samples = pair_samples(root, "ham10000", images, masks, problems, None, labels, groups, meta)
    sources = {"metadata": str(meta_file)} if meta_file else {}
    return finish(root, "ham10000", samples, problems, records=records, sources=sources)


def detect(root: Path) -> str | None:
    """``"ham10000"`` when ``root`` holds any of the HAM10000 folders or its metadata table."""
    parts, seg, meta = _ham_parts(root)
    return "ham10000" if parts or seg is not None or meta is not None else None
