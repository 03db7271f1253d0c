"""Calibrate a trial preset's population to its published targets.

Free parameters are population-level multipliers on four model parameters, each the main
handle of one group of endpoints:

* ``k_prolif_per_day`` and ``gamma_kill_per_day`` — expansion and killing: ORR, CR, MRD;
* ``p_il6_myeloid_pg_per_ml_day`` — macrophage IL-6 release: CRS any and grade >= 3;
* ``k_neurovascular_on_per_day`` — neurovascular (blood-brain-barrier) activation: ICANS any
  and grade >= 3;
* ``dysfunctional_product_fraction`` (not a multiplier) — the share of patients whose product
  barely expands (:data:`cartwin.trial.runner.DYSFUNCTION_EFFECT`): ORR, CR and CRS any.

The objective is the sum over the protocol's fitted targets (``fitted = true`` in its
``[targets]``) of ((simulated - published) / sd)², with sd combining the binomial sampling error
of the published rate (its n) and of the simulated rate. Nelder–Mead on log-multipliers, with
common random numbers (one seed for every evaluation), so the search is deterministic and the
result reproducible: ``cartwin calibrate PRESET`` or ``python scripts/calibrate_presets.py``.
The fit kept is the lowest objective among the evaluations with every target inside its CI
(the lowest overall if none is).
The record (multipliers, targets, simulated values, whether each falls in the published 95 %
CI, evaluations, date) is saved as JSON beside the protocols and used by ``run_trial``.

The search starts from the preset's committed multipliers (``start="committed"``; handles it
lacks start at 1, fractions at 0.1) so a recalibration after a model change continues from the
last fit rather than from scratch, and it stops early once every fitted target lies inside its
published 95 % CI with an objective no larger than the number of targets (a mean squared
z-score <= 1): with common random numbers the objective is piecewise constant in the
multipliers, so Nelder-Mead gains little beyond that point.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from cartwin.foundation.constraints import Interval, check
from cartwin.trial.protocol import Protocol, load_protocol

MULTIPLIED = ("k_prolif_per_day", "gamma_kill_per_day", "p_il6_myeloid_pg_per_ml_day", "k_neurovascular_on_per_day")
#: Besides the multipliers, the share of dysfunctional products (trial.runner): fitted on a
#: logit scale, it is what lets a trial have non-expanding, non-responding, CRS-free patients.
FRACTIONS = ("dysfunctional_product_fraction",)
SIMULATED_ENDPOINTS = ("orr", "cr_rate", "mrd_neg_rate", "crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus",
                       "tocilizumab_rate", "steroid_rate")
#: Which multipliers a target informs (only those with a target are fitted).
HANDLES = {
    "k_prolif_per_day": ("orr", "cr_rate", "mrd_neg_rate"),
    "gamma_kill_per_day": ("orr", "cr_rate", "mrd_neg_rate"),
    "p_il6_myeloid_pg_per_ml_day": ("crs_any", "crs_grade3plus", "tocilizumab_rate"),
    "k_neurovascular_on_per_day": ("icans_any", "icans_grade3plus", "steroid_rate"),
    "dysfunctional_product_fraction": ("orr", "cr_rate", "crs_any"),
}
BOUND = np.log(20.0)  # multipliers stay within [1/20, 20]
#: Tighter ranges where published kinetics pin a handle. Maximal proliferation: the population
#: doubling times of tisa-cel (0.78 d, Stein 2019 CPT PSP 8:285) and liso-cel (0.755 d, population
#: CK model, Clin Pharmacokinet 2021) put k_prolif within a factor 2 of the v2 kinetic fit
#: (1.02/day, doubling 0.68 d); model v1's fits took it to x1.5-4.9, v2's unbounded fits to x10.
HANDLE_BOUNDS = {"k_prolif_per_day": (0.5, 2.0)}


def preset_key(protocol: Protocol) -> str | None:
    return Path(protocol.path).stem if protocol.path else None


def calibrated_multipliers(protocol: Protocol) -> dict[str, float]:
    """The committed multipliers of a shipped preset ({} if it was never calibrated)."""
    key = preset_key(protocol)
    if key is None:
        return {}
    path = resources.files("cartwin.trial").joinpath(f"calibrated/{key}.json")
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text())["multipliers"])


def _targets(protocol: Protocol) -> dict[str, Any]:
    return {k: t for k, t in protocol.targets.items() if k in SIMULATED_ENDPOINTS and t.fitted}


class _GoodEnough(Exception):
    """Raised inside the objective to end the search early (see module docstring)."""


def _inside(value, target) -> bool:
    lo, hi = target.ci_low, target.ci_high
    return bool(value is not None and lo is not None and hi is not None and lo <= value <= hi)


def _simulated(result, targets) -> dict[str, tuple[float, int]]:
    out = {}
    for name, target in targets.items():
        entry = result.endpoints[target.set if target.set in result.endpoints else "infused"][name]
        out[name] = (entry["estimate"], entry["n"])
    return out


@dataclass(frozen=True)
class Score:
    """How one set of multipliers fits a protocol's fitted targets (see the module docstring)."""

    simulated: dict[str, float | None]  # per fitted target, the simulated rate (fraction)
    within_ci: dict[str, bool]  # per fitted target, inside the published 95 % CI
    objective: float  # sum of squared z-scores

    @property
    def all_within_ci(self) -> bool:
        return all(self.within_ci.values())


