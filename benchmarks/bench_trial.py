"""Trial-path benchmark: where the time of a virtual trial goes, and what --rtol 1e-4 buys.

Runs ``run_trial(protocol, n, seed)`` in this process with the compiled engine (``--rhs``: the
generated rhs, what ``"auto"`` runs, or the model's as written; with both, the first is the
baseline and the second runs at 1e-6 too), once at the
calibrated rtol 1e-6 (the baseline) and once at each looser rtol asked for, and reports for each
run: wall time, enrolled patients/s, the time spent in the engine, the management policy and
the rest, the mean and 90th percentile of engine steps per infused patient, and the endpoint
estimate that moved most from the baseline's. Ratios are against the baseline of the same run.

The step counts show why a trial costs more per patient than ``bench_scale.py``: two years of
follow-up with decision points every 6 h to day 28, and patients whose simulated ICANS stays
at grade >= 2 get dexamethasone at every decision point (docs/validation.md, "Chronic
inflammation"); each dose's IL-6 transient costs ~150 steps at rtol 1e-6.

Usage:
    PYTHONPATH=src python benchmarks/bench_trial.py --protocol zuma-1 --n 1000 --rtol 1e-4
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class _Timed:
    """Wraps a callable attribute of an object; adds its wall time to ``self.seconds``."""

    def __init__(self, owner, name: str):
        self.owner, self.name, self.seconds = owner, name, 0.0
        self.original = getattr(owner, name)
        timer = self

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return timer.original(*args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - t

        setattr(owner, name, timed)

    def restore(self) -> None:
        setattr(self.owner, self.name, self.original)


@contextmanager
def counting_steps():
    """Collect every simulated batch's per-patient step counts (a list of arrays) while inside."""
    import cartwin.trial.cohort as cohort

    steps: list[np.ndarray] = []
    simulate_course = cohort.simulate_course

    def counting(*args, **kwargs):
        result = simulate_course(*args, **kwargs)
        steps.append(result.solution.steps.copy())
        return result

    cohort.simulate_course = counting
    try:
        yield steps
    finally:
        cohort.simulate_course = simulate_course


def measure(protocol: str, n: int, seed: int, rtol: float, rhs: str = "generated") -> dict:
    import cartwin.clinic.policy as policy
    from cartwin.engine.compiled import NumbaRosenbrock
    from cartwin.trial.runner import run_trial

    timers = {"engine": _Timed(NumbaRosenbrock, "advance"), "policy": _Timed(policy.ConsensusPolicy, "__call__")}
    try:
        with counting_steps() as steps:
            t = time.perf_counter()
            result = run_trial(protocol, n=n, seed=seed, solver=NumbaRosenbrock(rhs=rhs), rtol=rtol)
            seconds = time.perf_counter() - t
    finally:
        for timer in timers.values():
            timer.restore()
    per_patient = np.concatenate(steps) if steps else np.zeros(0)
    return {
        "rtol": rtol, "rhs": rhs, "enrolled": n, "infused": int(result.patients["infused"].sum()), "seconds": round(seconds, 2),
        "enrolled_per_s": round(n / seconds, 1), "engine_s": round(timers["engine"].seconds, 2),
        "policy_s": round(timers["policy"].seconds, 2), "rest_s": round(seconds - timers["engine"].seconds
                                                                         - timers["policy"].seconds, 2),
        "mean_steps": round(float(per_patient.mean()), 0), "p90_steps": round(float(np.percentile(per_patient, 90)), 0),
        "steroid_rate": round(float(result.patients.loc[result.patients["infused"], "steroids"].mean()), 3),
        "endpoints": {k: v.get("estimate") for k, v in result.endpoints["infused"].items() if isinstance(v, dict)},
    }


def _largest_change(base: dict, other: dict) -> dict:
    """The endpoint whose estimate moved most, relative to the baseline's (rates and medians)."""
    changes = {k: abs(other[k] - v) / max(abs(v), 1e-12) for k, v in base.items()
               if isinstance(v, (int, float)) and isinstance(other.get(k), (int, float))}
    name = max(changes, key=changes.get)
    return {"endpoint": name, "relative_change": float(f"{changes[name]:.3g}"), "baseline": base[name], "value": other[name]}


def _against(base: dict, row: dict, label: str) -> dict:
    """``row`` with its speed-ups over ``base`` and the largest endpoint change from it."""
    row[f"speedup_vs_{label}"] = round(base["seconds"] / row["seconds"], 2)
    row[f"engine_speedup_vs_{label}"] = round(base["engine_s"] / row["engine_s"], 2)
    row["largest_endpoint_change"] = _largest_change(base["endpoints"], row["endpoints"])
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    from cartwin.engine.compiled import RHS_OPTIONS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="zuma-1")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rtol", type=float, nargs="*", default=[1e-4], help="looser tolerances to compare with 1e-6")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--rhs", nargs="+", choices=RHS_OPTIONS, default=["generated"],
                    help="the generated rhs (what 'auto' runs) and/or the model's as written")
    args = ap.parse_args(argv)

    for rhs in args.rhs:
        measure(args.protocol, 8, args.seed, 1e-6, rhs)  # compile or load the kernels outside the timings
    rows = [measure(args.protocol, args.n, args.seed, 1e-6, args.rhs[0])]
    base = rows[0]
    rows += [_against(base, measure(args.protocol, args.n, args.seed, 1e-6, rhs), "baseline") for rhs in args.rhs[1:]]
    rows += [_against(base, measure(args.protocol, args.n, args.seed, rtol, args.rhs[0]), "1e-6") for rtol in args.rtol]
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k != "endpoints"}))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    return rows


if __name__ == "__main__":
    main()
