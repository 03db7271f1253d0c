"""``cartwin trial``, ``cartwin sensitivity`` and ``cartwin demo`` (``cartwin calibrate``: cli/calibrate.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cartwin.cli._common import check_options, console, print_table, user_errors
from cartwin.engine.choice import DEFAULT_RTOL


def register(app: typer.Typer) -> None:
    app.command("trial")(trial)
    app.command("sensitivity")(sensitivity)
    app.registered_commands[:] = [c for c in app.registered_commands if c.name != "demo"]
    app.command("demo")(demo)


def _solver(engine: str):
    from cartwin.engine.choice import resolve_solver

    return resolve_solver(engine, field="--engine", objects=False)


def _print_endpoints(result) -> None:
    from cartwin.trial.endpoints import ENDPOINTS
    from cartwin.trial.report import _fmt, format_entry

    table = Table(title=f"{result.protocol.name}: simulated endpoints (infused set, 95% CI)")
    for col in ("endpoint", "simulated", "published"):
        table.add_column(col, justify="right" if col != "endpoint" else "left")
    criteria = result.protocol.assessment.criteria
    for name in ("enrolled", "infused", "orr", "cr_rate", "mrd_neg_rate", "crs_any", "crs_grade3plus", "icans_any",
                 "icans_grade3plus", "tocilizumab_rate", "pfs_12m", "os_12m", "pfs_median_month", "cmax_median", "tmax_median_day"):
        entry = (result.endpoints["itt"] if name in ("enrolled", "infused") else result.endpoints["infused"]).get(name)
        text = format_entry(name, entry, criteria)
        target = result.protocol.targets.get(name)
        table.add_row(name, text, _fmt(target.value, ENDPOINTS[name].unit) if target is not None else "")
    print_table(table)


def trial(
    protocol: str = typer.Argument(..., help="Trial preset (listed by `cartwin presets`) or a TOML/YAML protocol file."),
    n: int = typer.Option(None, help="Patients enrolled (default: the protocol's n_enrolled)."),
    seed: int = typer.Option(1, help="Root seed: the same seed gives the same trial."),
    out: Path = typer.Option(Path("trial-output"), help="Output directory."),
    replicates: int = typer.Option(1, help="Independent replicate trials (trial-to-trial spread)."),
    follow_up_days: float = typer.Option(None, help="Simulated follow-up (default: the protocol's, at most 730 days)."),
    engine: str = typer.Option("auto", help="auto (numba-generated if numba is installed, else numpy), numba-generated (the compiled engine, the rhs's parameter expressions computed once per patient), numba (the rhs as written: what the calibrations were fitted with; the same calibration endpoints, ~1.1x slower), numpy, or the engine a result records (e.g. rodas5p-numba)."),
    workers: int = typer.Option(None, help="Run shards on a local Dask cluster with this many workers."),
    scheduler: str = typer.Option(None, help="Dask scheduler address (e.g. tcp://host:8786) instead of a local cluster."),
    resume: bool = typer.Option(False, "--resume", help="Continue a stopped sharded run in --out without redoing finished shards."),
    shard_size: int = typer.Option(512, help="Patients per shard when sharding."),
    rtol: float = typer.Option(DEFAULT_RTOL, help="Engine relative tolerance (the calibration is fitted at the default, 1e-3; docs/performance.md)."),
    population: Path = typer.Option(None, "--population", help="A fitted population: the population.json of `cartwin fit --population --out DIR`, or DIR. Its parameters are drawn from the fitted distribution; every other parameter keeps the protocol's (docs/fitting.md)."),
    population_parameters: str = typer.Option(None, "--population-parameters", help="Comma-separated fitted parameters to use (default: all; a fit of another model must name only mapped ones)."),
    parameter_uncertainty: int = typer.Option(0, "--parameter-uncertainty", help="Also run the trial with this many bootstrap draws of the calibrated parameters (same patients) and write endpoint intervals that include parameter uncertainty (parameter_uncertainty.csv)."),
) -> None:
    """Run a virtual trial: enrolment, journey, infusion, dynamics, clinic, assessments, report."""
    from cartwin.foundation.results import atomic_write_text, check_writable
    from cartwin.trial.protocol import load_protocol
    from cartwin.trial.runner import ShardOptions, run_replicates, run_trial

    with user_errors({"population": "--population", "population_parameters": "--population-parameters"}):
        check_options(n=n, seed=seed, replicates=replicates, follow_up_days=follow_up_days, workers=workers,
                      shard_size=shard_size, rtol=rtol)
        use = None if population_parameters is None else [t.strip() for t in population_parameters.split(",") if t.strip()]
        fitted = {"population": population, "population_parameters": use}
        proto = load_protocol(protocol)
        solver = _solver(engine)
        check_writable(out, "--out")  # before any work: a read-only --out is found now, not after the trial
        if proto.is_randomised:
            _refuse_for_randomised(replicates=replicates > 1, workers=workers is not None, scheduler=scheduler is not None,
                                   resume=resume, population=population is not None,
                                   population_parameters=population_parameters is not None,
                                   parameter_uncertainty=bool(parameter_uncertainty))
            _comparative(proto, n, seed, out, follow_up_days, solver, rtol)
            return
        sharded = workers is not None or scheduler is not None or resume
        options = None
        if sharded:
            options = ShardOptions(out_dir=str(out / "shards"), shard_size=shard_size,
                                   scheduler=scheduler or ("local" if workers else None), workers=workers, resume=resume)
        if parameter_uncertainty and (replicates > 1 or sharded):
            from cartwin.foundation.errors import ValidationError

            raise ValidationError("--parameter-uncertainty", "0 with --replicates, --workers, --scheduler or --resume",
                                  parameter_uncertainty)
        if replicates > 1:
            if sharded:
                from cartwin.foundation.errors import ValidationError

                raise ValidationError("--replicates", "1 with --workers, --scheduler or --resume (replicates run in this process)",
                                      replicates)
            results, spread = run_replicates(proto, n, seed, replicates, follow_up_days=follow_up_days, solver=solver,
                                             rtol=rtol, **fitted)
            result = results[0]
        else:
            total = n or proto.trial.n_enrolled
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=True) as bar:
                task = bar.add_task(f"{proto.name}: infused patients", total=total)
                result = run_trial(proto, n, seed, follow_up_days=follow_up_days, solver=solver, shards=options,
                                   progress=lambda k: bar.advance(task, k), rtol=rtol, **fitted)
            spread = None
        uncertainty = None
        if parameter_uncertainty:
            from cartwin.trial.runner import run_parameter_uncertainty

            with console.status(f"{proto.name}: {parameter_uncertainty} parameter draws..."):
                uncertainty = run_parameter_uncertainty(proto, n, seed, parameter_uncertainty, follow_up_days=follow_up_days,
                                                        solver=solver, rtol=rtol)
        paths = result.write(out)
        if uncertainty is not None:
            uncertainty.to_csv(out / "parameter_uncertainty.csv", index=False)
            paths["parameter_uncertainty"] = out / "parameter_uncertainty.csv"
        if spread is not None:
            import json

            paths["replicates"] = atomic_write_text(out / "replicates.json", json.dumps(spread, indent=2, default=str) + "\n")
    _print_endpoints(result)
    if uncertainty is not None:
        table = Table(title=f"{result.protocol.name}: with parameter uncertainty ({parameter_uncertainty} draws)")
        for col in ("endpoint", "estimate", "sampling 95% CI", "parameter 95% range", "total 95% interval"):
            table.add_column(col)
        for row in uncertainty.itertuples(index=False):
            table.add_row(row.endpoint, f"{row.estimate:.3g}", f"{row.ci_low:.3g}–{row.ci_high:.3g}",
                          f"{row.parameter_p2_5:.3g}–{row.parameter_p97_5:.3g}", f"{row.total_ci_low:.3g}–{row.total_ci_high:.3g}")
        print_table(table)
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


def _refuse_for_randomised(**given: bool) -> None:
    from cartwin.foundation.errors import ValidationError

    for name, used in given.items():
        if used:
            option = "--" + name.replace("_", "-")
            raise ValidationError(option, f"not given for a randomised protocol ({option} runs single-arm trials; "
                                  "use `cartwin power` for replicate randomised trials)", "given")


def _comparative(proto, n, seed, out, follow_up_days, solver, rtol) -> None:
    """A randomised protocol: both arms, HR with CI, per-arm endpoints and the report."""
    from cartwin.trial.comparative import KINDS, PREDICTION_NOTE, run_comparative, toxicity_by_arm
    from cartwin.trial.comparative_report import format_rate

    total = n or proto.trial.n_enrolled
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"{proto.name}: infused CAR-T-arm patients", total=total)
        result = run_comparative(proto, n, seed, follow_up_days=follow_up_days, solver=solver, rtol=rtol,
                                 progress=lambda k: bar.advance(task, k))
    paths = result.write(out)
    e = result.endpoints

    def f(v, d=2):
        return "—" if v is None else f"{v:.{d}f}"

    table = Table(title=f"{proto.name}: hazard ratios (simulated prediction, {e['n_randomised']} randomised)")
    for col in ("comparison", "endpoint", "HR", "95% CI", "log-rank p", "events"):
        table.add_column(col)
    for name, comp in e["comparisons"].items():
        for kind in KINDS:
            h = comp[kind]
            table.add_row(name, kind.upper() + (" (primary)" if kind == e["primary_endpoint"] else ""), f(h["hr"]),
                          f"{f(h['ci_low'])}–{f(h['ci_high'])}", "—" if h["p_logrank"] is None else f"{h['p_logrank']:.3g}",
                          str(h["events"]))
        if (r := comp.get("os_rpsft")) is not None:
            table.add_row(name, f"OS crossover-adjusted (RPSFT, psi {f(r['psi'])})", f(r["hr"]), f"{f(r['ci_low'])}–{f(r['ci_high'])}",
                          "test-based", f"{r['crossed_over']} crossed")
    print_table(table)
    table = Table(title=f"{proto.name}: per arm (ITT, from randomisation)")
    for col in ("arm", "n", "EFS median (mo)", "PFS median (mo)", "OS median (mo)", "OS 24 mo", "ORR", "CR", "infused / crossover"):
        table.add_column(col)
    for name, a in e["arms"].items():
        extra = a.get("infused") or a.get("crossover")
        table.add_row(name, str(a["n"]), f(a["efs"]["median_month"], 1), f(a["pfs"]["median_month"], 1), f(a["os"]["median_month"], 1),
                      f(a["os"].get("at_24m")), f(a["orr"]["estimate"]), f(a["cr_rate"]["estimate"]),
                      "—" if extra is None else f(extra["estimate"]))
    print_table(table)
    arms = e["arms"]
    table = Table(title=f"{proto.name}: toxicity by arm (% with 95% CI; k/n)")
    for col in ("endpoint", *arms):
        table.add_column(col)
    for name, _, by_arm in toxicity_by_arm(arms):  # the report's "Toxicity by arm" rows
        table.add_row(name, *("not modelled" if r is None else format_rate(r) for r in by_arm.values()))
    print_table(table)
    console.print(f"  {PREDICTION_NOTE}; median follow-up {f(e['median_follow_up_month'], 1)} months")
    if (par := e.get("parameters")) is not None:  # cartwin.trial.runner.parameters_record's dict
        factors = ", ".join(f"{k} = {v:.3g}" for k, v in par["factors"].items()) or "none (published typical values)"
        console.print(f"  CAR-T arm's parameters: calibration: {par['calibration']}; factors: {factors}")
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


def sensitivity(
    protocol: str = typer.Argument(..., help="Preset name or protocol file."),
    endpoint: str = typer.Option("crs_grade3plus", help="Endpoint (infused set) whose variance is decomposed."),
    base_samples: int = typer.Option(256, help="Saltelli base samples N, rounded up to a power of two (trials = N * (2D + 2) = 10 N)."),
    n: int = typer.Option(20, help="Patients enrolled per simulated trial (the same patients in every trial)."),
    seed: int = typer.Option(1),
    out: Path = typer.Option(None, help="Write the indices as CSV."),
    engine: str = typer.Option("auto", help="auto, numpy, numba, numba-generated, or the engine a result records (e.g. rodas5p-numba)."),
) -> None:
    """Global Sobol indices of an endpoint over population multipliers, with 95% bootstrap intervals
    (Saltelli design from SALib; Owen first-order and Jansen total estimators)."""
    from cartwin.trial.sensitivity import sobol_indices

    with user_errors({"endpoint": "--endpoint", "base_samples": "--base-samples", "n": "--n"}):
        check_options(base_samples=base_samples, n=n, seed=seed)
        with console.status("running the Saltelli design..."):
            table = sobol_indices(protocol, endpoint, base_samples=base_samples, n=n, seed=seed, solver=_solver(engine))
        if out is not None:
            table.to_csv(out, index=False)
    t = Table(title=f"Sobol indices of {endpoint}")
    for col in table.columns:
        t.add_column(col)
    for row in table.itertuples(index=False):
        t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    print_table(t)


def demo(out: Path = typer.Option(Path("demo-output"), help="Output directory.")) -> None:
    """The demo: a 200-patient virtual ZUMA-1 (axi-cel in LBCL) with its HTML report."""
    # Every option spelled out: called as a function, an omitted one would be its typer.Option.
    trial(protocol="zuma-1", n=200, seed=1, out=out, replicates=1, follow_up_days=365.0, engine="auto",
          workers=None, scheduler=None, resume=False, shard_size=512, rtol=DEFAULT_RTOL,
          population=None, population_parameters=None, parameter_uncertainty=0)
