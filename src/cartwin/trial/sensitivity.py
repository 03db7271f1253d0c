"""Global sensitivity of trial endpoints to population parameters: Sobol indices.

Factors are log2 factors on the calibration handles (:data:`MULTIPLIED`)
in [-1, 1] (halving to doubling) *around the trial's calibrated factors*: a design point
``x`` runs the trial with multiplier ``m_cal * 2**x`` (replacing ``m_cal`` instead, as this module
did before, moved every trial far from the calibrated one: ZUMA-1's IL-6 multiplier 4.8 became
0.5-2, severe CRS vanished and every index read 0.000). Each point of the design is one
simulated trial, over the protocol's follow-up (at most 730 days, as
:func:`cartwin.trial.runner.run_trial`), and every trial has the same patients (common random
numbers: :func:`cartwin.trial.runner.run_design` simulates the whole design in shared batches,
each copy of a patient with the patient's own covariate, variability, measurement-noise and
survival streams), so the endpoint changes only because the multipliers do.

Estimators (:func:`sobol_table`, the one code path, tested on the Ishigami function's known
indices). The design is SALib's Saltelli sample on a Sobol' sequence with both cross matrices:
per base row ``A``, ``AB_i`` (``A`` with column ``i`` from ``B``), ``BA_i`` and ``B``, so
``N (2D + 2)`` evaluations (Saltelli A et al. Comput Phys Commun 2010;181:259; SALib: Herman &
Usher, JOSS 2017). With ``2 V = mean[(f(A) - f(B))^2]`` (the variance from the same independent
pairs, so a factor that alone moves ``f`` gets exactly 1, and a factor that never moves it
exactly 0, with intervals of zero width):

* first order, Owen's estimator for small indices (Owen AB. Better estimation of small Sobol'
  sensitivity indices. ACM Trans Model Comput Simul 2013;23(2):11, with ``z = y``):
  ``S1_i = mean[(f(A) - f(AB_i)) (f(BA_i) - f(B))] / (2 V)``. Both factors are the effect of
  moving ``x_i`` alone, so the noise of the estimate vanishes with the effect (for a factor whose
  effect has one sign every term is >= 0). Saltelli 2010's ``f(B) (f(AB_i) - f(A))`` (SALib's
  ``S1``, kept in ``table.attrs["S1_saltelli"]``) carries the whole variance of ``f(B)``: on
  ZUMA-1's severe CRS (N = 128, 20 patients) its interval for the proliferation multiplier was
  0.015 ± 0.061 against Owen's 0.0055 ± 0.0078.
* total, Jansen's estimator (Jansen MJW, Comput Phys Commun 1999;117:35; SALib's
  ``total_order`` divides by the pooled sample variance instead) ``ST_i = mean[(f(A) -
  f(AB_i))^2] / (2 V)``, averaged with its mirror on ``(B, BA_i)``.

Intervals are bootstrap percentile intervals over the base rows (``resamples``, seeded), not
clipped: an index is a fraction of variance, so a row whose interval reaches outside [0, 1]
(``in_unit_interval`` false) is not resolved at that design, and a warning says to raise the
base samples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from cartwin.foundation.constraints import Interval, OneOf, check
from cartwin.foundation.errors import CartwinError, CartwinWarning
from cartwin.trial.endpoints import ENDPOINTS

#: The handles varied: the multiplied parameters of the joint calibration (cartwin.calibrate.joint).
MULTIPLIED = ("k_prolif_per_day", "gamma_kill_per_day", "p_il6_myeloid_pg_per_ml_day", "k_neurovascular_on_per_day")

#: Defaults of :func:`sobol_indices` and ``cartwin sensitivity`` (see docs/sensitivity.md for
#: what they give on ZUMA-1's severe CRS and how long they take).
DEFAULT_BASE_SAMPLES = 256
DEFAULT_PATIENTS = 20
#: Below this many base samples no row counts as resolved (``in_unit_interval`` false).
MIN_BASE_SAMPLES_FOR_INTERVALS = 16


def _salib():
    try:
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import sobol as sobol_sample
    except ModuleNotFoundError as exc:  # pragma: no cover
        raise CartwinError("sensitivity needs SALib: pip install 'cartwin[sensitivity]'") from exc
    return sobol_sample, sobol_analyze


def _first_order_small(a, ab, ba, b):
    """Owen 2013's first-order estimator with z = y (module docstring); rows = base samples."""
    return np.mean((a - ab) * (ba - b), axis=0) / np.mean((a - b) ** 2, axis=0)