def score(protocol: Protocol | str, multipliers: dict[str, float], *, n: int = 200, seed: int = 1,
          follow_up_days: float = 365.0, solver="auto") -> Score:
    """Run the trial with these multipliers (no committed calibration) and score its fitted targets."""
    from cartwin.trial.runner import run_trial

    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    targets = _targets(protocol)
    result = run_trial(protocol, n, seed, follow_up_days=follow_up_days, solver=solver, overrides=dict(multipliers),
                       calibrated=False)
    sim = _simulated(result, targets)
    total = 0.0
    for name, target in targets.items():
        s, n_sim = sim[name]
        s = 0.0 if s is None else s
        t = target.value
        var = t * (1 - t) / max(target.n or 50, 1) + s * (1 - s) / max(n_sim or 1, 1) + 1e-4
        total += (s - t) ** 2 / var
    return Score(simulated={k: v[0] for k, v in sim.items()},
                 within_ci={k: _inside(sim[k][0], t) for k, t in targets.items()}, objective=total)


def calibrate(
    protocol: Protocol | str,
    *,
    n: int = 200,
    seed: int = 1,
    max_evaluations: int = 40,
    follow_up_days: float = 365.0,
    solver="auto",
    progress=None,
    start: str | dict[str, float] = "committed",
    stop_when_inside: bool = True,
) -> dict[str, Any]:
    """Fit the preset's multipliers (see module docstring); returns the calibration record."""
    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    check("n", n, Interval(10, 1e6, integer=True))
    check("max_evaluations", max_evaluations, Interval(1, 10_000, integer=True))
    targets = _targets(protocol)
    if not targets:
        raise ValueError(f"protocol {protocol.name} has no fitted targets that the simulation produces")
    free = [m for m in (*MULTIPLIED, *FRACTIONS) if any(t in targets for t in HANDLES[m])]
    history: list[dict[str, Any]] = []

    low = np.array([np.log(HANDLE_BOUNDS[m][0]) if m in HANDLE_BOUNDS else -BOUND for m in free])
    high = np.array([np.log(HANDLE_BOUNDS[m][1]) if m in HANDLE_BOUNDS else BOUND for m in free])

    def handles(theta: np.ndarray) -> dict[str, float]:
        theta = np.clip(theta, low, high)
        # Multipliers on a log scale (start 1); fractions on a logit scale (start 0.1).
        return {name: float(1.0 / (1.0 + np.exp(-(x - 2.2))) if name in FRACTIONS else np.exp(x))
                for name, x in zip(free, theta, strict=True)}

    def to_theta(values: dict[str, float]) -> np.ndarray:
        out = np.zeros(len(free))
        for i, name in enumerate(free):
            if name in values:
                v = float(values[name])
                out[i] = (2.2 + np.log(v / (1.0 - v))) if name in FRACTIONS else np.log(v)
        return np.clip(out, low, high)

    def evaluate(theta: np.ndarray) -> float:
        mult = handles(theta)
        fit = score(protocol, mult, n=n, seed=seed, follow_up_days=follow_up_days, solver=solver)
        history.append({"multipliers": mult, "objective": fit.objective, "inside": fit.all_within_ci,
                        "simulated": fit.simulated, "within_ci": fit.within_ci})
        if progress is not None:
            progress(len(history), fit.objective)
        if stop_when_inside and fit.objective <= len(targets) and fit.all_within_ci:
            raise _GoodEnough
        return fit.objective

    initial = (calibrated_multipliers(protocol) if start == "committed" else dict(start or {}))
    x0 = to_theta({k: v for k, v in initial.items() if k in free})
    simplex = np.vstack([x0] + [x0 + 0.5 * np.eye(len(free))[i] for i in range(len(free))])
    try:
        fit = minimize(evaluate, x0, method="Nelder-Mead",
                       options={"maxfev": max_evaluations, "initial_simplex": simplex, "xatol": 0.02, "fatol": 0.05})
        status = f"converged={bool(fit.success)}"
    except _GoodEnough:
        status = "stopped: every target inside its 95% CI"
    # The acceptance criterion is every target inside its CI: an evaluation that meets it wins
    # over one with a lower objective that does not (the objective is a sum, so one far target
    # can hide behind several close ones).
    best = min(history, key=lambda h: (not h["inside"], h["objective"]))
    rows = {}
    for name, target in targets.items():
        rows[name] = {
            "published": target.value, "ci_low": target.ci_low, "ci_high": target.ci_high, "n": target.n,
            "set": target.set, "scale": target.scale, "source": target.source,
            "simulated": best["simulated"][name], "within_ci": best["within_ci"][name],
        }
    return {
        "preset": preset_key(protocol) or protocol.name,
        "date": dt.date.today().isoformat(),
        "n_patients": n,
        "seed": seed,
        "follow_up_days": follow_up_days,
        "multipliers": best["multipliers"],
        "objective": best["objective"],
        "evaluations": len(history),
        "optimizer": f"scipy Nelder-Mead (log multipliers), start {'committed' if start == 'committed' else 'given'}, {status}",
        # Everything needed to rerun this fit exactly (scripts/calibrate_presets.py --reproduce).
        "settings": {"start": {k: float(v) for k, v in initial.items() if k in free},
                     "max_evaluations": max_evaluations, "stop_when_inside": stop_when_inside,
                     "solver": getattr(solver, "name", "rosenbrock4") if solver is not None else "rosenbrock4"},
        "targets": rows,
        "all_within_ci": all(r["within_ci"] for r in rows.values()),
    }


def write_record(record: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
