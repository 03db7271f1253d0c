"""Exploration, not model code: what would end the chronic tail of model v1?

About a fifth to a third of infused ZUMA-1 patients stay inflamed for two years in model v1
(docs/validation.md, "Chronic inflammation"). Two levers are tried, alone or together, on a
calibrated preset run for two years (the same population, seed and multipliers):

* ``--k``: the rate at which stimulated effectors become exhausted, ``k_exhaustion_per_day``
  (0.05/day in model v1, an assumption inside Kirouac et al. 2023's 0.001-1/day), set as the
  model's default in the process;
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

The grades are the policy's own (counted by wrapping ``ConsensusPolicy.decide``). The
calibration records were fitted with model v1, so the endpoints move too; a remedy would need
the presets refitted. Each setting runs in a process of its own (a process keeps one generated
kernel per model class).

Usage: python scripts/explore_chronic_tail.py --k 0.05 1 --hill 1 2 --n 1000 [--preset zuma-1]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import itertools
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

PARAMETER = "k_exhaustion_per_day"
V1_LINE = "endo_drive = il6_excess / (il6_excess + p.K_il6_endothelial_pg_per_ml) + ifng_drive"


def with_default(value: float) -> None:
    """Make ``value`` the model's default of :data:`PARAMETER` in this process."""
    from cartwin.model.cart import CarTPatientModel

    table = CarTPatientModel.parameter_table
    if PARAMETER not in {q.name for q in table}:
        raise SystemExit(f"the model has no parameter {PARAMETER!r}")
    CarTPatientModel.parameter_table = tuple(dataclasses.replace(q, value=value) if q.name == PARAMETER else q
                                             for q in table)


def use_endothelial_hill(h: float, directory: Path) -> None:
    """Give ``CarTPatientModel`` an ``rhs`` whose IL-6 term in the endothelial drive has Hill
    coefficient ``h``, written to a file in ``directory`` (numba compiles functions from files)."""
    import cartwin.model.cart as cart

    source = textwrap.dedent(inspect.getsource(cart.CarTPatientModel.rhs))
    if V1_LINE not in source:
        raise SystemExit(f"the model's endothelial drive changed; expected {V1_LINE!r}")
    source = source.replace(V1_LINE, (f"endo_drive = il6_excess ** {h!r} / (il6_excess ** {h!r} "
                                      f"+ p.K_il6_endothelial_pg_per_ml ** {h!r}) + ifng_drive"))
    path = directory / "rhs_endothelial_hill.py"
    path.write_text("import numpy as np\nfrom cartwin.model.cart import BODY_LYMPHOID_VOLUME_UL, LN2\n\n" + source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cart.CarTPatientModel.rhs = module.rhs


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


def run(preset: str, k: float, hill: float, n: int, seed: int) -> dict:
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
        PARAMETER: k, "endothelial_hill": hill, "infused": len(infused), "seconds": round(seconds, 1),
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
    parser.add_argument("--k", type=float, nargs="+", default=[0.05])
    parser.add_argument("--hill", type=float, nargs="+", default=[1.0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preset", default="zuma-1")
    args = parser.parse_args()
    settings = list(itertools.product(args.k, args.hill))
    if len(settings) > 1:
        for k, hill in settings:
            subprocess.run([sys.executable, __file__, "--k", repr(k), "--hill", repr(hill), "--n", str(args.n),
                            "--seed", str(args.seed), "--preset", args.preset], check=True)
        return
    (k, hill), = settings
    with tempfile.TemporaryDirectory() as directory:
        if hill != 1.0:  # 1 is model v1 as it is
            # A kernel cached on disk refers to the temporary rhs module: compile afresh.
            os.environ["CARTWIN_CACHE_DIR"] = directory
            use_endothelial_hill(hill, Path(directory))
        print(run(args.preset, k, hill, args.n, args.seed), flush=True)


if __name__ == "__main__":
    main()
