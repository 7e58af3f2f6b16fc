"""Seeded K-fold splits grouped by lesion and stratified by diagnosis, saved as JSON and re-used.

What is split:
- A dataset with a metadata table (HAM10000) is split on **all rows of the table**, whether or not their
  images are here: the real ``../shared/data/ham10000`` (10,015 rows, 5 images) gets the same folds as a
  full download, and ``dermaseg data split .../HAM10000_metadata.csv`` works from the table alone. Use
  :meth:`Splits.fold_samples` to get the samples of a fold that are actually present.
- Otherwise the samples are split. Samples of a dataset's own ``val``/``test`` splits (ISIC) are kept out
  of the folds and listed under ``official``; the folds are made from its ``train`` samples.

How: groups (``Sample.group``: HAM10000 ``lesion_id``, the image id elsewhere) are put into bins one by
one, largest first, each into the bin where it least increases the squared deviation from the target
share of every class (label ``None`` is a class of its own) and of the total size. Ties go to the lower bin.
The order among equal-sized groups comes from ``sha256(f"{seed}:{group}")``, and the arithmetic is plain
Python floats in a fixed order, so the folds are identical across runs, machines and library versions
(no reliance on set/dict order, hash randomisation or numpy's random streams). ``test_fraction`` first
holds out that share of the groups (stratified the same way) as a test set. No group is ever in two folds
(asserted when made and when loaded).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermaseg.data.dataset import Dataset, Sample
from dermaseg.data.readers import load_dataset
from dermaseg.errors import DataError
from dermaseg.io import write_text

__all__ = ["Splits", "make_splits", "get_or_make_splits", "split_from_metadata", "assign_groups", "holdout"]

_VERSION = 1
_NONE = "-"


def assign_groups(groups: list[tuple[str, dict[str, int]]], targets: list[float], seed: int) -> dict[str, int]:
    """Greedy stratified assignment of groups to bins with target shares ``targets`` (summing to 1).

    ``groups``: (group id, {class: count}). Returns group id -> bin index. Deterministic (module docstring).
    """
    classes = sorted({c for _, cnt in groups for c in cnt})
    totals = {c: sum(cnt.get(c, 0) for _, cnt in groups) for c in classes}
    n_total = sum(totals.values())
    k = len(targets)
    bins = [dict.fromkeys(classes, 0) for _ in range(k)]
    sizes = [0] * k

    def order_key(item: tuple[str, dict[str, int]]) -> tuple[int, str, str]:
        gid, cnt = item
        return (-sum(cnt.values()), hashlib.sha256(f"{seed}:{gid}".encode()).hexdigest(), gid)

    out: dict[str, int] = {}
    for gid, cnt in sorted(groups, key=order_key):
        size = sum(cnt.values())
        best, best_cost = 0, None
        for j in range(k):
            cost = 0.0
            for c in classes:
                g = cnt.get(c, 0)
                if g:
                    dev = bins[j][c] - targets[j] * totals[c]
                    cost += (2.0 * g * dev + g * g) / (totals[c] * totals[c])
            dev = sizes[j] - targets[j] * n_total
            cost += (2.0 * size * dev + size * size) / (n_total * n_total)
            if best_cost is None or cost < best_cost - 1e-15:
                best, best_cost = j, cost
        out[gid] = best
        for c, g in cnt.items():
            bins[best][c] += g
        sizes[best] += size
    return out


@dataclass
class Splits:
    """K folds (train/val id lists), an optional held-out test set, and the dataset's official splits."""

    format: str
    seed: int
    k: int
    test_fraction: float
    folds: list[dict[str, list[str]]]
    test: list[str] = field(default_factory=list)
    official: dict[str, list[str]] = field(default_factory=dict)
    class_counts: list[dict[str, int]] = field(default_factory=list)  # per fold, of its val ids
    test_counts: dict[str, int] = field(default_factory=dict)
    source: str = "samples"  # or "metadata"
    fingerprint: str = ""
    groups: dict[str, str] = field(default_factory=dict, repr=False)  # id -> group (for the assertion)

    def fold(self, i: int) -> tuple[list[str], list[str]]:
        """(train ids, val ids) of fold ``i``."""
        if not 0 <= i < self.k:
            raise DataError(f"fold {i} out of range: these splits have {self.k} folds (0..{self.k - 1})")
        return list(self.folds[i]["train"]), list(self.folds[i]["val"])

    def fold_samples(self, dataset: Dataset, i: int) -> tuple[list[Sample], list[Sample]]:
        """(train samples, val samples) of fold ``i`` among the samples present in ``dataset``."""
        by_id = dataset.by_id()
        train, val = self.fold(i)
        return [by_id[x] for x in train if x in by_id], [by_id[x] for x in val if x in by_id]

    def test_samples(self, dataset: Dataset) -> list[Sample]:
        """The held-out test samples present in ``dataset``."""
        by_id = dataset.by_id()
        return [by_id[x] for x in self.test if x in by_id]

    def validate(self) -> None:
        """Assert that every id is in exactly one val fold (or test) and no group crosses folds/test."""
        where: dict[str, str] = {}
        for i, f in enumerate(self.folds):
            if set(f["train"]) & set(f["val"]):
                raise AssertionError(f"fold {i}: an id is in both train and val")
            for x in f["val"]:
                if x in where:
                    raise AssertionError(f"id {x} is in the val set of two folds")
                where[x] = f"fold {i}"
        for x in self.test:
            if x in where:
                raise AssertionError(f"id {x} is both in the test set and in a fold")
            where[x] = "test"
        group_bin: dict[str, str] = {}
        for x, b in where.items():
            g = self.groups.get(x, x)
            if group_bin.setdefault(g, b) != b:
                raise AssertionError(f"group {g} is in two folds ({group_bin[g]} and {b})")

    def to_dict(self) -> dict[str, Any]:
        return {"version": _VERSION, "format": self.format, "seed": self.seed, "k": self.k,
                "test_fraction": self.test_fraction, "source": self.source, "fingerprint": self.fingerprint,
                "folds": self.folds, "test": self.test, "official": self.official,
                "class_counts": self.class_counts, "test_counts": self.test_counts, "groups": self.groups}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically; return its path."""
        write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Splits:
        """Read and validate a splits JSON written by :meth:`save`."""
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            s = cls(format=d["format"], seed=int(d["seed"]), k=int(d["k"]),
                    test_fraction=float(d["test_fraction"]), folds=d["folds"], test=d.get("test", []),
                    official=d.get("official", {}), class_counts=d.get("class_counts", []),
                    test_counts=d.get("test_counts", {}), source=d.get("source", "samples"),
                    fingerprint=d.get("fingerprint", ""), groups=d.get("groups", {}))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{p}: not a dermaseg splits file ({type(e).__name__}: {e})") from e
        try:
            s.validate()
        except AssertionError as e:
            raise DataError(f"{p}: invalid splits ({e})") from e
        except (TypeError, KeyError, ValueError, AttributeError) as e:  # right keys, wrong types inside
            raise DataError(f"{p}: not a dermaseg splits file ({type(e).__name__}: {e})") from e
        return s

    def print_summary(self, console=None) -> None:
        """Print the per-fold class table (val counts per fold, test, total) and the grouping check."""
        from rich.console import Console
        from rich.table import Table

        con = console or Console()
        labels = sorted({lab for c in [*self.class_counts, self.test_counts] for lab in c})
        n_groups = len(set(self.groups.values())) if self.groups else None
        n_ids = sum(len(f["val"]) for f in self.folds) + len(self.test)
        con.print(f"{self.k} folds of {n_ids:,} {self.format} ids"
                  + (f" in {n_groups:,} groups" if n_groups else "")
                  + f" (seed {self.seed}, split on {self.source}"
                  + (f", test {len(self.test):,}" if self.test else "") + ")")
        con.print("no group is in two folds (checked); validation counts per fold:")
        t = Table(show_edge=False)
        t.add_column("label")
        for i in range(self.k):
            t.add_column(f"fold {i}", justify="right")
        if self.test:
            t.add_column("test", justify="right")
        t.add_column("total", justify="right")
        cols = [*self.class_counts, *([self.test_counts] if self.test else [])]
        for lab in labels:
            vals = [c.get(lab, 0) for c in cols]
            t.add_row(lab, *(f"{v:,}" for v in vals), f"{sum(vals):,}")
        sizes = [sum(c.values()) for c in cols]
        t.add_row("[bold]all[/bold]", *(f"{v:,}" for v in sizes), f"{sum(sizes):,}")
        con.print(t)
        for name, ids in self.official.items():
            con.print(f"official {name} split kept out of the folds: {len(ids):,} ids")


def _pool(dataset: Dataset) -> tuple[list[tuple[str, str, str | None]], dict[str, list[str]], str]:
    """(id, group, label) rows to split, the official val/test ids kept apart, and the source name."""
    if dataset.records:
        rows = [(r.id, r.group, r.label) for r in dataset.records]
        source = "metadata"
        official: dict[str, list[str]] = {}
    else:
        rows = [(s.id, s.group, s.label) for s in dataset.samples if s.split in (None, "train")]
        source = "samples"
        official = {sp: sorted({s.id for s in dataset.samples if s.split == sp}) for sp in ("val", "test")}
        official = {k: v for k, v in official.items() if v}
    seen: set[str] = set()
    unique = []
    for row in sorted(rows):
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    return unique, official, source


def _fingerprint(rows, official) -> str:
    h = hashlib.sha256()
    for sid, g, lab in rows:
        h.update(f"{sid}\t{g}\t{lab or ''}\n".encode())
    for name in sorted(official):
        h.update(f"#{name}:{','.join(official[name])}\n".encode())
    return h.hexdigest()


def make_splits(dataset: Dataset, folds: int = 5, seed: int = 0, test_fraction: float = 0.0) -> Splits:
    """Make the grouped, stratified folds of ``dataset`` (see the module docstring)."""
    if folds < 2:
        raise DataError(f"--folds must be at least 2, got {folds}")
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    rows, official, source = _pool(dataset)
    group_of = {sid: g for sid, g, _ in rows}
    label_of = {sid: (lab or _NONE) for sid, _, lab in rows}
    members: dict[str, list[str]] = {}
    for sid, g, _ in rows:
        members.setdefault(g, []).append(sid)

    def counts(gids) -> list[tuple[str, dict[str, int]]]:
        return [(g, dict(Counter(label_of[x] for x in members[g]))) for g in sorted(gids)]

    gids = sorted(members)
    test_groups: set[str] = set()
    if test_fraction > 0:
        where = assign_groups(counts(gids), [test_fraction, 1.0 - test_fraction], seed)
        test_groups = {g for g, b in where.items() if b == 0}
    cv_groups = [g for g in gids if g not in test_groups]
    if len(cv_groups) < folds:
        raise DataError(f"{dataset.root}: {len(cv_groups)} group(s) to split, fewer than --folds {folds}")
    where = assign_groups(counts(cv_groups), [1.0 / folds] * folds, seed)
    val_ids: list[list[str]] = [[] for _ in range(folds)]
    for g in cv_groups:
        val_ids[where[g]].extend(members[g])
    cv_ids = sorted(x for g in cv_groups for x in members[g])
    fold_list = []
    for i in range(folds):
        vset = set(val_ids[i])
        fold_list.append({"train": [x for x in cv_ids if x not in vset], "val": sorted(vset)})
    test = sorted(x for g in test_groups for x in members[g])
    splits = Splits(format=dataset.format, seed=seed, k=folds, test_fraction=test_fraction, folds=fold_list,
                    test=test, official=official,
                    class_counts=[dict(sorted(Counter(label_of[x] for x in f["val"]).items())) for f in fold_list],
                    test_counts=dict(sorted(Counter(label_of[x] for x in test).items())),
                    source=source, fingerprint=_fingerprint(rows, official), groups=dict(sorted(group_of.items())))
    splits.validate()
    return splits


def get_or_make_splits(dataset: Dataset, out: str | os.PathLike, folds: int = 5, seed: int = 0,
                       test_fraction: float = 0.0, overwrite: bool = False) -> Splits:
    """Re-use ``out`` when it was made from the same ids/groups/labels with the same seed, k and test
    fraction; otherwise make the splits and save them there. A different existing file raises
    :class:`DataError` unless ``overwrite``."""
    out = Path(out)
    rows, official, _ = _pool(dataset)
    want = _fingerprint(rows, official)
    if out.exists() and not overwrite:
        old = Splits.load(out)
        diffs = [f"{name} {a} != {b}" for name, a, b in (
            ("folds", old.k, folds), ("seed", old.seed, seed), ("test_fraction", old.test_fraction, test_fraction),
            ("format", old.format, dataset.format)) if a != b]
        if old.fingerprint != want:
            diffs.append("the ids, groups or labels differ")
        if diffs:
            raise DataError(f"{out}: exists but was made differently ({'; '.join(diffs)}); "
                            "pass --overwrite to replace it, or choose another --out")
        return old
    splits = make_splits(dataset, folds=folds, seed=seed, test_fraction=test_fraction)
    splits.save(out)
    return splits


def split_from_metadata(metadata_csv: str | os.PathLike, folds: int = 5, seed: int = 0,
                        test_fraction: float = 0.0) -> Splits:
    """Splits of a HAM10000 metadata table alone (``HAM10000_metadata.csv``), images not needed."""
    return make_splits(load_dataset(metadata_csv, format="ham10000"), folds=folds, seed=seed,
                       test_fraction=test_fraction)


def holdout(samples: list[Sample], fraction: float = 0.2, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Grouped, label-stratified hold-out (:func:`assign_groups` with shares 1 - ``fraction`` and
    ``fraction``) -> (kept, held out): no group (lesion) is on both sides; one group only -> all kept."""
    counts: dict[str, dict[str, int]] = {}
    for s in samples:
        c = counts.setdefault(s.group, {})
        key = s.label or "-"
        c[key] = c.get(key, 0) + 1
    if len(counts) < 2:
        return list(samples), []
    where = assign_groups(sorted(counts.items()), [1.0 - fraction, fraction], seed)
    return [s for s in samples if where[s.group] == 0], [s for s in samples if where[s.group] == 1]
