"""The documented Python API: the names README promises, ``set_image`` on a path / PIL image / array,
``load_predictor`` on a saved model file (str or Path), and README's Python example, run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dermaseg
from dermaseg.data.synthetic import make_image

REPO = Path(__file__).resolve().parents[2]
API = ["load_predictor", "Predictor", "Prediction", "segment_files", "evaluate", "measure", "create_model",
       "list_models", "load_dataset", "Prompt"]


def test_public_names_are_exported():
    assert set(API) <= set(dermaseg.__all__)
    for name in API:
        assert callable(getattr(dermaseg, name)), name
    assert dermaseg.measure(np.ones((4, 4), bool))["area_px"] == 16


def test_set_image_takes_a_path_a_pil_image_or_an_array(tmp_path, dark_cnn):
    rgb, _ = make_image(64, 80, seed=3)
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    predictor = dermaseg.load_predictor(dark_cnn)
    masks = []
    for image in (rgb, str(path), path, Image.open(path), Image.fromarray(rgb).convert("RGBA")):
        predictor.set_image(image)
        masks.append(predictor.predict().mask)
    assert masks[0].shape == (64, 80) and masks[0].any()
    assert all(np.array_equal(masks[0], m) for m in masks[1:])
    with pytest.raises(dermaseg.DermasegError, match="nope.png"):
        predictor.set_image(tmp_path / "nope.png")


@pytest.mark.parametrize("as_path", [str, Path])
def test_load_predictor_on_a_saved_model_file(tmp_path, as_path):
    from dermaseg.models.files import save_model

    net = dermaseg.create_model("unet-mobilenet_v2", pretrained=False)
    file = tmp_path / "best.pt"
    save_model(net, file)
    predictor = dermaseg.load_predictor(as_path(file))
    rgb, _ = make_image(64, 80, seed=1)
    predictor.set_image(rgb)
    assert predictor.predict().mask.shape == (64, 80)


def _readme_python_block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Python\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    code = _readme_python_block()
    assert "load_predictor" in code and "measure" in code and "write_png" in code and "flags" in code
    code = code.replace('"src/dermaseg/', f'"{REPO}/src/dermaseg/')
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - README's own example, run as written
    out = capsys.readouterr().out
    assert "mm²" in out and (tmp_path / "mask.png").is_file()
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255} and mask.any()
    assert np.array_equal(mask > 0, scope["pred"].mask) and scope["box_mask"].any()
