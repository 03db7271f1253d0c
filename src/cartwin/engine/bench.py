"""Engine benchmark: patients per second for the full composite model over one year.

Every engine solves the same cohort (axi-cel in LBCL; weight, tumour burden and two kinetic
parameters vary per patient) from day -5 (lymphodepletion) to day 365 with daily decision
points (each a segment boundary where tumours below one cell are extinguished), rtol 1e-6 and
the course's per-state absolute tolerances. Accuracy is the largest relative error of any state
at days 7, 14, 28, 90 and 365 against scipy Radau at rtol 1e-10 on the first few patients
(states below the negligible floors of the accuracy tests are compared absolutely).

Engines: ``lsoda`` (scipy ``solve_ivp`` LSODA, one patient at a time: the baseline),
``numpy`` (Rosenbrock4, batched), ``numba`` (NumbaRosenbrock, ``threads`` threads: Rodas5P,
exact generated Jacobian, static sparse LU), ``numba-shampine4`` (the same kernel with Shampine's
method, the NumPy engine's and its default before Rodas5P: the in-run baseline for the change of
method), ``numba-baseline`` (Shampine's method with the difference Jacobian and dense LU the
kernel had before those two: the in-run baseline for them),
``roadrunner`` (libRoadRunner CVODE on SBML generated from the same rhs, one patient at a time
in one process, with the same rtol and per-state atol; ``pip install "cartwin[bench]"``, else
reported as not installed). CVODE's BDF error control is local, so at the same tolerances it is
less accurate than the Rosenbrock engines; a second row, ``roadrunner-matched``, tightens its
rtol and atol together until its error is no larger than the compiled engines' in the same
run: the "equal accuracy" comparison. The other direction, ``numba-matched``, loosens the
compiled engine until its error just stays below libRoadRunner's at the benchmark's tolerances.
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


def run_engine(solver, model, params, y0, schedule, days: float = 365.0, rtol: float = 1e-6,
               atol_factor: float = 1.0):
    from cartwin.therapy.course import DEFAULT_ATOL

    atol = {k: v * atol_factor for k, v in DEFAULT_ATOL.items()}
    return simulate(model, params, y0=y0, t0=-5.0, solver=solver, saveat=SaveAt((0.0, *CHECK_DAYS)),
                    controller=StepController(rtol=rtol, atol=atol), schedule=schedule,
                    decisions=DecisionPoints(every_days=1.0, start_day=-5.0))


def load_roadrunner(model, rtol: float = 1e-6, atol_factor: float = 1.0):
    """A libRoadRunner instance for ``model`` (SBML from ``model.rhs``), CVODE set up as the others.

    CVODE (BDF, ``stiff``) gets ``rtol`` and the course's per-state absolute tolerances, times
    ``atol_factor``, as a vector in state-vector order. A *scalar* ``absolute_tolerance`` must
    not be used: libRoadRunner scales a scalar by each state's current value when that is below
    1 (``atol_i = atol * |y_i|``, recomputed from the current values at every restart), so a
    decaying drug pool gets an ever tighter and finally subnormal tolerance (cyclophosphamide
    is ~1e-301 mg by day 291) and CVODE stops with a corrector convergence failure; with the
    vector every engine works to the same error budget.
    """
    import roadrunner

    from cartwin.engine.control import StepController
    from cartwin.engine.sbml import model_sbml
    from cartwin.therapy.course import DEFAULT_ATOL

    rr = roadrunner.RoadRunner(model_sbml(model))
    rr.setIntegrator("cvode")
    integrator = rr.integrator
    integrator.stiff = True
    integrator.relative_tolerance = rtol
    names = model.state_names()
    atol = dict(zip(names, StepController(atol=DEFAULT_ATOL).atol_vector(names), strict=True))
    order = [rr.model.getStateVectorId(i) for i in range(len(names))]
    integrator.absolute_tolerance = [float(atol[s]) * atol_factor for s in order]
    integrator.maximum_num_steps = 100_000
    rr.timeCourseSelections = ["time"]
    return rr


def run_roadrunner(model, params, y0, schedule, days: float = 365.0, rtol: float = 1e-6, atol_factor: float = 1.0,
                   rr=None) -> np.ndarray:
    """Per-patient libRoadRunner (CVODE) loop on SBML generated from ``model.rhs``.

    The same course as ``run_engine``: segments end at the daily decision points (tumours
    below their extinction floor are set to 0), at doses and at check days; non-negative states
    are clipped at segment ends, as the scipy reference does. CVODE is restarted only where the
    state was changed (a dose, an extinction, a clipped value) or at a model breakpoint, and
    otherwise continues with its step size and order, as the Rosenbrock engines keep theirs.
    ``rr``, an instance from ``load_roadrunner``, is used as set up (``rtol`` and
    ``atol_factor`` then do not apply). Returns the states at ``CHECK_DAYS``, shape
    ``(patients, days, states)`` (NaN after ``days``); raises ``RuntimeError`` when CVODE fails.
    """
    rr = load_roadrunner(model, rtol, atol_factor) if rr is None else rr
    names = model.state_names()
    ids = list(rr.model.getGlobalParameterIds())
    idx = np.array([ids.index(s) for s in names], dtype=np.int32)
    nonneg = np.array([s.nonnegative for s in model.states])
    extinction = model.extinction_rules()
    n = y0.shape[1]
    decision = np.arange(-5.0, days + 1e-9, 1.0)
    bounds = np.unique(np.concatenate([decision, schedule.times(), CHECK_DAYS]))
    bounds = bounds[bounds <= days]
    is_decision = set(decision.tolist())
    bp = model.breakpoints(params, n)
    save = {d: k for k, d in enumerate(CHECK_DAYS)}
    out = np.full((n, len(CHECK_DAYS), len(names)), np.nan)
    pvals = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in params.items()}
    doses: dict[float, list] = {}
    for d in schedule.doses:
        amount = np.broadcast_to(np.asarray(d.amount, float), (n,))
        doses.setdefault(float(d.time_day), []).append((model.state_index(d.state), amount))
    for i in range(n):
        rr.resetAll()
        for k, v in pvals.items():
            rr[k] = float(v[i])
        y = y0[:, i].astype(float)
        for state, amount in doses.get(float(bounds[0]), ()):
            y[state] += amount[i]
        cuts, restart_at = bounds, set()
        if bp is not None:
            inside = bp[:, i][(bp[:, i] > bounds[0]) & (bp[:, i] < bounds[-1])]
            cuts, restart_at = np.unique(np.concatenate([bounds, inside])), set(inside.tolist())
        changed = True
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            a, b = float(a), float(b)
            if changed:
                rr.model.setGlobalParameterValues(idx, y)
            rr.oneStep(a, b - a, changed or a in restart_at)
            y = rr.model.getGlobalParameterValues(idx)
            negative = nonneg & (y < 0.0)
            changed = bool(negative.any())
            y[negative] = 0.0
            if b in is_decision:
                for s, floor, zeroed in extinction:
                    if y[s] < floor and any(y[j] != 0.0 for j in zeroed):
                        for j in zeroed:
                            y[j] = 0.0
                        changed = True
            for state, amount in doses.get(b, ()):
                if amount[i] != 0.0:
                    y[state] += amount[i]
                    changed = True
            if b in save:
                out[i, save[b]] = y
    return out


def _error(ys: np.ndarray, ref: np.ndarray) -> float:
    present = np.abs(ref) > FLOOR
    rel = np.abs(ys - ref)[present] / np.abs(ref)[present]
    absent_ok = np.all(np.abs(ys[~present]) <= 10 * FLOOR)
    return float(rel.max()) if absent_ok else float("inf")


#: Tightening ladder for the accuracy-matched libRoadRunner row: rtol and every state's atol
#: divided together by sqrt(10) per rung, from the benchmark's own settings.
MATCH_LADDER = tuple(10 ** (-k / 2) for k in range(9))


def _roadrunner_rows(model, params, y0, schedule, n, check, ref, target, days, say) -> list[Row]:
    """Rows for libRoadRunner: at the benchmark's tolerances, then (when that is less accurate
    than ``target``, the compiled engines' error in this run) at the loosest rung of
    ``MATCH_LADDER`` whose error against the reference is no larger than ``target``."""
    try:
        import roadrunner  # noqa: F401
    except ModuleNotFoundError:
        return [Row("roadrunner", 0, 0.0, float("nan"), note='libroadrunner not installed (pip install "cartwin[bench]")')]
    p_n, y_n, s_n = _take(n, model, params, y0, schedule)

    def check_error(factor: float):
        rr = load_roadrunner(model, 1e-6 * factor, factor)  # SBML compiled here, outside the timing
        return rr, _error(run_roadrunner(model, *check, days, rr=rr), ref)

    def measure(rr, err: float, engine: str, note: str) -> Row:
        t = time.perf_counter()
        run_roadrunner(model, p_n, y_n, s_n, days, rr=rr)
        seconds = time.perf_counter() - t
        return Row(engine, n, seconds, n / seconds, max_rel_error=err, note=note)

    rows: list[Row] = []
    try:
        rows.append(measure(*check_error(1.0), "roadrunner", "CVODE, 1 process, same tolerances"))
        if target is None or rows[0].max_rel_error <= target:
            return rows
        for factor in MATCH_LADDER[1:]:
            rr, err = check_error(factor)
            if err <= target:
                say(f"roadrunner: error <= {target:.1e} from rtol {1e-6 * factor:.1e}")
                rows.append(measure(rr, err, "roadrunner-matched",
                                    f"CVODE, 1 process, rtol {1e-6 * factor:.0e}, atol x {factor:.0e}"))
                break
        else:
            rows.append(Row("roadrunner-matched", 0, 0.0, float("nan"), note=f"error {target:.1e} not reached"))
    except RuntimeError as exc:
        rows.append(Row("roadrunner" if not rows else "roadrunner-matched", 0, 0.0, float("nan"),
                        note=f"failed: {str(exc)[:60]}"))
    return rows


def _numba_solver(engine: str, threads: int):
    from cartwin.engine.compiled import NumbaRosenbrock

    if engine == "numba-baseline":  # the compiled engine before exact Jacobian and sparse LU
        return NumbaRosenbrock(threads=threads, jacobian="differences", sparse_lu=False, method="shampine4")
    if engine == "numba-shampine4":  # the compiled engine before Rodas5P
        return NumbaRosenbrock(threads=threads, method="shampine4")
    if engine == "numba-generated":  # parameter-only expressions of rhs computed once per patient
        return NumbaRosenbrock(threads=threads, rhs="generated")
    return NumbaRosenbrock(threads=threads)


#: Engines ``run_benchmark`` knows (``numba-matched`` comes with ``numba`` and ``roadrunner``).
BENCH_ENGINES = ("lsoda", "numpy", "numba-baseline", "numba-shampine4", "numba", "numba-generated", "roadrunner")
_COMPILED = ("numba", "numba-baseline", "numba-shampine4", "numba-generated")
#: Engines timed on ``n_fast`` patients (the NumPy engine on at most 2,000 of them).
_FAST = ("numba", "numba-generated", "numpy")


def _warm_up(solver, model, params, y0, schedule, n: int) -> None:
    """Compile (or load from the cache) the kernel the timed run will use: with more patients
    than ``2 * chunk`` and several threads that is the parallel kernel, a separate compilation
    from the serial one a few patients use."""
    run_engine(solver, model, *_take(min(n, 4 * max(1, solver.chunk)), model, params, y0, schedule), 2.0)


def _numba_matched_row(model, params, y0, schedule, n, check, ref, target, threads, days, say) -> Row:
    """The compiled engine loosened (rtol and every atol together, by sqrt(10) per rung) to the
    loosest setting whose error is still no larger than ``target`` (libRoadRunner's error at the
    benchmark's tolerances): the other direction of the equal-accuracy comparison."""
    solver = _numba_solver("numba", threads)
    _warm_up(solver, model, params, y0, schedule, n)
    chosen = None
    for k in range(1, 9):
        factor = 10 ** (k / 2)
        err = _error(run_engine(solver, model, *check, days, rtol=1e-6 * factor, atol_factor=factor).ys[:, 1:, :], ref)
        if err > target:
            break
        chosen = (factor, err)
    if chosen is None:
        return Row("numba-matched", 0, 0.0, float("nan"), note=f"no looser setting keeps error <= {target:.1e}")
    factor, err = chosen
    say(f"numba-matched: rtol {1e-6 * factor:.1e}")
    p_n, y_n, s_n = _take(n, model, params, y0, schedule)
    t = time.perf_counter()
    run_engine(solver, model, p_n, y_n, s_n, days, rtol=1e-6 * factor, atol_factor=factor)
    seconds = time.perf_counter() - t
    return Row("numba-matched", n, seconds, n / seconds, max_rel_error=err,
               note=f"{threads} threads, rtol {1e-6 * factor:.0e}, atol x {factor:.0e}")


def roadrunner_installed() -> bool:
    try:
        import roadrunner  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def run_benchmark(n_slow: int = 200, n_fast: int = 20_000, threads: int = 2,
                  engines=BENCH_ENGINES, n_check: int = 3, seed: int = 1, days: float = 365.0,
                  progress=None, on_row=None) -> list[Row]:
    """Measure each engine in this process; ratios are against the LSODA loop of this run.

    ``progress(message)`` hears what is about to run and how long each engine took;
    ``on_row(rows)`` is called with every row so far after each engine (the CLI writes its
    JSON there, so a stopped run keeps what it measured)."""
    unknown = [e for e in engines if e not in BENCH_ENGINES]
    if unknown or not engines:
        from cartwin.foundation.errors import ValidationError

        raise ValidationError("engines", "some of " + ", ".join(BENCH_ENGINES), ",".join(unknown) or "(none)")
    say = progress or (lambda msg: None)
    n_max = max(n_slow, n_fast if {*_FAST, "roadrunner"} & set(engines) else 0, n_check)
    model, params, y0, schedule = cohort(n_max, seed)

    say(f"reference: scipy Radau rtol 1e-10 on {n_check} patients")
    p_c, y_c, s_c = _take(n_check, model, params, y0, schedule)
    ref = run_engine(ScipyReference(), model, p_c, y_c, s_c, days, rtol=1e-10).ys[:, 1:, :]

    rows: list[Row] = []
    # libRoadRunner last: its accuracy-matched row needs the compiled engines' errors.
    for engine in sorted(engines, key=lambda e: e == "roadrunner"):
        n = n_fast if engine in _FAST else n_slow
        if engine in ("numba-baseline", "numba-shampine4"):  # earlier compiled engines: a quarter
            n = max(n_slow, n_fast // 4)
        if engine == "numpy":
            n = min(n_fast, max(n_slow, 2000))
        if engine == "roadrunner":  # ~100 patients/s on one core: n_slow would time only noise
            n = min(n_fast, max(n_slow, 1000))
        if engine == "roadrunner" and not roadrunner_installed():
            say("roadrunner: libroadrunner is not installed, skipped")
            rows.append(Row("roadrunner", 0, 0.0, float("nan"), note='libroadrunner not installed (pip install "cartwin[bench]")'))
            if on_row is not None:
                on_row(rows)
            continue
        say(f"{engine}: {n} patients ...")
        started = time.perf_counter()
        if engine == "roadrunner":
            target = [r.max_rel_error for r in rows if r.engine in ("numba", "numpy") and r.max_rel_error is not None]
            rows += _roadrunner_rows(model, params, y0, schedule, n, (p_c, y_c, s_c), ref,
                                     min(target) if target else None, days, say)
            same = next((r for r in rows if r.engine == "roadrunner" and r.patients), None)
            if "numba" in engines and same is not None and same.max_rel_error is not None:
                rows.append(_numba_matched_row(model, params, y0, schedule, n_fast, (p_c, y_c, s_c), ref,
                                               same.max_rel_error, threads, days, say))
            say(f"roadrunner: done in {time.perf_counter() - started:.0f} s")
            if on_row is not None:
                on_row(rows)
            continue
        p_n, y_n, s_n = _take(n, model, params, y0, schedule)
        solver = {"lsoda": ScipyReference(method="LSODA"), "numpy": Rosenbrock4()}.get(engine)
        if engine in _COMPILED:
            solver = _numba_solver(engine, threads)
            _warm_up(solver, model, params, y0, schedule, n)
        t = time.perf_counter()
        sol = run_engine(solver, model, p_n, y_n, s_n, days)
        seconds = time.perf_counter() - t
        # An engine run on fewer patients than were checked against Radau (--n-slow 2 with the
        # default --n-check 3) is compared on the patients it ran.
        checked = min(n, n_check)
        err = _error(sol.ys[:checked, 1:, :], ref[:checked])
        note = {"numba": f"{threads} threads, Rodas5P, exact Jacobian, sparse LU",
                "numba-generated": f"{threads} threads, as numba, rhs with its parameter expressions hoisted",
                "numba-shampine4": f"{threads} threads, Shampine, exact Jacobian, sparse LU",
                "numba-baseline": f"{threads} threads, Shampine, difference Jacobian, dense LU"}.get(engine, "")
        if (sol.status != 0).any():
            note += f" {(sol.status != 0).sum()} failed"
        rows.append(Row(engine, n, seconds, n / seconds, max_rel_error=err, note=note.strip()))
        say(f"{engine}: {n} patients in {seconds:.1f} s ({n / seconds:,.1f}/s; {time.perf_counter() - started:.0f} s with warm-up)")
        if on_row is not None:
            on_row(rows)
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
