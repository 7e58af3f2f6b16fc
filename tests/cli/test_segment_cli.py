"""`dermaseg segment` through the command line: bad prompt values and prompt CSVs are one line naming the
option/file/line, exit 2 and nothing written; models that need training are refused (segment and evaluate)
and marked in `dermaseg models`; a SAM-family model without a box warns once, naming the fix;
`--prompt box-from-model` prompts it with the bundled model's box."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from dermaseg.cli import main
from dermaseg.data.synthetic import make_image, write_dataset
from tests.clirun import run_cli_out_err as _run


@pytest.fixture()
def images(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name, seed in (("a", 1), ("b", 2)):
        Image.fromarray(make_image(72, 96, seed=seed)[0]).save(d / f"{name}.png")
    return d


@pytest.mark.parametrize("extra, message", [
    (["--box", ""], "--box: box must be 4 numbers"),
    (["--box", "nan,1,20,30"], "--box: box must be 4 numbers"),
    (["--box", "1,2,inf,30"], "--box: box must be 4 numbers"),
    (["--box", "30,2,10,40"], "--box: box has no area"),
    (["--box", "10,10,10,40"], "--box: box has no area"),
    (["--box", "200,200,300,300"], "--box"),
    (["--point", "500,3"], "--point: point 500,3 lies outside the 96x72 image"),
    (["--point=-1,3"], "--point"),
    (["--point", "inf,3"], "--point"),
    (["--prompt", "box-from-mask"], "--prompt"),
    (["--prompt", "box-from-model", "--box", "1,2,30,40"], "--prompt box-from-model"),
])
def test_bad_prompt_values(images, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    code, _, err = _run(["segment", images, "--out", out, "--model", "litemedsam", *extra], capsys)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_prompts_csv_naming_none_or_some_of_the_images(images, tmp_path, capsys):
    csv_path = tmp_path / "p.csv"
    out = tmp_path / "out"
    csv_path.write_text("image,x0,y0,x1,y1,px,py\nzzz.png,1,2,30,40,,\n")
    code, _, err = _run(["segment", images, "--out", out, "--model", "litemedsam", "--prompts", csv_path], capsys)
    assert code == 2 and "p.csv: names none of the 2 input images" in err and err.count("\n") == 1
    assert not out.exists()
    csv_path.write_text("image,x0,y0,x1,y1,px,py\na.png,1,2,30,40,,\nb,200,200,300,300,,\n")
    code, _, err = _run(["segment", images, "--out", out, "--model", "litemedsam", "--prompts", csv_path], capsys)
    assert code == 2 and "p.csv line 3" in err and not out.exists()   # b's box lies outside b
    csv_path.write_text("image,x0,y0,x1,y1,px,py\na.png,1,2,30,40,,\n")
    code, stdout, err = _run(["segment", images, "--out", out, "--model", "litemedsam", "--prompts", csv_path],
                             capsys)
    assert code == 0, err
    assert err.count("no row for 1 of 2 images (b.png)") == 1
    assert err.count("have no box") == 1                                 # one warning, naming the fix
    assert "--prompt box-from-model" in err and "--box" in err
    rows = {r["output"]: r for r in csv.DictReader(open(out / "results.csv", newline=""))}
    assert rows["a"]["prompt"].startswith("box ") and rows["b"]["prompt"] == "none"
    assert "2 images: 2 segmented" in stdout


@pytest.mark.parametrize("name", ["unet-mobilenet_v2", "fpn-efficientnet-lite0", "skinsam-litemedsam",
                                  "melseg-litemedsam"])
def test_models_that_need_training_are_refused(images, tmp_path, capsys, name):
    out = tmp_path / "out"
    code, _, err = _run(["segment", images, "--out", out, "--model", name], capsys)
    assert code == 2 and err.count("\n") == 1 and "needs training" in err
    assert "dermaseg train" in err and "best.pt" in err and "--model default" in err
    assert not out.exists()
    data = tmp_path / "data"
    write_dataset(data, layout="folder", n=2, size=(48, 64))
    code, _, err = _run(["evaluate", "--data", data, "--model", name, "--out", out], capsys)
    assert code == 2 and "needs training" in err and err.count("\n") == 1 and not out.exists()


def test_a_trained_file_of_that_architecture_is_accepted(images, tmp_path, capsys):
    from dermaseg.models.files import save_model
    from dermaseg.models.registry import create_model

    best = tmp_path / "run" / "best.pt"
    best.parent.mkdir()
    save_model(create_model("unet-mobilenet_v2", pretrained=False), best)
    out = tmp_path / "out"
    code, _, err = _run(["segment", images / "a.png", "--out", out, "--model", best, "--save", "mask"], capsys)
    assert code == 0, err
    assert (out / "a_mask.png").is_file()


def test_models_lists_readiness(capsys):
    from dermaseg.models.registry import describe_models

    rows = {r["name"]: r for r in describe_models()}
    assert rows["default"]["ready"] and rows["litemedsam"]["ready"] and rows["mobilesam"]["ready"]
    for name in ("unet-<encoder>", "fpn-mobilenet_v2", "skinsam-<sam model>", "melseg-<sam model>"):
        assert not rows[name]["ready"] and "dermaseg train" in rows[name]["needs_training"]
    main_out = _models_table(capsys)
    assert "ready to segment" in main_out and "needs training" in main_out
    assert "backend: torch unless --backend onnx|onnx-int8" in main_out  # which backend runs by default


def _models_table(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["models"])
    return capsys.readouterr().out


@pytest.mark.slow
def test_box_from_model_prompts_sam_with_the_bundled_models_box(images, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = _run(["segment", images / "a.png", "--out", out, "--model", "litemedsam",
                         "--prompt", "box-from-model", "--save", "mask"], capsys)
    assert code == 0, err
    assert "no box" not in err
    row = next(csv.DictReader(open(out / "results.csv", newline="")))
    assert row["prompt"].startswith("box ") and "model: default" in row["source"] + row["prompt"], row


def test_litemedsam_with_a_point_warns(images, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = _run(["segment", images / "a.png", "--out", out, "--model", "litemedsam",
                         "--box", "10,10,80,60", "--point", "40,30", "--save", "mask"], capsys)
    assert code == 0 and err.count("trained with box prompts only") == 1 and "without --point" in err
