"""Border of a lesion: the B score of the ABCD rule, from the image across the mask's border.

Stolz's ABCD rule of dermoscopy (Stolz et al. 1994, Eur J Dermatol 4:521–527) scores the border as the
number (0–8) of the eight 45° sectors of the lesion in which the pigment pattern ends *abruptly* at the
periphery rather than fading out. dermaseg measures that abruptness as the steepness of the colour
profile across the border, in each sector:

- Sectors: eight 45° sectors around the centroid, the first starting at the major axis (the axis of
  :mod:`dermaseg.measure.asymmetry`), by each pixel's angle about the centroid.
- Profile: each pixel near the border gets a signed distance ``t`` to the border (Euclidean distance
  transform, OpenCV; ``t = d - 1/2`` outside and ``-(d - 1/2)`` inside, ``d`` the distance between pixel
  centres, so the border is at ``t = 0``). ``D_eq`` is the equivalent diameter, ``w_n = max(2 px,
  0.03 D_eq)`` a step width and ``w = max(3 px, 0.10 D_eq)`` a zone width; the profile spans
  ``|t| <= w_n + w``.
- Contrast ``C`` of a sector: ΔE*ab (CIE76) between the mean CIELAB colours of its outer zone
  (``w_n <= t <= w_n + w``) and its inner zone (``-(w_n + w) <= t <= -w_n``).
- Steepest step ``S``: the largest ΔE*ab between the mean colours of two adjacent windows of width
  ``w_n`` (``[c - w_n, c)`` and ``[c, c + w_n)``), over every cut ``c`` with ``|c| <= w``. Taking the
  steepest cut rather than the mask's own border keeps the measure from depending on a mask drawn a
  few pixels off the edge.
- Sharpness ``s = min(S / C, 1)``: the share of the lesion-to-skin colour change made within one step
  width. A step edge gives 1; a linear fade of width ``R >= 2 w_n`` gives about ``w_n / R``; a fade
  wider than the whole profile ``w_n / (2 w_n + w)``, about 0.19.
- A sector is abrupt when ``s >= SHARPNESS_THRESHOLD`` (0.5: the colour changes by half within
  ``w_n``, i.e. the edge is at most ``2 w_n`` = 6 % of the diameter wide) and ``C >=
  MIN_SECTOR_CONTRAST`` (ΔE*ab 8: a sector without visible pigment contrast has no cut-off). A sector
  whose zones or windows hold fewer than 3 pixels (a lesion touching the image edge) is not counted.

``border_score`` = the number of abrupt sectors (0–8), ``border_sharpness`` = the mean ``s`` over the
sectors that have the minimum contrast (``None`` when none has). The widths and thresholds are
dermaseg's choice, not a published calibration. Both need the image: ``None`` without one, and for an
empty mask.
"""

from __future__ import annotations

import math

import numpy as np

from dermaseg.measure.colour import ColourContext

__all__ = ["SHARPNESS_THRESHOLD", "MIN_SECTOR_CONTRAST", "N_SECTORS", "band_widths", "border_score"]

SHARPNESS_THRESHOLD = 0.5
MIN_SECTOR_CONTRAST = 8.0
N_SECTORS = 8
MIN_PIXELS = 3


def band_widths(equivalent_diameter: float) -> tuple[float, float]:
    """(narrow band ``w_n``, zone ``w``) in pixels for a lesion of this equivalent diameter."""
    return max(2.0, 0.03 * equivalent_diameter), max(3.0, 0.10 * equivalent_diameter)


def border_score(ctx: ColourContext, centroid: tuple[float, float], axis: tuple[float, float],
                 equivalent_diameter: float) -> tuple[int, float | None, list[float | None]]:
    """``(border_score, border_sharpness, per-sector s)`` for the lesion of ``ctx`` (module docstring).
    ``centroid`` (x, y) and ``axis`` (unit x, y) in image coordinates. ``ctx`` must reach
    ``w_n + w`` beyond the lesion (``colour_context(..., margin=w_n)``, whose ring width is ``w``)."""
    w_n, w = band_widths(equivalent_diameter)
    span = w_n + w
    h, wd = ctx.mask.shape
    t = np.where(ctx.mask, -(ctx.d_in - 0.5), ctx.d_out - 0.5)
    near = np.abs(t) <= span
    ys, xs = np.nonzero(near)
    tt = t[ys, xs]
    dx = xs + ctx.x0 - centroid[0]
    dy = ys + ctx.y0 - centroid[1]
    ang = np.arctan2(-dx * axis[1] + dy * axis[0], dx * axis[0] + dy * axis[1])  # from the major axis
    sector = np.floor(np.mod(ang, 2 * math.pi) / (2 * math.pi / N_SECTORS)).astype(np.int64) % N_SECTORS
    # profile bins of width beta across [-span, span]; a window of w_n is m bins
    beta = max(1.0, w_n / 3.0)
    nb = int(math.ceil(2 * span / beta))
    b = np.clip(((tt + span) / beta).astype(np.int64), 0, nb - 1)
    idx = sector * nb + b
    lab = ctx.lab[ys, xs].astype(np.float64)
    cnt = np.bincount(idx, minlength=N_SECTORS * nb).reshape(N_SECTORS, nb)
    sums = np.stack([np.bincount(idx, weights=lab[:, c], minlength=N_SECTORS * nb) for c in range(3)],
                    axis=-1).reshape(N_SECTORS, nb, 3)
    ccnt = np.concatenate([np.zeros((N_SECTORS, 1)), np.cumsum(cnt, axis=1)], axis=1)
    csum = np.concatenate([np.zeros((N_SECTORS, 1, 3)), np.cumsum(sums, axis=1)], axis=1)
    centres = -span + beta * (np.arange(nb + 1))  # bin edges in t
    m = max(1, int(round(w_n / beta)))
    zone = max(1, int(round(w / beta)))

    def window(k: int, i: int, j: int) -> np.ndarray | None:  # mean colour of bins [i, j)
        n = ccnt[k, j] - ccnt[k, i]
        return None if n < MIN_PIXELS else (csum[k, j] - csum[k, i]) / n

    sharp: list[float | None] = []
    score = 0
    for k in range(N_SECTORS):
        inner, outer = window(k, 0, zone), window(k, nb - zone, nb)
        if inner is None or outer is None:
            sharp.append(None)
            continue
        contrast = float(np.linalg.norm(outer - inner))
        if contrast < MIN_SECTOR_CONTRAST:
            sharp.append(None)
            continue
        steps = []
        for c in range(m, nb - m + 1):
            if abs(centres[c]) > w + 1e-9:
                continue
            lo, hi = window(k, c - m, c), window(k, c, c + m)
            if lo is not None and hi is not None:
                steps.append(float(np.linalg.norm(hi - lo)))
        if not steps:
            sharp.append(None)
            continue
        s = min(max(steps) / contrast, 1.0)
        sharp.append(s)
        score += int(s >= SHARPNESS_THRESHOLD)
    defined = [s for s in sharp if s is not None]
    return score, (float(np.mean(defined)) if defined else None), sharp
