"""evaluate(): exact numbers through test doubles, prompt protocol, outputs, errors, the CLI end to end."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dermaseg.data.prompts import SOURCE_TRUTH, skinsam_prompt
from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DataError, DermasegError
from dermaseg.evaluation.evaluate import evaluate
from dermaseg.io import read_image, read_mask
from tests.evaluation.doubles import BoxFillPredictorDouble, TruthLookupPredictorDouble


@pytest.fixture(scope="module")
def folder_ds(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("ev") / "folder", "folder", n=5, size=(48, 64), seed=3)
    return load_dataset(root)


@pytest.fixture(scope="module")
def isic_root(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ev") / "isic", "isic2017", n=9, size=(48, 64), seed=1)


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_truth_predictor_scores_perfectly(folder_ds):
    res = evaluate(folder_ds, TruthLookupPredictorDouble(folder_ds.samples), "none", progress=False)
    assert len(res.rows) == 5
    for r in res.rows:
        assert r["dice"] == 1.0 and r["iou"] == 1.0 and r["thresholded_jaccard"] == 1.0
        assert r["hd95"] == 0.0 and r["fp"] == 0 and r["fn"] == 0
    assert res.summary["pooled"]["dice"] == 1.0
    assert res.summary["per_image_mean"]["dice"] == {"mean": 1.0, "std": 0.0, "n": 5}
    assert res.prompt_source == "none (automatic cnn: truth-lookup-double)"


def test_eroded_prediction_gives_the_independent_numbers(folder_ds):
    from scipy.ndimage import binary_erosion

    erode = lambda m: binary_erosion(m, iterations=2)  # noqa: E731
    res = evaluate(folder_ds, TruthLookupPredictorDouble(folder_ds.samples, erode), "none", progress=False,
                   limit=3, limit_mode="first")
    assert [r["id"] for r in res.rows] == [s.id for s in folder_ds.samples[:3]]
    for r, s in zip(res.rows, folder_ds.samples, strict=False):
        t = read_mask(s.mask)
        e = erode(t)
        assert r["dice"] == pytest.approx(2 * e.sum() / (e.sum() + t.sum()))  # erosion ⊂ truth
        assert r["iou"] == pytest.approx(e.sum() / t.sum())
        assert r["precision"] == 1.0
        assert r["hd95"] >= 1.0 and r["pred_area"] == e.sum() and r["truth_area"] == t.sum()
    tp = sum(r["tp"] for r in res.rows)
    fn = sum(r["fn"] for r in res.rows)
    assert res.summary["pooled"]["recall"] == pytest.approx(tp / (tp + fn))


def test_skinsam_box_prompt_is_used_and_labelled(folder_ds):
    res = evaluate(folder_ds, BoxFillPredictorDouble(), "box", seed=7, progress=False)
    assert res.prompt_source == SOURCE_TRUTH
    for r, s in zip(res.rows, folder_ds.samples, strict=True):
        expect = skinsam_prompt(read_mask(s.mask), "box", seed=7, image_id=s.id).box
        got = [float(v) for v in re.match(r"box=(.*)", r["prompt"]).group(1).split()]
        np.testing.assert_allclose(got, expect, atol=0.051)
        x0, y0, x1, y1 = (int(round(v)) for v in expect)
        assert r["pred_area"] == (x1 - x0 + 1) * (y1 - y0 + 1)
    again = evaluate(folder_ds, BoxFillPredictorDouble(), "box", seed=7, progress=False)
    other = evaluate(folder_ds, BoxFillPredictorDouble(), "box", seed=8, progress=False)
    assert [r["prompt"] for r in again.rows] == [r["prompt"] for r in res.rows]
    assert [r["prompt"] for r in other.rows] != [r["prompt"] for r in res.rows]


def test_point_and_center_prompts(folder_ds):
    res = evaluate(folder_ds, BoxFillPredictorDouble(radius=3), "point", seed=0, progress=False)
    for r in res.rows:  # the simulated point lies inside the lesion: the disc's centre is a TP
        assert r["prompt"].startswith("point=") and r["prompt"].endswith("+") and r["tp"] >= 1
    c = evaluate(folder_ds, BoxFillPredictorDouble(), "center-box", progress=False)
    assert c.prompt_source == "image centre"
    assert c.rows[0]["prompt"] == "box=6.3 4.7 56.7 42.3"  # 80 % of (63, 47) around (31.5, 23.5)


def test_bad_modes_and_missing_masks(folder_ds, tmp_path):
    with pytest.raises(DermasegError, match="unknown prompt mode"):
        evaluate(folder_ds, BoxFillPredictorDouble(), "boxes", progress=False)
    with pytest.raises(DermasegError, match="takes no prompt"):
        evaluate(folder_ds, TruthLookupPredictorDouble(folder_ds.samples[:1]), "box", progress=False)
    from dataclasses import replace

    no_mask = [replace(s, mask=None) for s in folder_ds.samples]
    with pytest.raises(DataError, match="have no mask"):
        evaluate(no_mask, BoxFillPredictorDouble(), "box", progress=False)


def test_cli_end_to_end_with_a_real_tiny_model(isic_root, tmp_path):
    import torch

    from dermaseg.cli import main
    from dermaseg.models.files import save_model
    from dermaseg.models.registry import create_model

    torch.manual_seed(0)
    model_file = tmp_path / "tiny.pt"
    save_model(create_model("unet-tiny", pretrained=False, input_size=(64, 64)), model_file)
    out = tmp_path / "ev"
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--data", str(isic_root), "--model", str(model_file), "--split", "val",
              "--out", str(out), "--limit", "2", "--seed", "3", "--device", "cpu"])
    assert e.value.code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"]["format"] == "isic2017" and m["dataset"]["split"] == "val"
    assert m["dataset"]["count"] == 2 and m["seed"] == 3
    rows = _read_rows(out / "per_image.csv")
    assert len(rows) == 2
    for r in rows:  # real numbers from a real (untrained) network: counts add up, scores consistent
        tp, fp, fn, tn = (int(r[k]) for k in ("tp", "fp", "fn", "tn"))
        assert tp + fp + fn + tn == 48 * 64
        dice = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        assert float(r["dice"]) == pytest.approx(dice, rel=1e-5)
        assert int(r["pred_area"]) == tp + fp
    assert set(m["per_diagnosis"]) <= {"melanoma", "nevus", "seborrheic_keratosis"}
    assert (out / "report.html").is_file()
    # re-render from the saved files only
    (out / "report.html").unlink()
    with pytest.raises(SystemExit) as e:
        main(["report", str(out)])
    assert e.value.code == 0 and (out / "report.html").is_file()


@pytest.mark.parametrize("args, message", [
    (["--prompt", "boxes"], "unknown prompt mode"),
    (["--prompt", "box"], "takes no prompt"),
])
def test_cli_one_line_errors(isic_root, tmp_path, capsys, args, message):
    import torch

    from dermaseg.cli import main
    from dermaseg.models.files import save_model
    from dermaseg.models.registry import create_model

    torch.manual_seed(0)
    model_file = tmp_path / "tiny.pt"
    save_model(create_model("unet-tiny", pretrained=False, input_size=(64, 64)), model_file)
    out = tmp_path / "ev"
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--data", str(isic_root), "--model", str(model_file), "--out", str(out), *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_box_from_model_uses_the_other_models_box(folder_ds):
    # the box model is a double that returns the truth: its box is the tight truth box, so the filled box
    # contains the whole lesion (recall 1) and the prompt is labelled as coming from that model
    box_model = TruthLookupPredictorDouble(folder_ds.samples)
    res = evaluate(folder_ds, BoxFillPredictorDouble(), "box-from-model", progress=False,
                   box_model=box_model, box_model_name="truth-lookup-double")
    assert res.prompt_source == "model: truth-lookup-double"
    assert box_model.calls == len(folder_ds.samples)
    for r, s in zip(res.rows, folder_ds.samples, strict=True):
        ys, xs = np.nonzero(read_mask(s.mask))
        assert r["prompt"] == f"box={xs.min():.1f} {ys.min():.1f} {xs.max():.1f} {ys.max():.1f}"
        assert r["recall"] == 1.0 and r["fn"] == 0


def test_cli_missing_mask_is_a_one_line_error(tmp_path, capsys):
    from dermaseg.cli import main

    root = write_dataset(tmp_path / "f", "folder", n=3, size=(48, 64), seed=0)
    sorted((root / "masks").iterdir())[0].unlink()
    out = tmp_path / "ev"
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--data", str(root), "--model", "unet-tiny", "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "1 of 3 images have no mask" in err and "case_000" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_doubles_and_the_predictor_share_one_interface(folder_ds):
    from dermaseg.inference.predictor import PredictionLike, Predictor, PredictorLike
    from dermaseg.models.registry import create_model

    real = Predictor(create_model("unet-tiny", pretrained=False, input_size=(64, 64)), device="cpu")
    for p in (real, TruthLookupPredictorDouble(folder_ds.samples), BoxFillPredictorDouble()):
        assert isinstance(p, PredictorLike), type(p).__name__
        p.set_image(read_image(folder_ds.samples[0].image))
        assert isinstance(p.predict(box=None, points=None, point_labels=None), PredictionLike)

    class NoName:  # what evaluate cannot use
        promptable, device = False, "cpu"

        def set_image(self, rgb): ...

        def predict(self, **kw): ...

    assert not isinstance(NoName(), PredictorLike)


def _labelled_folder(root: Path) -> Path:
    """10 images whose first 7 ids (the dataset's order) are nevi: the first 4 miss melanoma entirely."""
    write_dataset(root, "folder", n=10, size=(48, 64), seed=5)
    rows = [f"case_{i:03d},L{i},{'nv' if i < 7 else 'mel'}" for i in range(10)]
    (root / "metadata.csv").write_text("image_id,lesion_id,dx\n" + "\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("mode", ["stratified", "first"])
def test_cli_limit_is_a_stratified_seeded_sample(tmp_path, mode):
    from dermaseg.cli import main
    from dermaseg.models.files import save_model
    from dermaseg.models.registry import create_model

    root = _labelled_folder(tmp_path / "f")
    out = tmp_path / "ev"
    model_file = tmp_path / "tiny.pt"  # a saved model: a bare architecture name is refused as untrained
    save_model(create_model("unet-tiny", pretrained=False, input_size=(64, 64)), model_file)
    args = ["evaluate", "--data", str(root), "--model", str(model_file), "--out", str(out), "--limit", "4",
            "--seed", "2", "--no-report"] + (["--limit-mode", "first"] if mode == "first" else [])
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 0
    m = json.loads((out / "metrics.json").read_text())
    labels = sorted(r["label"] for r in _read_rows(out / "per_image.csv"))
    smp = m["sample"]
    assert smp["n"] == 4 and smp["available"] == 10 and smp["requested"] == 4 and smp["mode"] == mode
    if mode == "first":
        assert labels == ["nv"] * 4 and smp["seed"] is None
        assert set(m["per_diagnosis"]) == {"nv"}
    else:  # proportional: nv 2.8 -> 3, mel 1.2 -> 1
        assert labels == ["mel", "nv", "nv", "nv"] and smp["seed"] == 2
        assert smp["per_diagnosis"] == {"mel": {"available": 3, "sampled": 1}, "nv": {"available": 7, "sampled": 3}}
        assert set(m["per_diagnosis"]) == {"mel", "nv"}
        again = tmp_path / "ev2"
        with pytest.raises(SystemExit):
            main([*args[:6], str(again), *args[7:]])
        ids = [r["id"] for r in _read_rows(out / "per_image.csv")]
        assert [r["id"] for r in _read_rows(again / "per_image.csv")] == ids  # the same seed, the same images
