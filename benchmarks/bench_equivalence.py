"""Engine levers at endpoint-equivalent accuracy: speed-up and the endpoint-equivalence check.

Runs ``run_trial(protocol, n, seed)`` once at the reference tolerance (rtol 1e-8), once at the
calibrated default (rtol 1e-6, the speed baseline) and once per lever, on the same patients, and
reports for each: wall seconds, engine seconds, the speed-up over the default measured in the same
run, and the endpoint-equivalence check against the reference (:mod:`cartwin.trial.equivalence`:
worst endpoint as |difference| / its reference 95 % CI half-width, share of infused patients with
identical max grades, pass/fail against 0.1 and 99.9 %).

Levers (``--levers``, names below): rtol 1e-5 and 1e-4; the per-state absolute tolerances scaled
(``atol100``: x 100 at rtol 1e-4); the lower-order methods the compiled engine has (Rodas4,
Shampine's order-4 method) at looser rtol. Timings on a shared machine are noisy: compare the
ratios of one run.

Usage:
    PYTHONPATH=src python benchmarks/bench_equivalence.py --n 2000 --json equivalence.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LEVERS = {
    # name: (rtol, method, atol factor)
    "rtol1e-5": (1e-5, "rodas5p", 1.0),
    "rtol1e-4": (1e-4, "rodas5p", 1.0),
    "rtol3e-4": (3e-4, "rodas5p", 1.0),
    "rtol1e-3": (1e-3, "rodas5p", 1.0),
    "rtol3e-3": (3e-3, "rodas5p", 1.0),
    "rtol1e-4-atol100": (1e-4, "rodas5p", 100.0),
    "rtol1e-5-atol100": (1e-5, "rodas5p", 100.0),
    "rodas4-rtol1e-5": (1e-5, "rodas4", 1.0),
    "rodas4-rtol1e-4": (1e-4, "rodas4", 1.0),
    "shampine4-rtol1e-4": (1e-4, "shampine4", 1.0),
}
DEFAULT_LEVERS = ("rtol1e-5", "rtol1e-4", "rtol1e-4-atol100", "rodas4-rtol1e-5", "rodas4-rtol1e-4")


@contextlib.contextmanager
def atol_scaled(factor: float):
    """Every per-state absolute tolerance of the course x ``factor`` (the engine reads
    ``cartwin.therapy.course.DEFAULT_ATOL`` at each call)."""
    import cartwin.therapy.course as course

    original = course.DEFAULT_ATOL
    course.DEFAULT_ATOL = {k: v * factor for k, v in original.items()}
    try:
        yield
    finally:
        course.DEFAULT_ATOL = original


def timed_trial(protocol: str, n: int, seed: int, rtol: float, method: str = "rodas5p", atol_factor: float = 1.0,
                threads: int | None = None):
    from bench_trial import _Timed, counting_steps

    from cartwin.engine.compiled import NumbaRosenbrock
    from cartwin.trial.runner import run_trial

    engine = _Timed(NumbaRosenbrock, "advance")
    try:
        with atol_scaled(atol_factor), counting_steps() as steps:
            t = time.perf_counter()
            result = run_trial(protocol, n=n, seed=seed, solver=NumbaRosenbrock(rhs="generated", method=method, threads=threads), rtol=rtol)
            seconds = time.perf_counter() - t
    finally:
        engine.restore()
    import numpy as np

    per_patient = np.concatenate(steps) if steps else np.zeros(0)
    info = {"rtol": rtol, "method": method, "atol_factor": atol_factor, "threads": threads, "seconds": round(seconds, 2),
            "engine_s": round(engine.seconds, 2), "mean_steps": round(float(per_patient.mean()), 1) if per_patient.size else None}
    return result, info


def main(argv: list[str] | None = None) -> list[dict]:
    from cartwin.trial.equivalence import REFERENCE_RTOL, compare_trials

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="zuma-1")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--levers", nargs="*", choices=sorted(LEVERS), default=list(DEFAULT_LEVERS))
    ap.add_argument("--reference-rtol", type=float, default=REFERENCE_RTOL)
    ap.add_argument("--threads", type=int, default=1,
                    help="numba threads (1: no parallel region waiting on a descheduled thread at every "
                    "segment on a shared machine; the serial kernel, so warm-ups compile what is timed)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    threads = args.threads

    for method in dict.fromkeys(["rodas5p"] + [LEVERS[k][1] for k in args.levers]):
        timed_trial(args.protocol, 600 if threads != 1 else 8, args.seed, 1e-6, method, threads=threads)  # compile/load outside the timings
    reference, ref_info = timed_trial(args.protocol, args.n, args.seed, args.reference_rtol, threads=threads)
    print(json.dumps({"run": "reference", **ref_info}), flush=True)
    rows = []
    base = None
    for name in ["default-rtol1e-6", *args.levers]:
        rtol, method, factor = (1e-6, "rodas5p", 1.0) if name.startswith("default") else LEVERS[name]
        result, info = timed_trial(args.protocol, args.n, args.seed, rtol, method, factor, threads=threads)
        base = base or info
        report = compare_trials(reference, result)
        row = {"run": name, **info, "speedup_vs_default": round(base["seconds"] / info["seconds"], 2),
               "engine_speedup_vs_default": round(base["engine_s"] / info["engine_s"], 2), **report.summary(),
               "infused": report.patients_compared}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"protocol": args.protocol, "n": args.n, "seed": args.seed, "reference": ref_info, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return rows


if __name__ == "__main__":
    main()
