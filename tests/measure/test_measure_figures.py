"""The Bland-Altman and asymmetry figures, drawn from measurement records."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dermaseg.measure import measure
from dermaseg.report import measure_figures as mf

from . import shapes as S


def _records(pixel_size=None):
    pred, truth = [], []
    for i, (a, b) in enumerate([(30, 20), (40, 25), (25, 25), (45, 15), (35, 30)]):
        t = S.draw(S.ellipse(a, b), 110, 10 * i)
        p = S.draw(S.ellipse(a + 2, b - 1), 110, 10 * i + 5)
        truth.append(measure(t, pixel_size=pixel_size))
        pred.append(measure(p, pixel_size=pixel_size))
    return pred, truth


def test_figures_are_written(tmp_path):
    pred, truth = _records()
    for fn, name in ((mf.bland_altman_diameter, "ba.png"), (mf.asymmetry_scatter, "asym.png")):
        path = fn(pred, truth, tmp_path / "figs" / name)
        assert path == tmp_path / "figs" / name
        im = np.asarray(Image.open(path))
        assert im.ndim == 3 and im.shape[0] > 200 and im.shape[1] > 600
        # the legend's ground-truth green and prediction yellow are on the figure
        rgb = im[..., :3].reshape(-1, 3).astype(int)
        green = (np.abs(rgb - np.array([0, 204, 0])).max(axis=1) < 60).any()
        yellow = (np.abs(rgb - np.array([255, 230, 0])).max(axis=1) < 60).any()
        assert green and yellow, name
    assert not list((tmp_path / "figs").glob(".*part*"))


def test_figures_in_mm_and_nothing_to_draw(tmp_path):
    pred, truth = _records(pixel_size=0.05)
    assert mf.bland_altman_diameter(pred, truth, tmp_path / "mm.png").is_file()
    assert mf.bland_altman_diameter([], [], tmp_path / "none.png") is None
    assert mf.asymmetry_scatter([], [], tmp_path / "none2.png") is None
    assert not (tmp_path / "none.png").exists()
