"""The measurement rules' fitted parameters and their version (``measure_version``).

The parameters that were chosen on data, not written down from the literature, live in one small
table shipped with the package, ``measure/rules.json``:

- ``measure_version``: the version of the rules, recorded in every output (the measure CSV,
  ``segment --measure``'s results.csv, the API's and the app's measurements, ``evaluate``'s per-image
  measurement columns). A new version of any rule or parameter changes it. Versions: ``"1"`` the
  nearest-reference rule with one 5 % minimum share and the shape-only A score (before issue 31);
  ``"2"`` per-colour minimum shares, colour-distribution asymmetry, the combined asymmetry score and
  its expert-calibrated 0/1/2 grade (docs/measurements.md).
- ``colour.min_share``: each colour's minimum share of the lesion pixels;
  ``colour.constancy``: ``"none"`` or ``"shades_of_gray"`` (the illumination step by default);
- ``asymmetry.colour_weight``, ``asymmetry.cuts``: the combined asymmetry score and its two cut points.

They were fitted on the 100 PH2 development images of ``ph2_dev`` (Mendonça et al., EMBC 2013) with
their dermatologists' labels: development data for the measurement rule, *not* held out. The honest
estimate of how the rule agrees with dermatologists is the cross-validated one (each fold's
parameters chosen on the other folds only), published in docs/measurements.md and recomputed by
``benchmarks/measure_experts.py``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["RULES_PATH", "rules", "MEASURE_VERSION"]

RULES_PATH = Path(__file__).with_name("rules.json")


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The shipped rules table (``rules.json``), read once."""
    return json.loads(RULES_PATH.read_text(encoding="utf-8"))


MEASURE_VERSION: str = str(rules()["measure_version"])
