"""Which N images of a dataset to score when a user asks for fewer than all (``dermaseg evaluate --limit N``).

``stratified`` (the default): a seeded sample stratified by diagnosis with proportional allocation by
largest remainders (Hamilton's method), every diagnosis present getting at least one image when N is at
least the number of diagnoses; images without a label form one stratum of their own (``unlabelled``).
Within a diagnosis the images with the smallest ``sha256(f"{seed}:{id}")`` are taken, so the sample
depends only on the seed and the ids (not on file order, the platform or a random stream), and a larger N
with the same seed keeps every image of a smaller one in each stratum that grows. ``first``: the first N
images in the dataset's order (sorted by split, then id), the behaviour of dermaseg before 0.2.

The returned description is what metrics.json records under ``sample``: mode, N, seed, how many images
there were, and per diagnosis how many were available and how many taken.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from dermaseg.errors import DermasegError

__all__ = ["LIMIT_MODES", "UNLABELLED", "allocate", "sample_subset"]

LIMIT_MODES = ("stratified", "first")
UNLABELLED = "unlabelled"


def allocate(counts: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of ``n`` draws over strata of sizes ``counts`` (largest remainders), with at
    least one draw per stratum when ``n >= len(counts)`` and never more than a stratum holds.

    Ties in the remainders go to the larger stratum, then to the name that sorts first.
    """
    total = sum(counts.values())
    if n >= total:
        return dict(counts)
    names = sorted(counts)
    quota = {k: n * counts[k] / total for k in names}
    floor = 1 if n >= len(names) else 0
    alloc = {k: min(counts[k], max(floor, math.floor(quota[k]))) for k in names}
    while sum(alloc.values()) < n:  # give the next draw to the largest unmet remainder
        open_ = [k for k in names if alloc[k] < counts[k]]  # sorted: max() keeps the first of equals
        k = max(open_, key=lambda k: (quota[k] - alloc[k], counts[k]))
        alloc[k] += 1
    while sum(alloc.values()) > n:  # the floor of one per stratum overshot: take back the most over-served
        k = min((k for k in names if alloc[k] > floor), key=lambda k: (quota[k] - alloc[k], -counts[k]))
        alloc[k] -= 1
    return alloc


def _rank(seed: int, sample_id: str) -> str:
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).hexdigest()


def sample_subset(samples: Sequence[Any], n: int | None, mode: str = "stratified", seed: int = 0
                  ) -> tuple[list[Any], dict[str, Any]]:
    """(chosen samples in their original order, description for metrics.json) — see the module docstring.

    ``samples`` need ``id`` and ``label`` attributes; ``n=None`` takes them all (mode ``all``)."""
    if mode not in LIMIT_MODES:
        raise DermasegError(f"--limit-mode {mode!r}: choose one of {', '.join(LIMIT_MODES)}")
    items = list(samples)

    def label(s: Any) -> str:
        return getattr(s, "label", None) or UNLABELLED

    available: dict[str, int] = {}
    for s in items:
        available[label(s)] = available.get(label(s), 0) + 1
    if n is None or n >= len(items):
        chosen, how = items, "all"
    elif n < 1:
        raise DermasegError(f"--limit {n}: must be at least 1")
    elif mode == "first":
        chosen, how = items[:n], "first"
    else:
        alloc = allocate(available, n)
        keep: set[int] = set()
        for lab, k in alloc.items():
            members = sorted((i for i, s in enumerate(items) if label(s) == lab),
                             key=lambda i: (_rank(seed, str(items[i].id)), i))
            keep.update(members[:k])
        chosen, how = [s for i, s in enumerate(items) if i in keep], "stratified"
    taken: dict[str, int] = {}
    for s in chosen:
        taken[label(s)] = taken.get(label(s), 0) + 1
    info = {
        "mode": how,
        "requested": n,
        "n": len(chosen),
        "available": len(items),
        "seed": int(seed) if how == "stratified" else None,
        "per_diagnosis": {k: {"available": available[k], "sampled": taken.get(k, 0)} for k in sorted(available)},
        "note": {"all": "every image of the split",
                 "first": "the first N images in the dataset's order (split, then id): not a random sample",
                 "stratified": "seeded sample stratified by diagnosis (proportional allocation by largest "
                               "remainders, at least one image per diagnosis when N allows; within a "
                               "diagnosis the smallest sha256(seed:id))"}[how],
    }
    return chosen, info
