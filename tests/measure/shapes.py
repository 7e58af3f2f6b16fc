"""Synthetic lesion shapes with known answers, drawn by pixel-centre inclusion (a pixel is lesion when its
centre lies inside the continuous shape), optionally rotated and shifted by a sub-pixel offset.

Each shape is given in its own frame (u, v) with the origin at the shape's reference point; the image
pixel (x, y) maps to u = dx cos t + dy sin t, v = -dx sin t + dy cos t with (dx, dy) = (x, y) - centre.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["draw", "disc", "ellipse", "square", "l_shape", "half_disc", "ring", "fine_fold"]


def draw(inside, size: int, angle_deg: float = 0.0, offset: tuple[float, float] = (0.31, 0.17)) -> np.ndarray:
    """bool size×size mask of ``inside(u, v)`` rotated by ``angle_deg`` about the image centre + offset."""
    t = math.radians(angle_deg)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dx = xx - (size / 2 + offset[0])
    dy = yy - (size / 2 + offset[1])
    u = dx * math.cos(t) + dy * math.sin(t)
    v = -dx * math.sin(t) + dy * math.cos(t)
    return inside(u, v)


def disc(r):
    return lambda u, v: u * u + v * v <= r * r


def ellipse(a, b):
    return lambda u, v: (u / a) ** 2 + (v / b) ** 2 <= 1.0


def square(side):
    h = side / 2
    return lambda u, v: (np.abs(u) <= h) & (np.abs(v) <= h)


def l_shape(arm_u, arm_v, width):
    """An L: a bar of length arm_u along u and one of length arm_v along v, both ``width`` wide, joined
    at the corner (the corner at (-arm_u/2, -arm_v/2))."""
    u0, v0 = -arm_u / 2, -arm_v / 2
    return lambda u, v: (((u >= u0) & (u <= u0 + arm_u) & (v >= v0) & (v <= v0 + width))
                         | ((u >= u0) & (u <= u0 + width) & (v >= v0) & (v <= v0 + arm_v)))


def half_disc(r):
    return lambda u, v: (u * u + v * v <= r * r) & (v >= 0)


def ring(r_out, r_in):
    return lambda u, v: (u * u + v * v <= r_out * r_out) & (u * u + v * v > r_in * r_in)


def fine_fold(inside, extent: float, step: float = 0.05) -> tuple[float, float]:
    """Reference asymmetry of a continuous shape, computed independently of dermaseg: sample the shape
    on a fine grid in its own frame, find its centroid and principal axes from the samples, and count
    the share of samples whose mirror image (about each axis) falls outside the shape.
    Returns (about the major axis, about the minor axis)."""
    g = np.arange(-extent, extent + step / 2, step)
    uu, vv = np.meshgrid(g, g)
    m = inside(uu, vv)
    pu, pv = uu[m], vv[m]
    cu, cv = pu.mean(), pv.mean()
    cov = np.cov(np.stack([pu - cu, pv - cv]))
    vals, vecs = np.linalg.eigh(cov)
    major = vecs[:, 1]
    minor = vecs[:, 0]
    out = []
    for axis in (major, minor):
        d = np.stack([pu - cu, pv - cv])
        along = axis @ d
        refl = 2 * np.outer(axis, along) - d  # mirror about the line through the centroid along ``axis``
        out.append(float(1.0 - inside(refl[0] + cu, refl[1] + cv).mean()))
    return out[0], out[1]
