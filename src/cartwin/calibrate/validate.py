"""Predictive validation of the joint calibration: fresh seeds and leave-one-trial-out.

For every fitted target of every calibration trial (:func:`cartwin.calibrate.joint.calibration_trials`):

* **fitted** — the trial simulated with the calibrated factors on the seed and size of the fit;
* **fresh seed** — the same factors on a seed never used in fitting (default n = 2,000 enrolled);
* **left out** — the factors refitted without that trial's targets (on the same emulators, so only
  the other trials inform them), then the trial simulated on the fresh seed: a prediction of a
  trial the fit has not seen. A product with no other trial is predicted from its family and prior.

Every value is a simulation of the trial itself, never of an emulator. ``cartwin validate`` runs it
and writes the table; docs/validation.md shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from cartwin.calibrate.joint import (
    JointProblem,
    calibration_trials,
    emulators_from,
    simulate_rates,
)

#: Seeds of the checks: never a design seed of the fit (the fit uses one seed, its settings' ``seed``).
FRESH_SEED = 1001


def _simulate(args) -> dict[str, tuple[float, int]]:
    preset, factors, n, seed, follow = args
    return simulate_rates(preset, factors, n, seed, follow)


def validate(record: Mapping[str, Any], design: pd.DataFrame, *, n: int = 2000, seed: int = FRESH_SEED,
             left_out: bool = True, workers: int = 1, log: Callable[[str], None] = print) -> pd.DataFrame:
    """The validation table (one row per fitted target); see the module docstring."""
    settings = record["settings"]
    if seed == settings["seed"]:
        raise ValueError(f"seed {seed} is the fit's own seed; a fresh seed must differ")
    presets = sorted({t["preset"] for t in record["targets"]})
    trials = calibration_trials(presets)
    problem = JointProblem(trials)
    theta = problem.vector({"products": record["products"], "indications": record["indications"],
                            "families": record.get("family_means", {})})
    jobs: list[tuple[str, str, tuple]] = []
    follow = float(settings["follow_up_days"])
    for trial in trials:
        factors = problem.factors_for(theta, trial)
        jobs.append((trial.preset, "fitted", (trial.preset, factors, int(settings["n"]), int(settings["seed"]), follow)))
        jobs.append((trial.preset, "fresh_seed", (trial.preset, factors, n, seed, follow)))
    loto_factors: dict[str, dict[str, float]] = {}
    if left_out:
        emulators = emulators_from(design, trials)
        for trial in trials:
            x, _ = problem.fit(emulators, start=theta, exclude=[trial.preset])
            loto_factors[trial.preset] = problem.factors_for(x, trial)
            jobs.append((trial.preset, "left_out", (trial.preset, loto_factors[trial.preset], n, seed, follow)))
        log(f"left-out refits: {len(trials)}")
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_simulate, [j[2] for j in jobs]))
    else:
        results = [_simulate(j[2]) for j in jobs]
    sims = {(preset, what): r for (preset, what, _), r in zip(jobs, results, strict=True)}
    rows = []
    for trial in trials:
        for t in trial.targets:
            row: dict[str, Any] = {"preset": t.preset, "product": trial.product, "indication": trial.indication,
                                   "endpoint": t.endpoint, "published": t.value, "ci_low": t.ci_low, "ci_high": t.ci_high,
                                   "n_published": t.n}
            for what in ("fitted", "fresh_seed", "left_out"):
                got = sims.get((t.preset, what), {}).get(t.endpoint)
                value = np.nan if got is None else got[0]
                row[what] = value
                row[f"{what}_inside"] = bool(got is not None and t.ci_low <= value <= t.ci_high)
            rows.append(row)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> dict[str, float]:
    """Shares of targets inside their published 95 % CI, per check (and the worst left-out trial)."""
    out = {f"{what}_inside": float(table[f"{what}_inside"].mean()) for what in ("fitted", "fresh_seed", "left_out")
           if table[what].notna().any()}
    if table["left_out"].notna().any():
        out["left_out_worst_trial"] = float(table.groupby("preset")["left_out_inside"].mean().min())
    out["targets"] = int(len(table))
    return out
