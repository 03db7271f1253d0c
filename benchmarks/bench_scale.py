"""Scale benchmark: N virtual patients x 1 year, sharded and streamed to Parquet.

What the scale target ("10^6 patients x 1 year in <= 3 minutes on 2 cores, peak memory bounded")
asks for, measured end to end: each shard draws its patients from its own seed stream (the
engine benchmark's cohort: axi-cel in LBCL, weight and tumour burden uniform, log-normal
proliferation and killing), solves day -5 to 365 with the compiled engine and the consensus
management policy acting at daily decision points (clinical decisions on), keeps one summary
row per patient (status, steps, peak CAR-T on the weekly grid, tumour at day 365, tocilizumab
and dexamethasone doses) and writes it as a Parquet shard (``cartwin.dispatch``). Trajectories
are never held beyond one shard.

Reports wall time, patients/s, the time 10^6 patients would take at that rate, and the peak
resident memory of this process and of its workers.

``--population zuma-1`` runs ZUMA-1's virtual trial path instead (issue #25's target: "one year,
policy on, ZUMA-1 population"): each shard is ``run_trial("zuma-1", shard_size, seed_k,
follow_up_days=365)`` with its own seed (enrolment, journey, the protocol's management policy
at its decision points, grading, response, survival), one row per enrolled patient.
``--rtol`` and ``--method`` set the engine (default: the calibrated rtol 1e-6, Rodas5P).
``--check-n N`` adds, in the same run, the endpoint-equivalence check of those settings against
an rtol-1e-8 reference on an N-patient ZUMA-1 trial of one year (:mod:`cartwin.trial.equivalence`).

Usage:
    PYTHONPATH=src python benchmarks/bench_scale.py --n 20000 --shard-size 2500 --workers 2
    PYTHONPATH=src python benchmarks/bench_scale.py --n 1000000 --workers 2 --out runs/scale --resume
    PYTHONPATH=src python benchmarks/bench_scale.py --population zuma-1 --n 20000 --rtol 1e-4 --check-n 10000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

WEEKLY = tuple(float(d) for d in range(0, 366, 7)) + (365.0,)


def shard_task(shard_index: int, start: int, stop: int, seed_sequence, threads: int = 1,
               rhs: str = "generated", rtol: float = 1e-6, method: str = "rodas5p", population: str = "engine-cohort"
               ) -> pd.DataFrame:
    """Simulate patients [start, stop) of the cohort; one summary row each."""
    if population != "engine-cohort":
        return trial_shard(population, start, stop, seed_sequence, threads, rhs, rtol, method)
    from cartwin.clinic.policy import ConsensusPolicy
    from cartwin.engine.compiled import NumbaRosenbrock
    from cartwin.engine.control import SaveAt, StepController
    from cartwin.engine.events import DecisionPoints
    from cartwin.engine.simulate import simulate
    from cartwin.therapy.course import DEFAULT_ATOL, Covariates, Regimen, build_course

    n = stop - start
    rng = np.random.default_rng(seed_sequence)
    weight = rng.uniform(50, 100, n)
    cov = Covariates(weight_kg=weight, tumour_baseline_cells=10 ** rng.uniform(9.5, 11.5, n))
    over = {
        "k_prolif_per_day": np.clip(0.94 * np.exp(rng.normal(0, 0.3, n)), 0, 10),
        "gamma_kill_per_day": np.clip(1.15 * np.exp(rng.normal(0, 0.3, n)), 0, 20),
    }
    model, params, y0, schedule, _ = build_course(Regimen("axi-cel", "lbcl"), cov, over)
    policy = ConsensusPolicy(weight_kg=weight)
    sol = simulate(model, params.broadcast(n), y0=y0, t0=-5.0, solver=NumbaRosenbrock(threads=threads, rhs=rhs, method=method),
                   saveat=SaveAt(WEEKLY), controller=StepController(rtol=rtol, atol=DEFAULT_ATOL),
                   schedule=schedule, decisions=DecisionPoints(every_days=1.0, policy=policy, start_day=-5.0))
    names = model.state_names()
    car = sum(sol.ys[:, :, names.index(s)] for s in ("car_effector", "car_memory", "car_exhausted"))
    doses = policy.treatments()
    counts = doses.groupby(["patient_id", "drug"]).size().unstack(fill_value=0) if len(doses) else pd.DataFrame()
    summary = pd.DataFrame({
        "patient": np.arange(start, stop),
        "status": sol.status.astype(np.int8),
        "steps": sol.steps.astype(np.int32),
        "car_t_peak_weekly_per_ul": car.max(axis=1),
        "tumour_day365_cells": sol.ys[:, -1, names.index("tumour_pos")] + sol.ys[:, -1, names.index("tumour_neg")],
    })
    for drug in ("tocilizumab", "dexamethasone"):
        col = counts[drug] if drug in counts else pd.Series(dtype=int)
        summary[f"{drug}_doses"] = col.reindex(np.arange(n), fill_value=0).to_numpy(dtype=np.int16)
    return summary


TRIAL_COLUMNS = ("infused", "status", "best_response", "crs_max_grade_astct", "icans_max_grade_astct", "tocilizumab_doses",
                 "steroid_doses", "pfs_day", "os_day", "cmax_copies_per_ug")


def trial_shard(protocol: str, start: int, stop: int, seed_sequence, threads: int, rhs: str, rtol: float,
                method: str) -> pd.DataFrame:
    """Enrolled patients [start, stop) as one virtual trial of one year with the shard's own seed."""
    from cartwin.engine.compiled import NumbaRosenbrock
    from cartwin.trial.runner import run_trial

    seed = int(seed_sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))
    result = run_trial(protocol, n=stop - start, seed=seed, follow_up_days=365.0, rtol=rtol,
                       solver=NumbaRosenbrock(threads=threads, rhs=rhs, method=method))
    rows = result.patients
    out = pd.DataFrame({"patient": np.arange(start, stop)})
    for column in TRIAL_COLUMNS:
        values = rows[column]
        out[column] = values.astype(str) if values.dtype == object else values.to_numpy()
    out["status"] = np.where(rows["infused"].astype(bool), (rows["status"].astype(str) != "success").astype(np.int8), 0)
    return out


