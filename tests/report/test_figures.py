"""The report's figures, drawn from saved data only."""

from __future__ import annotations

import numpy as np


def test_figure_contours_are_plotted_as_column_row():
    from dermaseg.overlays import TRUTH_COLOUR
    from dermaseg.report import figures as F

    class Ax:
        def __init__(self):
            self.lines = []

        def plot(self, x, y, **kw):
            self.lines.append((np.asarray(x), np.asarray(y), kw["color"]))

    mask = np.zeros((20, 50), bool)
    mask[2:5, 30:45] = True  # a wide block near the top right
    ax = Ax()
    F._contours(ax, mask, TRUTH_COLOUR)
    x, y, colour = ax.lines[0]
    assert colour == TRUTH_COLOUR
    assert 29 <= x.min() and x.max() <= 45 and 1 <= y.min() and y.max() <= 5  # x = column, y = row


def test_nothing_to_draw_gives_no_figure(tmp_path):
    from dermaseg.report import figures as F

    assert F.case_panels(tmp_path, [], tmp_path / "a.png") is None
    assert F.contour_grid(tmp_path, [], tmp_path / "b.png") is None
    assert F.metric_histograms([], tmp_path / "c.png") is None
    assert F.diagnosis_histograms([{"dice": 0.5, "label": ""}], tmp_path / "d.png") is None  # no diagnosis
    assert F.confusion_heatmap({"tp": 1}, tmp_path / "e.png") is None  # counts incomplete
    assert F.training_curves([], tmp_path / "f.png") is None
    assert not list(tmp_path.iterdir())
    hist = [{"epoch": "1", "train_loss": "0.9", "val_loss": "1.0", "val_dice": "0.5", "val_iou": "0.4"}]
    path = F.training_curves(hist, tmp_path / "curves.png")
    assert path == tmp_path / "curves.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
