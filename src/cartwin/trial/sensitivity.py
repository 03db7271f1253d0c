"""Global sensitivity of trial endpoints to population parameters: Sobol indices with SALib.

Factors are log2 factors on the calibration handles (:data:`cartwin.trial.calibration.MULTIPLIED`)
in [-1, 1] (halving to doubling) *around the preset's calibrated multipliers*: a design point
``x`` runs the trial with multiplier ``m_cal * 2**x`` (replacing ``m_cal`` instead, as this module
did before, moved every trial far from the calibrated one: ZUMA-1's IL-6 multiplier 4.8 became
0.5-2, severe CRS vanished and every index read 0.000). Each point of the Saltelli design is one
simulated trial with common random numbers, over the protocol's follow-up (at most 730 days, as
:func:`cartwin.trial.runner.run_trial`). First-order (S1) and total (ST) indices with bootstrap
CIs (Saltelli A et al. Comput Phys Commun 2010;181:259; SALib: Herman & Usher, JOSS 2017).

Indices are fractions of variance, so they lie in [0, 1]; Monte Carlo estimates at small designs
fall outside, or carry intervals wider than themselves. The table keeps SALib's raw estimates
(``S1_raw``, ``ST_raw``), reports ``S1``/``ST`` clipped to [0, 1], flags each row ``resolved``
(interval narrower than the estimate, raw estimate inside [0, 1] within its interval) and warns
(:class:`~cartwin.foundation.errors.CartwinWarning`) when any row is not: raise the base samples.
:func:`sobol_table` is the one code path, tested on the Ishigami function's known indices.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from cartwin.foundation.constraints import Interval, OneOf, check
from cartwin.foundation.errors import CartwinError, CartwinWarning
from cartwin.trial.calibration import MULTIPLIED
from cartwin.trial.endpoints import ENDPOINTS


def _salib():
    try:
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import sobol as sobol_sample
    except ModuleNotFoundError as exc:  # pragma: no cover
        raise CartwinError("sensitivity needs SALib: pip install 'cartwin[sensitivity]'") from exc
    return sobol_sample, sobol_analyze


def sobol_table(names: Sequence[str], bounds: Sequence[tuple[float, float]], evaluate: Callable[[np.ndarray], float], *,
                base_samples: int, seed: int, what: str = "the model") -> pd.DataFrame:
    """First-order and total Sobol indices of ``evaluate`` over a Saltelli design (SALib).

    ``evaluate(x) -> float`` at one design point. Returns one row per factor: ``parameter``,
    ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (indices clipped to [0, 1]), ``S1_raw``, ``ST_raw``
    (SALib's estimates) and ``resolved``; warns when a row is not resolved.
    """
    sobol_sample, sobol_analyze = _salib()
    check("base_samples", base_samples, Interval(1, 4096, integer=True))
    problem = {"num_vars": len(names), "names": list(names), "bounds": [list(b) for b in bounds]}
    # Saltelli's sequence is balanced at powers of two; SALib warns otherwise (we round up).
    n_base = 1 << max(int(base_samples) - 1, 0).bit_length()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        design = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
    values = np.array([float(evaluate(row)) for row in design])
    if not np.all(np.isfinite(values)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise CartwinError(f"{what} could not be estimated at {bad} of {len(values)} design points "
                           "(e.g. no patient with the event, a median not reached): choose a rate endpoint or raise --n")
    if np.var(values) == 0.0:
        s1 = st = s1c = stc = np.zeros(len(names))
    else:
        indices = sobol_analyze.analyze(problem, values, calc_second_order=False, seed=seed)
        s1, st = np.asarray(indices["S1"], float), np.asarray(indices["ST"], float)
        s1c, stc = np.asarray(indices["S1_conf"], float), np.asarray(indices["ST_conf"], float)
    resolved = ((s1c <= np.maximum(np.abs(s1), 1e-12)) | (s1c < 0.05)) & (stc <= np.maximum(st, 1e-12))
    resolved &= (s1 + s1c >= 0.0) & (s1 - s1c <= 1.0) & (st + stc >= 0.0) & (st - stc <= 1.0)
    table = pd.DataFrame({
        "parameter": list(names), "S1": np.clip(s1, 0.0, 1.0), "S1_conf": s1c, "ST": np.clip(st, 0.0, 1.0), "ST_conf": stc,
        "S1_raw": s1, "ST_raw": st, "resolved": resolved,
    })
    table.attrs.update({"base_samples": n_base, "evaluations": len(values), "variance": float(np.var(values))})
    if np.var(values) == 0.0:
        warnings.warn(f"{what} did not change over the design ({len(values)} runs, value {values[0]:g}): every index is 0",
                      CartwinWarning, stacklevel=2)
    elif not resolved.all():
        rows = ", ".join(table.loc[~resolved, "parameter"])
        warnings.warn(f"Sobol indices of {what} not resolved at {n_base} base samples for {rows} (raw estimate outside "
                      "[0, 1] or an interval wider than the estimate; S1/ST are clipped to [0, 1]): raise the base samples",
                      CartwinWarning, stacklevel=2)
    return table


def sobol_indices(protocol, endpoint: str, *, base_samples: int = 8, n: int = 60, seed: int = 1, solver="auto",
                  follow_up_days: float | None = None) -> pd.DataFrame:
    """Sobol indices of an infused-set ``endpoint`` over log2 factors in [-1, 1] on the calibrated
    multipliers of :data:`MULTIPLIED` (see the module docstring). ``follow_up_days``: default the
    protocol's (at most 730 days)."""
    from cartwin.trial.calibration import calibrated_multipliers
    from cartwin.trial.protocol import Protocol, load_protocol
    from cartwin.trial.runner import run_trial

    check("endpoint", endpoint, OneOf(tuple(ENDPOINTS)))
    check("n", n, Interval(1, 1e6, integer=True))
    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    calibrated = calibrated_multipliers(proto)
    centre = {name: float(calibrated.get(name, 1.0)) for name in MULTIPLIED}

    def evaluate(x: np.ndarray) -> float:
        overrides = {name: centre[name] * 2.0 ** float(v) for name, v in zip(MULTIPLIED, x, strict=True)}
        result = run_trial(proto, n, seed, follow_up_days=follow_up_days, solver=solver, overrides=overrides)
        estimate = result.endpoints["infused"][endpoint]["estimate"]
        return np.nan if estimate is None else float(estimate)

    table = sobol_table(MULTIPLIED, [(-1.0, 1.0)] * len(MULTIPLIED), evaluate, base_samples=base_samples, seed=seed,
                        what=f"{endpoint} of {proto.name}")
    table.insert(1, "calibrated_multiplier", [centre[name] for name in MULTIPLIED])
    return table
