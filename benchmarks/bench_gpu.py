"""GPU benchmark: N virtual patients x 1 year of the full composite model on one device.

Usage (on a machine with JAX and a GPU):
    PYTHONPATH=src python benchmarks/bench_gpu.py --n 1000000

Daily decision points (tumour extinction) and the scheduled lymphodepletion and infusion run;
management policies are host-side Python and are not part of this path. Patients differ in
weight, tumour burden and two kinetic parameters (log-normal), so step counts differ.
Prints compile time, run time, patients/s and the solve-status counts; with --check N it also
compares the first N patients' CAR-T peak with the NumPy Rosenbrock engine.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def build(n: int, seed: int):
    from cartwin.therapy.course import Covariates, Regimen, build_course

    rng = np.random.default_rng(seed)
    cov = Covariates(weight_kg=rng.uniform(50, 100, n), tumour_baseline_cells=10 ** rng.uniform(9.5, 11.5, n))
    over = {
        "k_prolif_per_day": 0.94 * np.exp(rng.normal(0, 0.3, n)),
        "gamma_kill_per_day": np.clip(1.15 * np.exp(rng.normal(0, 0.3, n)), 0, 20),
    }
    model, params, y0, schedule, _ = build_course(Regimen("axi-cel", "lbcl"), cov, over)
    return model, params.broadcast(n), y0, schedule, cov, over


def run(n: int, seed: int, rtol: float, days: float):
    from cartwin.engine.control import StepController
    from cartwin.engine.jax_engine import run_on_device
    from cartwin.therapy.course import DEFAULT_ATOL

    model, params, y0, schedule, _, _ = build(n, seed)
    doses = {}
    for d in schedule.doses:
        doses.setdefault(float(d.time_day), []).append((model.state_index(d.state), np.broadcast_to(np.asarray(d.amount, float), (n,)).copy()))
    decision_days = np.arange(-5.0, days + 1e-9, 1.0)
    boundaries = np.unique(np.concatenate([decision_days, list(doses)]))
    atol = StepController(rtol=rtol, atol=DEFAULT_ATOL).atol_vector(model.state_names())
    t = time.perf_counter()
    out = run_on_device(model, params, y0, t0=-5.0, t_end=days, boundaries=boundaries, doses=doses,
                        decision_days=decision_days, rtol=rtol, atol=atol, summary_state="car_effector")
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--check", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import jax

    print("devices:", jax.devices())
    warm, _ = run(256, args.seed, args.rtol, args.days)
    print(f"compile + 256 patients: {warm:.1f} s")
    results = []
    for n in args.n:
        seconds, out = run(n, args.seed, args.rtol, args.days)
        status = np.bincount(out["status"].astype(int), minlength=4).tolist()
        row = {"n": n, "seconds": seconds, "patients_per_s": n / seconds, "status_counts": status,
               "mean_steps": float(out["steps"].mean()), "max_steps": int(out["steps"].max())}
        print(json.dumps(row))
        results.append(row)
        if args.check:
            from cartwin.engine import Rosenbrock4
            from cartwin.therapy.course import Covariates, Regimen, simulate_course
            _, params, _, _, cov, over = build(n, args.seed)
            k = args.check
            ref = simulate_course(Regimen("axi-cel", "lbcl"),
                                  Covariates(weight_kg=cov.weight_kg[:k], tumour_baseline_cells=cov.tumour_baseline_cells[:k]),
                                  days=args.days, param_overrides={a: b[:k] for a, b in over.items()},
                                  solver=Rosenbrock4(), rtol=args.rtol)
            eff = ref.solution.state("car_effector")[:, ref.solution.ts >= 0].max(axis=1)
            rel = np.abs(out["max"][:k] - eff) / eff
            print(f"check vs NumPy engine on {k} patients: max rel diff of peak effector {rel.max():.2e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
