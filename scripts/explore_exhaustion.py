"""Exploration, not model code: does faster antigen-driven exhaustion end the chronic tail?

About a fifth to a third of infused ZUMA-1 patients stay inflamed for two years in model v1
(docs/validation.md, "Chronic inflammation"): under persistent antigen (a progressing tumour,
or normal B cells from the marrow) effector CAR-T cells keep proliferating and secreting. Model
v1 converts stimulated effectors to the exhausted phenotype at ``k_exhaustion_per_day`` x
stimulation, 0.05/day (an assumption inside Kirouac et al. 2023's range of 0.001-1/day).
This script runs a calibrated preset for two years with that rate raised (the same population,
seed and multipliers; only the model default changes) and prints the fitted endpoints, the
CAR-T peak and three counts of the tail:

* ``steroid_gt60``: share of infused patients with more than 60 dexamethasone doses;
* ``icans2_after180``: share still at ASTCT ICANS grade >= 2 at one or more of the policy's
  decision points after day 180;
* ``icans2_half_after180``: share at grade >= 2 at half or more of those decision points.

The grades are the policy's own (counted by wrapping ``ConsensusPolicy.decide``). The
calibration records were fitted with 0.05/day, so the endpoints move too; a remedy would need
the presets refitted.

Usage: python scripts/explore_exhaustion.py --k 0.05 0.2 0.5 1 --n 1000 [--preset zuma-1]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

PARAMETER = "k_exhaustion_per_day"


def with_default(value: float) -> None:
    """Make ``value`` the model's default of :data:`PARAMETER` in this process."""
    from cartwin.model.cart import CarTPatientModel

    table = CarTPatientModel.parameter_table
    if PARAMETER not in {q.name for q in table}:
        raise SystemExit(f"the model has no parameter {PARAMETER!r}")
    CarTPatientModel.parameter_table = tuple(dataclasses.replace(q, value=value) if q.name == PARAMETER else q
                                             for q in table)


def late_icans_counter():
    """Wrap the consensus policy's ``decide`` to count, per patient, decision points after day
    180 and those with ICANS grade >= 2; returns the list the counts are appended to."""
    from cartwin.clinic import policy

    counts: list = []
    decide = policy.ConsensusPolicy.decide

    def counting(self, t, crs, icans, febrile, n):
        if not hasattr(self, "_late"):
            self._late = [np.zeros(n, int), np.zeros(n, int)]
            counts.append(self._late)
        if t > 180.0:
            self._late[0] += 1
            self._late[1] += np.asarray(icans) >= 2
        return decide(self, t, crs, icans, febrile, n)

    policy.ConsensusPolicy.decide = counting
    return counts


def run(preset: str, k: float, n: int, seed: int) -> dict:
    from cartwin.trial.runner import run_trial

    with_default(k)
    counts = late_icans_counter()
    start = time.perf_counter()
    result = run_trial(preset, n, seed=seed, follow_up_days=730.0)
    seconds = time.perf_counter() - start
    infused = result.patients[result.patients["infused"]]
    endpoints = result.endpoints["infused"]
    decisions = np.concatenate([c[0] for c in counts]) if counts else np.zeros(0)
    late = np.concatenate([c[1] for c in counts]) if counts else np.zeros(0)
    cmax = infused["cmax_car_t_per_ul"].to_numpy(float)
    row = {
        PARAMETER: k, "infused": len(infused), "seconds": round(seconds, 1),
        **{name: round(endpoints[name]["estimate"], 3)
           for name in ("orr", "cr_rate", "crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus")},
        "cart_peak_median_per_ul": round(float(np.median(cmax)), 1),
        "steroid_gt60": round(float((infused["steroid_doses"] > 60).mean()), 3),
        "icans2_after180": round(float((late >= 1).mean()), 3) if late.size else None,
        "icans2_half_after180": round(float((late >= np.maximum(decisions, 1) / 2).mean()), 3) if late.size else None,
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=float, nargs="+", default=[0.05, 0.5])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preset", default="zuma-1")
    args = parser.parse_args()
    for k in args.k:
        print(run(args.preset, k, args.n, args.seed), flush=True)


if __name__ == "__main__":
    main()
