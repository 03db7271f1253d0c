"""Baseline laboratory values that vary between patients but are not in the trials' baseline tables.

Each is drawn from the patient's own stream under its own purpose, so adding one changes no
other draw (covariates, IIV) of any patient.

Serum IgG before CAR-T (``igg_baseline_g_per_l``)
    Log-normal, median 7.0 g/L, log-SD 0.45, truncated to [1, 30] g/L. Assumption: the adult
    reference range is 7-16 g/L (log-SD ~0.2 in healthy adults), but CAR-T candidates are
    heavily pretreated (rituximab, chemotherapy, transplant) and many start near or below its
    lower limit; a median at the lower limit and twice the healthy spread is stated as such,
    not taken from a baseline table. It sets how far IgG can fall during B-cell aplasia
    (model v2: ``igg_target_independent_fraction`` of production survives).
"""

from __future__ import annotations

import numpy as np

from cartwin.foundation.streams import standard_normals
from cartwin.population.variability import truncated_lognormal

#: (median g/L, log-SD, low, high) of baseline serum IgG; see the module docstring.
BASELINE_IGG = (7.0, 0.45, 1.0, 30.0)


def baseline_igg_g_per_l(n: int, seed: int, start: int = 0) -> np.ndarray:
    """Baseline serum IgG (g/L) of patients ``start..start+n-1``, one draw each from its own stream.

    >>> v = baseline_igg_g_per_l(2000, seed=1)
    >>> bool(6.5 < float(np.median(v)) < 7.5), bool(v.min() >= 1.0)
    (True, True)
    """
    median, log_sd, low, high = BASELINE_IGG
    z = standard_normals(seed, np.arange(int(start), int(start) + int(n)), 1, "laboratory")[:, 0]
    values, _ = truncated_lognormal(median, z, log_sd, low, high)
    return values
