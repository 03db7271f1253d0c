"""Exploration, not model code: what would end the chronic tail of model v1?

About a fifth to a third of infused ZUMA-1 patients stay inflamed for two years in model v1
(docs/validation.md, "Chronic inflammation"). Two levers are tried, alone or together, on a
calibrated preset run for two years (the same population, seed and multipliers):

* ``--k``: the rate at which stimulated effectors become exhausted, ``k_exhaustion_per_day``
  (0.05/day in model v1, an assumption inside Kirouac et al. 2023's 0.001-1/day), set as the
  model's default in the process;
* ``--b-weight``: how strongly a normal B cell stimulates CAR-T cells relative to a tumour
  cell, ``normal_target_antigen_weight`` (0.1 in model v1, an assumption), set as the default;
* ``--hill``: the Hill coefficient of serum IL-6 in the endothelial activation drive,
  ``excess^h / (excess^h + K^h)`` in place of ``excess / (excess + K)`` (h = 1 is model v1): a
  threshold, so that a low IL-6 excess no longer holds the endothelium activated. The model's
  ``rhs`` is rebuilt with that one line changed (as scripts/explore_ratio_dependent_stimulation.py
  does) and compiled afresh (~45 s).

It prints the fitted endpoints, the CAR-T peak and three counts of the tail:

* ``steroid_gt60``: share of infused patients with more than 60 dexamethasone doses;
* ``icans2_after180``: share still at ASTCT ICANS grade >= 2 at one or more of the policy's
  decision points after day 180;
* ``icans2_half_after180``: share at grade >= 2 at half or more of those decision points.

The grades are the policy's own (recorded by wrapping ``ConsensusPolicy``). For the chronic
patients (the last count) it also prints what the policy saw at their grade >= 2 decisions
after day 180: CAR-T cells and IL-6, and the shares with many CAR-T cells (>= 100 /µL) fed by
normal B cells (tumour below 10^3 cells) or by a progressing tumour (above 10^9), or with few
(< 10 /µL). The
calibration records were fitted with model v1, so the endpoints move too; a remedy would need
the presets refitted. Each setting runs in a process of its own (a process keeps one generated
kernel per model class).

Usage: python scripts/explore_chronic_tail.py --k 0.05 1 --hill 1 2 --b-weight 0.1 0 --n 1000 [--preset zuma-1]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PARAMETER = "k_exhaustion_per_day"
B_WEIGHT = "normal_target_antigen_weight"
V1_LINE = "endo_drive = il6_excess / (il6_excess + p.K_il6_endothelial_pg_per_ml) + ifng_drive"


def with_default(value: float, name: str = PARAMETER) -> None:
    """Make ``value`` the model's default of parameter ``name`` in this process."""
    from cartwin.model.cart import CarTPatientModel

    table = CarTPatientModel.parameter_table
    spec = {q.name: q for q in table}.get(name)
    if spec is None:
        raise SystemExit(f"the model has no parameter {name!r}")
    if not spec.low <= value <= spec.high:
        raise SystemExit(f"error: {name}: expected a value in [{spec.low}, {spec.high}] (unit {spec.unit}), got {value}")
    CarTPatientModel.parameter_table = tuple(dataclasses.replace(q, value=value) if q.name == name else q
                                             for q in table)


def use_endothelial_hill(h: float, directory: Path) -> None:
    """Give ``CarTPatientModel`` an ``rhs`` whose IL-6 term in the endothelial drive has Hill
    coefficient ``h``."""
    from rhs_variant import replace_rhs_line

    replace_rhs_line(V1_LINE, (f"endo_drive = il6_excess ** {h!r} / (il6_excess ** {h!r} "
                               f"+ p.K_il6_endothelial_pg_per_ml ** {h!r}) + ifng_drive"), directory, "rhs_endothelial_hill")


class LateDecisions:
    """Wraps the consensus policy to record, at each decision point after day 180, every
    patient's ASTCT ICANS grade (the policy's own) and what the policy saw: CAR-T cells, IL-6,
    tumour cells and normal B cells."""

    KEYS = ("car_t_per_ul", "il6_pg_per_ml", "tumor_cells", "b_cells_per_ul")

    def __init__(self) -> None:
        from cartwin.clinic import policy

        self.batches: list[dict] = []
        call, decide = policy.ConsensusPolicy.__call__, policy.ConsensusPolicy.decide
        recorder = self

        def calling(self, t, observables, y):
            self._observables = observables
            return call(self, t, observables, y)

        def deciding(self, t, crs, icans, febrile, n):
            if not hasattr(self, "_late"):
                self._late = {"icans": [], **{key: [] for key in recorder.KEYS}}
                recorder.batches.append(self._late)
            if t > 180.0:
                self._late["icans"].append(np.asarray(icans).copy())
                for key in recorder.KEYS:
                    self._late[key].append(np.broadcast_to(np.asarray(self._observables[key], float), (n,)).copy())
            return decide(self, t, crs, icans, febrile, n)

        policy.ConsensusPolicy.__call__ = calling
        policy.ConsensusPolicy.decide = deciding

    def arrays(self) -> dict:
        """(late decisions, patients) arrays; patients of all batches side by side."""
        batches = [b for b in self.batches if b["icans"]]
        return {key: np.concatenate([np.stack(b[key]) for b in batches], axis=1) for key in ("icans", *self.KEYS)}


