"""Engine benchmark: patients per second for the full composite model over one year.

Every engine solves the same cohort (axi-cel in LBCL; weight, tumour burden and two kinetic
parameters vary per patient) from day -5 (lymphodepletion) to day 365 with daily decision
points (each a segment boundary where tumours below one cell are extinguished), rtol 1e-6 and
the course's per-state absolute tolerances. Accuracy is the largest relative error of any state
at days 7, 14, 28, 90 and 365 against scipy Radau at rtol 1e-10 on the first few patients
(states below the negligible floors of the accuracy tests are compared absolutely).

Engines: ``lsoda`` (scipy ``solve_ivp`` LSODA, one patient at a time: the baseline),
``numpy`` (Rosenbrock4, batched), ``numba`` (NumbaRosenbrock, ``threads`` threads),
``roadrunner`` (libRoadRunner CVODE on SBML generated from the same rhs, one patient at a time;
reported as unavailable when ``libroadrunner`` is not installed).
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

from cartwin.engine.control import SaveAt, StepController
from cartwin.engine.events import DecisionPoints, Schedule
from cartwin.engine.simulate import simulate
from cartwin.engine.solvers import Rosenbrock4, ScipyReference

CHECK_DAYS = (7.0, 14.0, 28.0, 90.0, 365.0)
FLOOR = 1e-3  # below this (in the state's unit) a state is compared absolutely


@dataclass
class Row:
    engine: str
    patients: int
    seconds: float
    patients_per_s: float
    ratio_vs_lsoda: float | None = None
    max_rel_error: float | None = None
    note: str = ""


def cohort(n: int, seed: int = 1):
    """Model, parameters, y0 and schedule for ``n`` patients (deterministic in ``seed``)."""
    from cartwin.therapy.course import Covariates, Regimen, build_course

    rng = np.random.default_rng(seed)
    cov = Covariates(weight_kg=rng.uniform(50, 100, n), tumour_baseline_cells=10 ** rng.uniform(9.5, 11.5, n))
    over = {
        "k_prolif_per_day": np.clip(0.94 * np.exp(rng.normal(0, 0.3, n)), 0, 10),
        "gamma_kill_per_day": np.clip(1.15 * np.exp(rng.normal(0, 0.3, n)), 0, 20),
    }
    model, params, y0, schedule, _ = build_course(Regimen("axi-cel", "lbcl"), cov, over)
    return model, params.broadcast(n), y0, schedule


def _take(n_take: int, model, params, y0, schedule):
    from cartwin.engine.events import Dose

    idx = np.arange(n_take)
    doses = [Dose(d.time_day, d.state, np.broadcast_to(np.asarray(d.amount, float), (y0.shape[1],))[idx], d.label)
             for d in schedule.doses]
    return params.take(idx), y0[:, idx].copy(), Schedule(doses)


def run_engine(solver, model, params, y0, schedule, days: float = 365.0, rtol: float = 1e-6):
    from cartwin.therapy.course import DEFAULT_ATOL

    return simulate(model, params, y0=y0, t0=-5.0, solver=solver, saveat=SaveAt((0.0, *CHECK_DAYS)),
                    controller=StepController(rtol=rtol, atol=DEFAULT_ATOL), schedule=schedule,
                    decisions=DecisionPoints(every_days=1.0, start_day=-5.0))


def run_roadrunner(model, params, y0, schedule, days: float = 365.0, rtol: float = 1e-6):
    """Per-patient libRoadRunner (CVODE) loop on SBML generated from ``model.rhs``."""
    import roadrunner

    from cartwin.engine.control import StepController
    from cartwin.engine.sbml import model_sbml
    from cartwin.therapy.course import DEFAULT_ATOL

    rr = roadrunner.RoadRunner(model_sbml(model))
    rr.integrator.relative_tolerance = rtol
    atol = StepController(atol=DEFAULT_ATOL).atol_vector(model.state_names())
    rr.integrator.absolute_tolerance = float(atol.min())
    rr.timeCourseSelections = ["time"]
    names = model.state_names()
    extinction = [(s.name, s.extinction_below) for s in model.states if s.extinction_below is not None]
    n = y0.shape[1]
    decision = np.arange(-5.0, days + 1e-9, 1.0)
    bounds = np.unique(np.concatenate([decision, schedule.times(), CHECK_DAYS]))
    save = {d: k for k, d in enumerate(CHECK_DAYS)}
    out = np.full((n, len(CHECK_DAYS), len(names)), np.nan)
    pvals = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in params.items()}
    doses = {}
    for d in schedule.doses:
        doses.setdefault(float(d.time_day), []).append((d.state, np.broadcast_to(np.asarray(d.amount, float), (n,))))
    for i in range(n):
        rr.resetAll()
        for k, v in pvals.items():
            rr[k] = float(v[i])
        for s, v in zip(names, y0[:, i], strict=True):
            rr[s] = float(v)
        for state, amount in doses.get(float(bounds[0]), ()):
            rr[state] = rr[state] + float(amount[i])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            rr.simulate(float(a), float(b), 2)
            for s, floor in extinction:
                if rr[s] < floor:
                    rr[s] = 0.0
            for state, amount in doses.get(float(b), ()):
                rr[state] = rr[state] + float(amount[i])
            if float(b) in save:
                out[i, save[float(b)]] = [rr[s] for s in names]
    return out


def _error(ys: np.ndarray, ref: np.ndarray) -> float:
    present = np.abs(ref) > FLOOR
    rel = np.abs(ys - ref)[present] / np.abs(ref)[present]
    absent_ok = np.all(np.abs(ys[~present]) <= 10 * FLOOR)
    return float(rel.max()) if absent_ok else float("inf")


def run_benchmark(n_slow: int = 200, n_fast: int = 20_000, threads: int = 2, engines=("lsoda", "numpy", "numba", "roadrunner"),
                  n_check: int = 3, seed: int = 1, days: float = 365.0, progress=None) -> list[Row]:
    """Measure each engine in this process; ratios are against the LSODA loop of this run."""
    say = progress or (lambda msg: None)
    n_max = max(n_slow, n_fast if ("numba" in engines or "numpy" in engines) else 0, n_check)
    model, params, y0, schedule = cohort(n_max, seed)

    say(f"reference: scipy Radau rtol 1e-10 on {n_check} patients")
    p_c, y_c, s_c = _take(n_check, model, params, y0, schedule)
    ref = run_engine(ScipyReference(), model, p_c, y_c, s_c, days, rtol=1e-10).ys[:, 1:, :]

    rows: list[Row] = []
    for engine in engines:
        n = n_fast if engine in ("numba", "numpy") else n_slow
        if engine == "numpy":
            n = min(n_fast, max(n_slow, 2000))
        say(f"{engine}: {n} patients")
        if engine == "roadrunner":
            try:
                import roadrunner  # noqa: F401
            except ModuleNotFoundError:
                rows.append(Row(engine, 0, 0.0, float("nan"), note="libroadrunner not installed"))
                continue
        p_n, y_n, s_n = _take(n, model, params, y0, schedule)
        if engine == "roadrunner":
            try:
                run_roadrunner(model, p_c, y_c, s_c, days)  # load/compile the SBML model once
                t = time.perf_counter()
                run_roadrunner(model, p_n, y_n, s_n, days)
                seconds = time.perf_counter() - t
                err = _error(run_roadrunner(model, p_c, y_c, s_c, days), ref)
            except RuntimeError as exc:
                rows.append(Row(engine, 0, 0.0, float("nan"), note=f"failed: {str(exc)[:60]}"))
                continue
            rows.append(Row(engine, n, seconds, n / seconds, max_rel_error=err,
                            note="CVODE, SBML from the same rhs, scalar atol = smallest state atol"))
            continue
        solver = {"lsoda": ScipyReference(method="LSODA"), "numpy": Rosenbrock4()}.get(engine)
        if engine == "numba":
            from cartwin.engine.compiled import NumbaRosenbrock

            solver = NumbaRosenbrock(threads=threads)
            run_engine(solver, model, p_c, y_c, s_c, 10.0)  # compile (or load the cache) first
        t = time.perf_counter()
        sol = run_engine(solver, model, p_n, y_n, s_n, days)
        seconds = time.perf_counter() - t
        err = _error(sol.ys[:n_check, 1:, :], ref)
        note = f"{threads} threads" if engine == "numba" else ""
        if (sol.status != 0).any():
            note += f" {(sol.status != 0).sum()} failed"
        rows.append(Row(engine, n, seconds, n / seconds, max_rel_error=err, note=note.strip()))
    base = next((r.patients_per_s for r in rows if r.engine == "lsoda"), None)
    for r in rows:
        if base and np.isfinite(r.patients_per_s):
            r.ratio_vs_lsoda = r.patients_per_s / base
    return rows


def machine() -> dict:
    import os

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version()}


def as_dicts(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
