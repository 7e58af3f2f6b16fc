"""evaluate --limit's sample: proportional allocation by hand, every diagnosis when N allows, seeded,
first-N behind a mode, and the description metrics.json records."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dermaseg.data.sampling import allocate, sample_subset
from dermaseg.errors import DermasegError


@dataclass(frozen=True)
class S:
    id: str
    label: str | None


# PH2's order as read: ids IMD002.. sorted, the melanomas among the last ids (first-20 has none)
PH2_LIKE = [S(f"IMD{i:03d}", "common_nevus" if i < 82 else "atypical_nevus" if i < 162 else "melanoma")
            for i in range(2, 202)]


@pytest.mark.parametrize("counts,n,expect", [
    ({"a": 80, "b": 80, "c": 40}, 20, {"a": 8, "b": 8, "c": 4}),          # exact quotas
    ({"a": 97, "b": 2, "c": 1}, 3, {"a": 1, "b": 1, "c": 1}),             # at least one of each
    ({"a": 97, "b": 2, "c": 1}, 10, {"a": 8, "b": 1, "c": 1}),            # quotas 9.7/0.2/0.1, floors of 1
    ({"a": 5, "b": 3, "c": 2}, 7, {"a": 4, "b": 2, "c": 1}),              # 3.5/2.1/1.4: remainders .5 then .4
    ({"a": 50, "b": 30, "c": 20}, 2, {"a": 1, "b": 1, "c": 0}),           # N below the number of classes
    ({"a": 2, "b": 1}, 5, {"a": 2, "b": 1}),                              # N above the total: everything
    ({"a": 1, "b": 9}, 5, {"a": 1, "b": 4}),                              # a stratum never over-drawn
])
def test_allocate_by_hand(counts, n, expect):
    got = allocate(counts, n)
    assert got == expect and sum(got.values()) == min(n, sum(counts.values()))


def test_stratified_sample_has_every_diagnosis_where_first_n_has_none():
    first, info_first = sample_subset(PH2_LIKE, 20, "first")
    assert {s.label for s in first} == {"common_nevus"}  # the bug of the issue: no melanoma at all
    assert info_first["mode"] == "first" and info_first["seed"] is None
    chosen, info = sample_subset(PH2_LIKE, 20, "stratified", seed=0)
    counts = {k: v["sampled"] for k, v in info["per_diagnosis"].items()}
    assert counts == {"atypical_nevus": 8, "common_nevus": 8, "melanoma": 4}
    assert [s.label for s in chosen].count("melanoma") == 4 and len(chosen) == 20
    assert chosen == sorted(chosen, key=PH2_LIKE.index)  # the dataset's order is kept
    assert info == {**info, "mode": "stratified", "requested": 20, "n": 20, "available": 200, "seed": 0}
    assert info["per_diagnosis"]["melanoma"] == {"available": 40, "sampled": 4}


def test_seeded_reproducible_and_order_independent():
    a, _ = sample_subset(PH2_LIKE, 20, seed=3)
    b, _ = sample_subset(list(reversed(PH2_LIKE)), 20, seed=3)
    c, _ = sample_subset(PH2_LIKE, 20, seed=4)
    assert {s.id for s in a} == {s.id for s in b}  # depends on ids and seed, not on file order
    assert {s.id for s in a} != {s.id for s in c}
    bigger, _ = sample_subset(PH2_LIKE, 40, seed=3)
    assert {s.id for s in a} <= {s.id for s in bigger}  # each stratum grows, nothing is swapped out


def test_unlabelled_images_are_a_stratum_and_all_or_bad_values():
    items = [S(f"x{i}", None) for i in range(6)] + [S("m0", "mel")]
    chosen, info = sample_subset(items, 2, seed=0)
    assert {s.label for s in chosen} == {None, "mel"} and set(info["per_diagnosis"]) == {"unlabelled", "mel"}
    every, info = sample_subset(items, None)
    assert every == items and info["mode"] == "all"
    assert sample_subset(items, 99)[1]["mode"] == "all"
    with pytest.raises(DermasegError, match="--limit-mode 'random'"):
        sample_subset(items, 2, "random")
    with pytest.raises(DermasegError, match="--limit 0"):
        sample_subset(items, 0)