def tail_counts(late: dict) -> dict:
    """The tail's shares, and what the policy saw at the chronic patients' grade >= 2 decisions."""
    grade2 = late["icans"] >= 2
    share = grade2.mean(axis=0)
    chronic = share >= 0.5
    seen = grade2 & chronic[None, :]
    out = {"icans2_after180": round(float((share > 0).mean()), 3),
           "icans2_half_after180": round(float(chronic.mean()), 3), "chronic_patients": int(chronic.sum())}
    if chronic.any():
        car = late["car_t_per_ul"][seen]
        out["chronic_car_t_p10_median_p90_per_ul"] = [round(float(v), 1) for v in np.percentile(car, [10, 50, 90])]
        out["chronic_il6_median_pg_per_ml"] = round(float(np.median(late["il6_pg_per_ml"][seen])), 0)

        def per_patient(key):
            return np.array([np.median(late[key][seen[:, j], j]) for j in np.flatnonzero(chronic)])

        car_each, tumour_each, b_each = per_patient("car_t_per_ul"), per_patient("tumor_cells"), per_patient("b_cells_per_ul")
        many = car_each >= 100.0
        out["chronic_car_t_ge100"] = round(float(many.mean()), 3)
        if many.any():
            out["of_those_tumour_lt1e3"] = round(float((tumour_each[many] < 1e3).mean()), 3)
            out["of_those_tumour_gt1e9"] = round(float((tumour_each[many] > 1e9).mean()), 3)
            out["of_those_b_cells_median_per_ul"] = round(float(np.median(b_each[many])), 1)
        out["chronic_car_t_lt10"] = round(float((car_each < 10.0).mean()), 3)
    return out


def run(preset: str, k: float, hill: float, b_weight: float, n: int, seed: int) -> dict:
    from cartwin.trial.runner import run_trial

    with_default(k)
    with_default(b_weight, B_WEIGHT)
    recorder = LateDecisions()
    start = time.perf_counter()
    result = run_trial(preset, n, seed=seed, follow_up_days=730.0)
    seconds = time.perf_counter() - start
    infused = result.patients[result.patients["infused"]]
    endpoints = result.endpoints["infused"]
    cmax = infused["cmax_car_t_per_ul"].to_numpy(float)
    return {
        PARAMETER: k, "endothelial_hill": hill, B_WEIGHT: b_weight, "infused": len(infused),
        "seconds": round(seconds, 1),
        **{name: round(endpoints[name]["estimate"], 3)
           for name in ("orr", "cr_rate", "crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus")},
        "cart_peak_median_per_ul": round(float(np.median(cmax)), 1),
        "steroid_gt60": round(float((infused["steroid_doses"] > 60).mean()), 3),
        **tail_counts(recorder.arrays()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=float, nargs="+", default=[0.05])
    parser.add_argument("--hill", type=float, nargs="+", default=[1.0])
    parser.add_argument("--b-weight", type=float, nargs="+", default=[0.1],
                        help="normal_target_antigen_weight (0.1 in model v1)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preset", default="zuma-1")
    args = parser.parse_args()
    settings = list(itertools.product(args.k, args.hill, args.b_weight))
    if len(settings) > 1:
        for k, hill, b_weight in settings:
            subprocess.run([sys.executable, __file__, "--k", repr(k), "--hill", repr(hill), "--b-weight", repr(b_weight),
                            "--n", str(args.n), "--seed", str(args.seed), "--preset", args.preset], check=True)
        return
    (k, hill, b_weight), = settings
    with tempfile.TemporaryDirectory() as directory:
        if hill != 1.0:  # 1 is model v1 as it is
            # A kernel cached on disk refers to the temporary rhs module: compile afresh.
            os.environ["CARTWIN_CACHE_DIR"] = directory
            use_endothelial_hill(hill, Path(directory))
        print(run(args.preset, k, hill, b_weight, args.n, args.seed), flush=True)


if __name__ == "__main__":
    main()