def _total_jansen(a, ab, ba, b):
    """Jansen 1999's total-order estimator on both halves of the design (module docstring)."""
    return (np.mean((a - ab) ** 2, axis=0) + np.mean((b - ba) ** 2, axis=0)) / (2.0 * np.mean((a - b) ** 2, axis=0))


def sobol_table(names: Sequence[str], bounds: Sequence[tuple[float, float]], evaluate: Callable[[np.ndarray], float], *,
                base_samples: int, seed: int, what: str = "the model", vectorised: bool = False,
                resamples: int = 1000, conf_level: float = 0.95) -> pd.DataFrame:
    """First-order and total Sobol indices of ``evaluate`` with bootstrap percentile intervals
    (estimators in the module docstring).

    ``evaluate(x) -> float`` at one design point, or with ``vectorised`` ``evaluate(X) -> values``
    at every row of the design at once. ``base_samples`` is rounded up to a power of two (the
    Sobol' sequence is balanced there). Returns one row per factor: ``parameter``, ``S1``,
    ``S1_low``, ``S1_high``, ``ST``, ``ST_low``, ``ST_high`` and ``in_unit_interval`` (both
    intervals inside [0, 1], from at least :data:`MIN_BASE_SAMPLES_FOR_INTERVALS` base samples);
    warns when a row is not.
    """
    sobol_sample, sobol_analyze = _salib()
    check("base_samples", base_samples, Interval(1, 4096, integer=True))
    check("resamples", resamples, Interval(10, 100_000, integer=True))
    check("conf_level", conf_level, Interval(0.5, 1.0, high_open=True))
    if len(names) < 2:
        raise CartwinError(f"Sobol indices of {what} need at least two factors (got {len(names)})")
    d = len(names)
    problem = {"num_vars": d, "names": list(names), "bounds": [list(b) for b in bounds]}
    n_base = 1 << max(int(base_samples) - 1, 0).bit_length()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        design = sobol_sample.sample(problem, n_base, calc_second_order=True, seed=seed)
    values = (np.asarray(evaluate(design), dtype=float).reshape(-1) if vectorised
              else np.array([float(evaluate(row)) for row in design]))
    if values.size != len(design):  # pragma: no cover - a programming error in the caller
        raise CartwinError(f"{what}: {values.size} values for {len(design)} design points")
    if not np.all(np.isfinite(values)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise CartwinError(f"{what} could not be estimated at {bad} of {len(values)} design points "
                           "(e.g. no patient with the event, a median not reached): choose a rate endpoint or raise --n")
    zeros = np.zeros(d)
    table = pd.DataFrame({"parameter": list(names), "S1": zeros, "S1_low": zeros, "S1_high": zeros,
                          "ST": zeros, "ST_low": zeros, "ST_high": zeros})
    saltelli = {"S1": [0.0] * d, "S1_conf": [0.0] * d}  # lists: pandas compares attrs when it prints
    if np.ptp(values) > 0.0:
        y = (values - values.mean()) / values.std()
        a, b, ab, ba = sobol_analyze.separate_output_values(y, d, n_base, True)
        rows = np.random.default_rng(seed).integers(n_base, size=(n_base, int(resamples)))
        tail = (1.0 - conf_level) / 2.0

        for i in range(d):
            for key, estimator in (("S1", _first_order_small), ("ST", _total_jansen)):
                point = estimator(a, ab[:, i], ba[:, i], b)
                boot = estimator(a[rows], ab[rows, i], ba[rows, i], b[rows])
                table.loc[i, [key, f"{key}_low", f"{key}_high"]] = [
                    float(point), float(np.quantile(boot, tail)), float(np.quantile(boot, 1.0 - tail))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            salib = sobol_analyze.analyze(problem, values, calc_second_order=True, seed=seed)
        saltelli = {"S1": [float(v) for v in salib["S1"]], "S1_conf": [float(v) for v in salib["S1_conf"]]}
    # A bootstrap over a handful of base rows says nothing (one row: an interval of zero width).
    enough = n_base >= MIN_BASE_SAMPLES_FOR_INTERVALS
    table["in_unit_interval"] = (enough & (table.S1_low >= 0.0) & (table.S1_high <= 1.0)
                                 & (table.ST_low >= 0.0) & (table.ST_high <= 1.0))
    table.attrs.update({"base_samples": n_base, "evaluations": len(values), "variance": float(np.var(values)),
                        "conf_level": conf_level, "resamples": int(resamples), "S1_saltelli": saltelli})
    if np.ptp(values) == 0.0:
        warnings.warn(f"{what} did not change over the design ({len(values)} runs, value {values[0]:g}): every index is 0",
                      CartwinWarning, stacklevel=2)
    elif not table.in_unit_interval.all():
        rows_out = ", ".join(table.loc[~table.in_unit_interval, "parameter"])
        why = (f"a {conf_level:.0%} interval reaches outside [0, 1]" if enough else
               f"fewer than {MIN_BASE_SAMPLES_FOR_INTERVALS} base samples give no interval")
        warnings.warn(f"Sobol indices of {what} not resolved at {n_base} base samples for {rows_out} ({why}): "
                      "raise the base samples", CartwinWarning, stacklevel=2)
    return table


def sobol_indices(protocol, endpoint: str, *, base_samples: int = DEFAULT_BASE_SAMPLES, n: int = DEFAULT_PATIENTS,
                  seed: int = 1, solver="auto", follow_up_days: float | None = None, batch_size: int = 1024,
                  progress=None) -> pd.DataFrame:
    """Sobol indices of an infused-set ``endpoint`` over log2 factors in [-1, 1] on the calibrated
    multipliers of :data:`MULTIPLIED` (see the module docstring): ``base_samples * 10`` trials of
    ``n`` enrolled patients each, all on the same patients. ``follow_up_days``: default the
    protocol's (at most 730 days). ``progress(k)``: called with simulated patients done.

    Example (about 3 CPU-minutes, so not run as a doctest):

    >>> t = sobol_indices("zuma-1", "crs_grade3plus")  # doctest: +SKIP
    >>> bool(t.in_unit_interval.all())  # doctest: +SKIP
    True
    """
    from cartwin.trial.protocol import Protocol, load_protocol
    from cartwin.trial.runner import calibrated_factors, run_design

    check("endpoint", endpoint, OneOf(tuple(ENDPOINTS)))
    check("n", n, Interval(1, 1e6, integer=True))
    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    calibrated = calibrated_factors(proto)
    centre = {name: float(calibrated.get(name, 1.0)) for name in MULTIPLIED}

    def evaluate(design: np.ndarray) -> np.ndarray:
        points = [{name: centre[name] * 2.0 ** float(v) for name, v in zip(MULTIPLIED, x, strict=True)} for x in design]
        entries = run_design(proto, points, endpoint, n, seed, follow_up_days=follow_up_days, solver=solver,
                             batch_size=batch_size, progress=progress)
        return np.array([np.nan if e["estimate"] is None else float(e["estimate"]) for e in entries])

    table = sobol_table(MULTIPLIED, [(-1.0, 1.0)] * len(MULTIPLIED), evaluate, base_samples=base_samples, seed=seed,
                        what=f"{endpoint} of {proto.name}", vectorised=True)
    table.insert(1, "calibrated_multiplier", [centre[name] for name in MULTIPLIED])
    return table