def equivalence_check(protocol: str, n: int, seed: int, rtol: float, method: str, rhs: str, threads: int) -> dict:
    """Endpoint equivalence of (rtol, method) against rtol 1e-8 on an ``n``-patient trial of one year."""
    from cartwin.engine.compiled import NumbaRosenbrock
    from cartwin.trial.equivalence import endpoint_equivalence

    solver = NumbaRosenbrock(threads=threads, rhs=rhs, method=method)
    (report,), reference = endpoint_equivalence(
        protocol, n, seed, [{"rtol": rtol, "solver": solver}],
        reference={"solver": NumbaRosenbrock(threads=threads, rhs=rhs)}, follow_up_days=365.0)
    return {"reference_seconds": reference["seconds"], **report.summary()}


def peak_rss_mib() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"driver_peak_rss_mib": round(own, 1), "largest_worker_peak_rss_mib": round(children, 1)}


def main(argv: list[str] | None = None) -> dict:
    from functools import partial

    from cartwin.dispatch import read_shards, run_shards
    from cartwin.engine.compiled import RHS_OPTIONS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--shard-size", type=int, default=2_500)
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (0: this process)")
    ap.add_argument("--threads", type=int, default=1, help="numba threads per worker")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="dataset directory (default: a temporary one)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--rhs", choices=RHS_OPTIONS, default="generated",
                    help="generated with its parameter expressions hoisted (what engine 'auto' runs), "
                    "or the model's rhs as written")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--method", choices=("rodas5p", "rodas4", "shampine4"), default="rodas5p")
    ap.add_argument("--population", choices=("engine-cohort", "zuma-1"), default="engine-cohort",
                    help="the engine benchmark's cohort (default) or ZUMA-1's virtual trial path")
    ap.add_argument("--check-n", type=int, default=0,
                    help="patients of the endpoint-equivalence check against rtol 1e-8 (ZUMA-1, one year; 0: none)")
    args = ap.parse_args(argv)

    settings = {"threads": args.threads, "rhs": args.rhs, "rtol": args.rtol, "method": args.method,
                "population": args.population}
    # Compile (or load the cached kernel) before timing, as `cartwin bench` does.
    shard_task(0, 0, 2, np.random.SeedSequence(0), **{**settings, "threads": 1})
    out = args.out or Path(tempfile.mkdtemp(prefix="cartwin-scale-"))
    task = partial(shard_task, **settings)
    t = time.perf_counter()
    run_shards(task, n_items=args.n, shard_size=args.shard_size, seed=args.seed, out_dir=out,
               resume=args.resume, scheduler="local" if args.workers else None,
               workers=args.workers or None, description="patients (shards)")
    seconds = time.perf_counter() - t
    frame = read_shards(out)
    result = {
        "patients": int(len(frame)), "seconds": round(seconds, 1),
        "patients_per_s": round(len(frame) / seconds, 1),
        "minutes_for_1e6": round(1e6 / (len(frame) / seconds) / 60, 1),
        "failed": int((frame["status"] != 0).sum()),
        "mean_steps": round(float(frame["steps"].mean()), 1) if "steps" in frame else None,
        "tocilizumab_any": round(float((frame["tocilizumab_doses"] > 0).mean()), 3),
        "workers": args.workers, "threads_per_worker": args.threads, "shard_size": args.shard_size, "rhs": args.rhs,
        "rtol": args.rtol, "method": args.method, "population": args.population,
        **peak_rss_mib(),
    }
    print(json.dumps(result, indent=1), flush=True)
    if args.check_n:
        t = time.perf_counter()
        result["equivalence"] = equivalence_check("zuma-1", args.check_n, args.seed, args.rtol, args.method, args.rhs,
                                                  max(1, args.threads))
        result["equivalence"]["check_seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
