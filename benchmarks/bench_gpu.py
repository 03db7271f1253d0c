"""GPU benchmark: N virtual patients x 1 year of the full composite model on one device.

Usage (on a machine with JAX and a GPU):
    PYTHONPATH=src python benchmarks/bench_gpu.py --n 1000000

CUDA engine (numba-cuda; one thread per patient, the whole course in one launch; see
docs/gpu.md), on the benchmark cohort of ``cartwin bench`` (cartwin.engine.bench.cohort):
    PYTHONPATH=src python benchmarks/bench_gpu.py --engine cuda --n 10000 100000 1000000 --check 3
With ``--check K`` it also runs the first K patients through ``simulate`` with the CUDA solver,
the numba CPU engine and scipy Radau at rtol 1e-10 (the reference of ``cartwin bench``) and
prints the error at days 7/14/28/90/365 (bench's metric) and the agreement of the one-launch
course with both engines at day 365.

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


def course_inputs(model, schedule, n: int, days: float):
    """Doses, decision days and boundaries of the course for run_on_device (both engines)."""
    doses = {}
    for d in schedule.doses:
        doses.setdefault(float(d.time_day), []).append((model.state_index(d.state), np.broadcast_to(np.asarray(d.amount, float), (n,)).copy()))
    decision_days = np.arange(-5.0, days + 1e-9, 1.0)
    boundaries = np.unique(np.concatenate([decision_days, [t for t in doses if t <= days]]))
    return doses, decision_days, boundaries


def run_cuda(n: int, seed: int, rtol: float, days: float, threads_per_block: int, rhs: str = "model"):
    """The benchmark cohort's first n patients, one CUDA launch; returns (seconds, timings, out, cohort).

    ``rhs``: ``"model"`` (the model's rhs as written) or ``"generated"`` (parameter expressions
    hoisted into per-patient record fields; see ``cartwin.engine._codegen.hoisted_source``)."""
    from cartwin.engine.bench import cohort
    from cartwin.engine.control import StepController
    from cartwin.engine.cuda_engine import CudaRosenbrock, run_on_device
    from cartwin.therapy.course import DEFAULT_ATOL

    model, params, y0, schedule = cohort(n, seed)
    doses, decision_days, boundaries = course_inputs(model, schedule, n, days)
    atol = StepController(rtol=rtol, atol=DEFAULT_ATOL).atol_vector(model.state_names())
    timings: dict = {}
    t = time.perf_counter()
    out = run_on_device(model, params, y0, t0=-5.0, t_end=days, boundaries=boundaries, doses=doses,
                        decision_days=decision_days, rtol=rtol, atol=atol, summary_state="car_effector",
                        solver=CudaRosenbrock(threads_per_block=threads_per_block, rhs=rhs), timings=timings)
    return time.perf_counter() - t, timings, out, (model, params, y0, schedule)


def check_cuda(k: int, rtol: float, days: float, out: dict, course, rhs: str = "model") -> dict:
    """Accuracy of the first k patients: CUDA via simulate, numba CPU, scipy Radau rtol 1e-10."""
    from cartwin.engine.bench import _error, _take, run_engine
    from cartwin.engine.compiled import NumbaRosenbrock
    from cartwin.engine.cuda_engine import CudaRosenbrock
    from cartwin.engine.solvers import ScipyReference

    model, params, y0, schedule = course
    p_k, y_k, s_k = _take(k, model, params, y0, schedule)
    runs = {}
    for name, solver in (("reference", ScipyReference()), ("numba", NumbaRosenbrock(rhs=rhs)),
                         ("cuda", CudaRosenbrock(rhs=rhs))):
        t = time.perf_counter()
        runs[name] = run_engine(solver, model, p_k, y_k, s_k, days, rtol=1e-10 if name == "reference" else rtol)
        print(f"check: {name} on {k} patients in {time.perf_counter() - t:.1f} s", flush=True)
    ref = runs["reference"].ys[:, 1:, :]
    final = out["y"][:, :k].T

    def rel(a, b):
        # Relative above the benchmark's floor, absolute below it: decayed drug pools (~1e-130 mg)
        # are far under atol, and their last bits follow the arithmetic, not the method.
        from cartwin.engine.bench import FLOOR

        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), FLOOR)))

    return {
        "check_patients": k,
        "cuda_error_vs_radau": _error(runs["cuda"].ys[:, 1:, :], ref),
        "numba_error_vs_radau": _error(runs["numba"].ys[:, 1:, :], ref),
        "cuda_vs_numba_rel": rel(runs["cuda"].ys, runs["numba"].ys),
        "cuda_vs_numba_same_steps": bool(np.array_equal(runs["cuda"].steps, runs["numba"].steps)),
        "one_launch_vs_simulate_day365_rel": rel(final, runs["cuda"].ys[:, -1, :]),
        "one_launch_error_day365_vs_radau": _error(final[:, None, :], ref[:, -1:, :]),
    }


def main_cuda(args):
    from numba import cuda

    from cartwin.engine.cuda_engine import simulator

    print("device:", "simulator" if cuda.is_available() and simulator() else cuda.get_current_device().name, flush=True)
    results = []
    for rhs in args.rhs:
        t = time.perf_counter()
        run_cuda(args.warmup, args.seed, args.rtol, args.days, args.threads_per_block, rhs)
        print(f"rhs {rhs}: generate + compile + {args.warmup} patients: {time.perf_counter() - t:.1f} s", flush=True)
        for n in args.n:
            seconds, timings, out, course = run_cuda(n, args.seed, args.rtol, args.days, args.threads_per_block, rhs)
            status = np.bincount(out["status"].astype(int), minlength=4).tolist()
            row = {"engine": "cuda", "rhs": rhs, "n": n, "seconds": seconds, "kernel_seconds": timings["kernel_s"],
                   "patients_per_s": n / seconds, "patients_per_s_kernel": n / timings["kernel_s"],
                   "status_counts": status, "mean_steps": float(out["steps"].mean()),
                   "max_steps": int(out["steps"].max()), "dense_lu_steps": int(out["dense_lu_steps"].sum())}
            print(json.dumps(row), flush=True)
            if args.check:
                row.update(check_cuda(min(args.check, n), args.rtol, args.days, out, course, rhs))
                print(json.dumps(row), flush=True)
            results.append(row)
    return results


def main():
    from cartwin.engine.compiled import RHS_OPTIONS

    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=("jax", "cuda"), default="jax")
    ap.add_argument("--threads-per-block", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=256, help="patients of the first (compiling) CUDA run")
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--check", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--rhs", nargs="+", choices=RHS_OPTIONS, default=["model"],
                    help="CUDA: the model's rhs as written and/or the generated one (parameter expressions hoisted)")
    args = ap.parse_args()
    if args.engine == "cuda":
        results = main_cuda(args)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(results, fh, indent=2)
        return
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
