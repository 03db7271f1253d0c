"""Global sensitivity of trial endpoints to population parameters: Sobol indices with SALib.

Factors are log2 multipliers on the calibration handles (:data:`cartwin.trial.calibration.MULTIPLIED`)
in [-1, 1] (halving to doubling); each point of the Saltelli design is one simulated trial with
common random numbers. First-order (S1) and total (ST) indices with bootstrap CIs
(Saltelli A et al. Comput Phys Commun 2010;181:259; SALib: Herman & Usher, JOSS 2017).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.foundation.constraints import Interval, OneOf, check
from cartwin.trial.calibration import MULTIPLIED
from cartwin.trial.endpoints import ENDPOINTS


def sobol_indices(protocol, endpoint: str, *, base_samples: int = 8, n: int = 60, seed: int = 1, solver="auto") -> pd.DataFrame:
    try:
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import sobol as sobol_sample
    except ModuleNotFoundError as exc:  # pragma: no cover
        from cartwin.foundation.errors import CartwinError

        raise CartwinError("sensitivity needs SALib: pip install 'cartwin[sensitivity]'") from exc
    from cartwin.trial.runner import run_trial

    check("endpoint", endpoint, OneOf(tuple(ENDPOINTS)))
    check("base_samples", base_samples, Interval(2, 4096, integer=True))
    problem = {"num_vars": len(MULTIPLIED), "names": list(MULTIPLIED), "bounds": [[-1.0, 1.0]] * len(MULTIPLIED)}
    design = sobol_sample.sample(problem, base_samples, calc_second_order=False, seed=seed)
    values = np.empty(len(design))
    for i, row in enumerate(design):
        result = run_trial(protocol, n, seed, follow_up_days=120.0, solver=solver,
                           overrides=dict(zip(MULTIPLIED, (2.0 ** row).tolist(), strict=True)))
        estimate = result.endpoints["infused"][endpoint]["estimate"]
        values[i] = np.nan if estimate is None else estimate
    values = np.nan_to_num(values, nan=0.0)
    indices = sobol_analyze.analyze(problem, values, calc_second_order=False, seed=seed)
    return pd.DataFrame({
        "parameter": list(MULTIPLIED), "S1": indices["S1"], "S1_conf": indices["S1_conf"],
        "ST": indices["ST"], "ST_conf": indices["ST_conf"],
    })
