"""How far a predicted mask moves the measurements: agreement between the records of predicted and true
masks of the same images (``pred_records[i]`` and ``truth_records[i]`` describe image ``i``).

For ``q`` in area (px, mm²) and diameter (px, mm), over the images where both values are known:

- ``mae`` = mean |pred − truth|; ``mre`` = mean |pred − truth| / truth over the images with truth > 0
  (a share: 0.1 = 10 %), ``median_re`` its median (a few failed images dominate the mean);
  ``bias`` = mean (pred − truth); ``n``.
- For the diameter also the Bland–Altman analysis (Bland & Altman 1986, "Statistical methods for
  assessing agreement between two methods of clinical measurement", Lancet 327(8476):307–310):
  ``bias`` = mean difference d̄, ``sd`` its standard deviation (n − 1), limits of agreement
  ``loa_low``/``loa_high`` = d̄ ∓ 1.96 sd.

Asymmetry (continuous, 0–1): Pearson ``pearson`` and Spearman ``spearman`` correlation (scipy.stats;
``None`` with fewer than 3 images or a constant side), ``mae``, ``n``; the A score: ``asymmetry_axes``
``agreement`` = share of images with the same 0/1/2.

Colours (images where both records have an image, ``n_colours`` not ``None``): ``mean_jaccard`` = mean of
|P ∩ T| / |P ∪ T| over the images' colour sets (two empty sets agree: 1), ``identical`` = share of
images with exactly the same set, ``n_colours_mae`` = mean |n_pred − n_truth|, ``n``.

Every value is a plain ``float``/``int`` or ``None`` (nothing known), never NaN; ``n`` is the number of
image pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["agreement", "LOA_Z"]

LOA_Z = 1.96


def _f(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _pairs(pred: Sequence[dict], truth: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    p, t = [], []
    for a, b in zip(pred, truth, strict=True):
        x, y = _f(a.get(key)), _f(b.get(key))
        if x is not None and y is not None:
            p.append(x)
            t.append(y)
    return np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.float64)


def _errors(p: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    if len(p) == 0:
        return {"mae": None, "mre": None, "median_re": None, "bias": None, "n": 0}
    d = p - t
    pos = t > 0
    rel = np.abs(d[pos]) / t[pos]
    return {"mae": float(np.abs(d).mean()), "mre": float(rel.mean()) if pos.any() else None,
            "median_re": float(np.median(rel)) if pos.any() else None, "bias": float(d.mean()), "n": int(len(p))}


def _bland_altman(p: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    out = _errors(p, t)
    if len(p) < 2:
        out.update({"sd": None, "loa_low": None, "loa_high": None})
        return out
    d = p - t
    sd = float(d.std(ddof=1))
    out.update({"sd": sd, "loa_low": float(d.mean() - LOA_Z * sd), "loa_high": float(d.mean() + LOA_Z * sd)})
    return out


def _corr(p: np.ndarray, t: np.ndarray) -> tuple[float | None, float | None]:
    if len(p) < 3 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return None, None
    from scipy.stats import pearsonr, spearmanr

    return _f(pearsonr(p, t)[0]), _f(spearmanr(p, t)[0])


def agreement(pred_records: Sequence[dict[str, Any]], truth_records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Agreement of the measurements of predicted masks with those of the true masks (module docstring).
    The two lists must have the same length (one record per image, same order): ValueError otherwise."""
    if len(pred_records) != len(truth_records):
        raise ValueError(f"{len(pred_records)} predicted records but {len(truth_records)} true ones")
    out: dict[str, Any] = {"n": len(pred_records)}
    for key in ("area_px", "area_mm2"):
        out[key] = _errors(*_pairs(pred_records, truth_records, key))
    for key in ("diameter_px", "diameter_mm"):
        out[key] = _bland_altman(*_pairs(pred_records, truth_records, key))
    p, t = _pairs(pred_records, truth_records, "asymmetry")
    r, rho = _corr(p, t)
    out["asymmetry"] = {"pearson": r, "spearman": rho, "mae": float(np.abs(p - t).mean()) if len(p) else None,
                        "n": int(len(p))}
    pa, ta = _pairs(pred_records, truth_records, "asymmetry_axes")
    out["asymmetry_axes"] = {"agreement": float((pa == ta).mean()) if len(pa) else None, "n": int(len(pa))}
    jac, same, dn = [], [], []
    for a, b in zip(pred_records, truth_records, strict=True):
        if a.get("n_colours") is None or b.get("n_colours") is None:
            continue
        sp, st = set(a.get("colours") or []), set(b.get("colours") or [])
        union = sp | st
        jac.append(len(sp & st) / len(union) if union else 1.0)
        same.append(sp == st)
        dn.append(abs(int(a["n_colours"]) - int(b["n_colours"])))
    out["colours"] = {"mean_jaccard": float(np.mean(jac)) if jac else None,
                      "identical": float(np.mean(same)) if same else None,
                      "n_colours_mae": float(np.mean(dn)) if dn else None, "n": len(jac)}
    return out
