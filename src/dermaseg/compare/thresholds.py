"""The repeatability limits behind ``changed``: measured, stored with the model version, loaded by compare.

``repeatability.json`` (beside this module) is written by ``benchmarks/compare_repeatability.py
--write-thresholds``: re-acquisitions of unchanged lesions simulated from real images
(:mod:`dermaseg.compare.simulate`), segmented by the bundled model and measured by
:func:`dermaseg.measure`. For each change (AFTER − BEFORE, :mod:`dermaseg.compare.change`) it holds the
95 % limits of agreement: ``lower``/``upper`` the 2.5th and 97.5th percentiles of the differences
(non-parametric limits, Bland & Altman 1999, Stat Methods Med Res 8:135–160: the differences are not
normal, a few segmentations wobble), beside ``mean`` ± 1.96 ``sd`` (the parametric limits) for reference;
``dice`` has a lower limit only, ``colours`` (colours gained + lost) an upper one.

The file names the model it was measured with (``model``: name and sha256 of the bundled weights) and
the measurement rules (``measure_sha256``: the sha256 of ``dermaseg/measure/*.py``). When either differs
from what a comparison used, :func:`threshold_notes` says so in compare.json's ``warnings``: the limits
then need measuring again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

import dermaseg.measure as _measure
from dermaseg.errors import DermasegError

__all__ = ["THRESHOLDS_FILE", "load_thresholds", "limits_of_agreement", "measure_rules_sha256",
           "threshold_notes"]

THRESHOLDS_FILE = Path(__file__).resolve().parent / "repeatability.json"


def load_thresholds(path: str | Path | None = None) -> dict[str, Any]:
    """The stored limits (module docstring); a missing or unreadable file -> :class:`DermasegError`."""
    p = Path(path) if path is not None else THRESHOLDS_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DermasegError(f"{p}: no repeatability thresholds (run benchmarks/compare_repeatability.py "
                            "--write-thresholds)") from None
    except (OSError, ValueError) as e:
        raise DermasegError(f"{p}: cannot read the repeatability thresholds ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("limits"), dict):
        raise DermasegError(f"{p}: not a repeatability thresholds file (no 'limits')")
    return data


def measure_rules_sha256() -> str:
    """sha256 over the source of ``dermaseg/measure/*.py`` (sorted by name): the measurement rules."""
    h = hashlib.sha256()
    for f in sorted(Path(_measure.__file__).resolve().parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def limits_of_agreement(diffs: list[float], kind: str = "two-sided") -> dict[str, Any]:
    """95 % limits of ``diffs`` (module docstring): ``kind`` ``two-sided``, ``lower`` or ``upper``."""
    d = np.asarray([v for v in diffs if v is not None], dtype=float)
    if d.size == 0:
        return {"n": 0, "lower": None, "upper": None}
    out: dict[str, Any] = {"n": int(d.size), "mean": round(float(d.mean()), 4), "sd": round(float(d.std(ddof=1))
                           if d.size > 1 else 0.0, 4)}
    out["mean_pm_1.96sd"] = [round(out["mean"] - 1.96 * out["sd"], 4), round(out["mean"] + 1.96 * out["sd"], 4)]
    if kind in ("two-sided", "lower"):
        out["lower"] = round(float(np.percentile(d, 2.5)), 4)
    if kind in ("two-sided", "upper"):
        out["upper"] = round(float(np.percentile(d, 97.5)), 4)
    return out


def threshold_notes(thresholds: dict[str, Any], model_sha256: str | None) -> list[str]:
    """Warnings when the thresholds were measured with another model or other measurement rules."""
    notes = []
    tm = thresholds.get("model", {})
    if model_sha256 is None:
        notes.append(f"the masks were given, not segmented: the thresholds were measured with the model "
                     f"'{tm.get('name')}' ({str(tm.get('sha256'))[:12]}) and may not fit these masks")
    elif tm.get("sha256") != model_sha256:
        notes.append(f"the thresholds were measured with model {str(tm.get('sha256'))[:12]}, this comparison "
                     f"used {model_sha256[:12]}: re-run benchmarks/compare_repeatability.py for it")
    if thresholds.get("measure_sha256") and thresholds["measure_sha256"] != measure_rules_sha256():
        notes.append("the measurement rules changed since the thresholds were measured: re-run "
                     "benchmarks/compare_repeatability.py --write-thresholds")
    return notes
