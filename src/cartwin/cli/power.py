"""``cartwin power``: power and HR distribution of a randomised protocol by sample size."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import check_options, console, print_table, user_errors


def register(app: typer.Typer) -> None:
    app.command("power")(power)


def power(
    protocol: str = typer.Argument(..., help="Randomised preset (e.g. zuma-7) or a protocol file with [arms]."),
    n: str = typer.Option("100:600:50", "--n", help="Total sample sizes: START:STOP:STEP or a comma-separated list."),
    replicates: int = typer.Option(200, help="Virtual trials per sample size."),
    hr_target: float = typer.Option(None, "--hr-target", help="Design HR: Schoenfeld's power is computed at it, and the share of trials with an HR below it is reported."),
    endpoint: str = typer.Option(None, help="efs, pfs or os (default: the protocol's primary endpoint)."),
    seed: int = typer.Option(1, help="Root seed."),
    pool_size: int = typer.Option(None, "--pool-size", help="Simulated CAR-T-arm patients that replicates draw from (default: twice the largest arm, at least 200)."),
    follow_up_days: float = typer.Option(None, help="Simulated follow-up (default: the protocol's, at most 730 days)."),
    engine: str = typer.Option("auto", help="Engine of the CAR-T arm (auto, numpy, numba, numba-generated)."),
    out: Path = typer.Option(None, help="Write power.csv (per size) and power_trials.csv (per trial) in this directory."),
) -> None:
    """Power and the distribution of the hazard ratio by sample size (docs/comparative.md)."""
    from cartwin.engine.choice import resolve_solver
    from cartwin.foundation.results import check_writable
    from cartwin.trial.power import parse_n_values, power_analysis

    with user_errors({"n": "--n", "hr_target": "--hr-target", "pool_size": "--pool-size", "endpoint": "--endpoint",
                      "replicates": "--replicates", "follow_up_days": "--follow-up-days"}):
        values = parse_n_values(n)
        check_options(seed=seed, follow_up_days=follow_up_days)
        from cartwin.foundation.constraints import Interval, check

        check("--replicates", replicates, Interval(1, 100000, integer=True))
        solver = resolve_solver(engine, field="--engine", objects=False)
        if out is not None:
            check_writable(out, "--out")
        with console.status(f"{len(values)} sizes x {replicates} replicates..."):
            summary, trials = power_analysis(protocol, values, replicates, seed, hr_target=hr_target, endpoint=endpoint,
                                             follow_up_days=follow_up_days, pool_size=pool_size, solver=solver)
        if out is not None:
            summary.to_csv(Path(out) / "power.csv", index=False)
            trials.to_csv(Path(out) / "power_trials.csv", index=False)
    t = Table(title=f"power by sample size ({summary['endpoint'].iloc[0].upper()}, {replicates} replicates; simulated prediction)")
    cols = ["n", "power", "schoenfeld_power", "events_mean", "hr_median", "hr_p2_5", "hr_p97_5"]
    if hr_target is not None:
        cols.append("p_hr_below_target")
    for c in cols:
        t.add_column(c)
    for row in summary.itertuples(index=False):
        t.add_row(*[str(getattr(row, c)) if c == "n" else f"{getattr(row, c):.3f}" for c in cols])
    print_table(t)
