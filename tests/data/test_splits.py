"""Grouped, stratified, deterministic, re-used splits; the assignment on hand-checkable cases; CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dermaseg.cli import app
from dermaseg.data.dataset import Dataset, Record, Sample
from dermaseg.data.readers import load_dataset
from dermaseg.data.splits import (
    Splits,
    assign_groups,
    get_or_make_splits,
    holdout,
    make_splits,
    split_from_metadata,
)
from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DataError


def _toy(n_lesions: int = 60, seed: int = 0) -> Dataset:
    """Metadata-only dataset: lesions with 1-4 images, labels a:b:c about 6:3:1."""
    records = []
    for i in range(n_lesions):
        lab = "a" if i % 10 < 6 else "b" if i % 10 < 9 else "c"
        for j in range(1 + (i * 7 + seed) % 4):
            records.append(Record(id=f"img{i:03d}_{j}", group=f"L{i:03d}", label=lab))
    return Dataset(root=Path("."), format="ham10000", samples=[], records=records)


def test_assign_groups_hand_case():
    # four single-image groups of one class into two equal bins: two each, ties to the lower bin first
    out = assign_groups([("g1", {"x": 1}), ("g2", {"x": 1}), ("g3", {"x": 1}), ("g4", {"x": 1})], [0.5, 0.5], 0)
    assert Counter(out.values()) == {0: 2, 1: 2}
    # a big group goes first and alone; the small ones fill the other bin
    out = assign_groups([("big", {"x": 4}), ("s1", {"x": 1}), ("s2", {"x": 1}), ("s3", {"x": 1}),
                         ("s4", {"x": 1})], [0.5, 0.5], 0)
    assert out["big"] == 0 and {out[s] for s in ("s1", "s2", "s3", "s4")} == {1}


def test_grouped_stratified_and_complete():
    ds = _toy()
    sp = make_splits(ds, folds=5, seed=1)
    all_val = [x for f in sp.folds for x in f["val"]]
    assert sorted(all_val) == sorted(r.id for r in ds.records)
    group = {r.id: r.group for r in ds.records}
    for i, f in enumerate(sp.folds):
        assert not {group[x] for x in f["val"]} & {group[x] for x in f["train"]}
        assert len(f["train"]) + len(f["val"]) == len(ds.records)
        counts = sp.class_counts[i]
        assert counts == dict(sorted(Counter(r.label for r in ds.records if r.id in set(f["val"])).items()))
    totals = Counter(r.label for r in ds.records)
    for lab, tot in totals.items():
        per = [c.get(lab, 0) for c in sp.class_counts]
        assert max(per) - min(per) <= max(4, tot // 10), (lab, per)


def test_assertion_catches_a_leak():
    sp = make_splits(_toy(), folds=3, seed=0)
    moved = sp.folds[0]["val"][0]
    sp.folds[1]["val"].append(moved)
    with pytest.raises(AssertionError):
        sp.validate()


def test_deterministic_and_seed_dependent():
    a = make_splits(_toy(), folds=4, seed=7).to_dict()
    b = make_splits(_toy(), folds=4, seed=7).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = make_splits(_toy(), folds=4, seed=8).to_dict()
    assert a["folds"] != c["folds"]
    # record order does not matter
    ds = _toy()
    ds.records.reverse()
    assert make_splits(ds, folds=4, seed=7).folds == a["folds"]


def test_test_fraction_held_out_grouped():
    ds = _toy(100)
    sp = make_splits(ds, folds=3, seed=0, test_fraction=0.2)
    n = len(ds.records)
    assert abs(len(sp.test) - 0.2 * n) <= 5
    group = {r.id: r.group for r in ds.records}
    test_groups = {group[x] for x in sp.test}
    for f in sp.folds:
        assert not test_groups & {group[x] for x in f["train"] + f["val"]}


def test_reuse_and_mismatch(tmp_path):
    ds = _toy()
    out = tmp_path / "splits.json"
    sp = get_or_make_splits(ds, out, folds=3, seed=0)
    mtime = out.stat().st_mtime_ns
    again = get_or_make_splits(ds, out, folds=3, seed=0)
    assert again.folds == sp.folds and out.stat().st_mtime_ns == mtime
    with pytest.raises(DataError, match="seed 0 != 1"):
        get_or_make_splits(ds, out, folds=3, seed=1)
    ds.records.pop()
    with pytest.raises(DataError, match="ids, groups or labels differ"):
        get_or_make_splits(ds, out, folds=3, seed=0)
    new = get_or_make_splits(ds, out, folds=3, seed=0, overwrite=True)
    assert Splits.load(out).fingerprint == new.fingerprint != sp.fingerprint


def test_load_rejects_broken_file(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DataError, match="not a dermaseg splits file"):
        Splits.load(tmp_path / "bad.json")


def test_official_splits_kept_out_and_fold_samples(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "i17", "isic2017", n=9, size=(32, 40)))
    sp = make_splits(ds, folds=3, seed=0)
    assert set(sp.official) == {"val", "test"}
    train_ids = {s.id for s in ds.select("train")}
    assert {x for f in sp.folds for x in f["val"]} == train_ids
    tr, va = sp.fold_samples(ds, 0)
    assert all(isinstance(s, Sample) for s in tr + va) and len(tr) + len(va) == len(train_ids)


def test_ham_metadata_only_rows_are_split(tmp_path):
    root = write_dataset(tmp_path / "h", "ham10000", n=6, size=(32, 40), extra_metadata=20)
    sp = split_from_metadata(root / "HAM10000_metadata.csv", folds=3, seed=0)
    assert sp.source == "metadata" and sum(len(f["val"]) for f in sp.folds) == 26
    ds = load_dataset(root)
    tr, va = sp.fold_samples(ds, 1)
    assert len(tr) + len(va) == 6  # only the images present


def test_cli_data_split(tmp_path):
    root = write_dataset(tmp_path / "h", "ham10000", n=6, size=(32, 40), extra_metadata=30)
    out = tmp_path / "splits.json"
    runner = CliRunner()
    res = runner.invoke(app, ["data", "split", str(root), "--folds", "3", "--out", str(out), "--seed", "2"])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["k"] == 3 and d["seed"] == 2 and len(d["folds"]) == 3 and set(d["folds"][0]) == {"train", "val"}
    assert "fold 2" in res.output and "no group is in two folds" in res.output
    res = runner.invoke(app, ["data", "split", str(root), "--folds", "3", "--out", str(out), "--seed", "2"])
    assert res.exit_code == 0 and json.loads(out.read_text()) == d
    res = runner.invoke(app, ["data", "split", str(root), "--folds", "4", "--out", str(out)])
    assert res.exit_code != 0 and isinstance(res.exception, DataError)


@pytest.mark.realdata
def test_real_ham10000_five_folds(shared_data, tmp_path):
    ds = load_dataset(shared_data / "ham10000")
    sp = make_splits(ds, folds=5, seed=0)
    assert sum(len(f["val"]) for f in sp.folds) == 10015 and len(set(sp.groups.values())) == 7470
    totals = Counter(r.label for r in ds.records)
    for lab in totals:
        per = [c.get(lab, 0) for c in sp.class_counts]
        assert max(per) - min(per) <= 2, (lab, per)
    sizes = [len(f["val"]) for f in sp.folds]
    assert max(sizes) - min(sizes) <= 5


def test_holdout_keeps_groups_together(tmp_path):
    root = write_dataset(tmp_path / "ham", "ham10000", n=20, size=(32, 32), seed=0)
    ds = load_dataset(root)
    train, val = holdout(ds.samples, 0.2, seed=0)
    assert len(train) + len(val) == 20 and val
    assert not {s.group for s in train} & {s.group for s in val}
