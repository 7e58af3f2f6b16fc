"""Has it changed? Two visits of one lesion compared: registration, segmentation, measurements, change.

``dermaseg.compare(before, after, out=None, pixel_size=..., masks_before=..., masks_after=...)`` and
``dermaseg compare BEFORE AFTER --out DIR`` (``docs/compare.md``). The parts:

- :mod:`~dermaseg.compare.registration`: AFTER onto BEFORE (SIFT + RANSAC similarity, ECC refinement),
  its quality and ``ok``;
- :mod:`~dermaseg.compare.change`: both visits measured by :func:`dermaseg.measure`, the change, and the
  one rule for ``changed``;
- :mod:`~dermaseg.compare.thresholds`: the measured repeatability limits (``repeatability.json``);
- :mod:`~dermaseg.compare.simulate`: simulated re-acquisitions (the benchmark that measures the limits);
- :mod:`~dermaseg.compare.run`: files in, compare.json + images out; :mod:`~dermaseg.compare.series`:
  ``--pairs CSV``; :mod:`~dermaseg.compare.report`: the one-page HTML and PNG, from the saved JSON.

``import dermaseg`` does not import this package (nor torch) until ``dermaseg.compare`` is used; the
Predictor itself is built only when a mask has to be segmented.
"""

from __future__ import annotations

from dermaseg.compare.run import compare, compare_arrays

__all__ = ["compare", "compare_arrays"]
