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
    delay_days: str = typer.Option(None, "--delay-days", help="Sensitivity of the HR instead of power: extra days of waiting "
                                   "(and bridging) before lymphodepletion in the CAR-T arm, comma-separated (e.g. 0,14,28)."),
    manufacturing_lines: str = typer.Option(None, "--manufacturing-lines", help="Sensitivity of the HR instead of power: parallel "
                                            "manufacturing lines the CAR-T arm shares, comma-separated, 'unlimited' allowed (e.g. unlimited,4,2)."),
) -> None:
    """Power and the distribution of the hazard ratio by sample size (docs/comparative.md).

    With --delay-days or --manufacturing-lines: the HR's sensitivity to the CAR-T arm's logistics
    at one sample size (--n), over --replicates seeds (sensitivity.csv with --out)."""
    from cartwin.engine.choice import resolve_solver
    from cartwin.foundation.results import check_writable
    from cartwin.trial.power import parse_n_values, power_analysis

    if delay_days is not None or manufacturing_lines is not None:
        return _sensitivity(protocol, n, replicates, delay_days, manufacturing_lines, endpoint, seed, follow_up_days, engine, out)
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


def _parse_list(text: str | None, option: str, unlimited: bool) -> list:
    """``"0,14,28"`` -> [0.0, 14.0, 28.0]; with ``unlimited``, integers or the word 'unlimited' (None)."""
    from cartwin.foundation.errors import ValidationError

    if text is None:
        return [None] if unlimited else [0.0]
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            if unlimited:
                out.append(None if part == "unlimited" else int(part))
                if out[-1] is not None and out[-1] < 1:
                    raise ValueError
            else:
                out.append(float(part))
                if not 0.0 <= out[-1] <= 365.0:
                    raise ValueError
        except ValueError:
            expected = "comma-separated integers >= 1 or 'unlimited'" if unlimited else "comma-separated days from 0 to 365"
            raise ValidationError(option, expected, text) from None
    if not out or len(out) > 20:
        raise ValidationError(option, "1 to 20 values", text)
    return out


def _sensitivity(protocol, n, replicates, delay_days, manufacturing_lines, endpoint, seed, follow_up_days, engine, out) -> None:
    from cartwin.engine.choice import resolve_solver
    from cartwin.foundation.constraints import Interval, check
    from cartwin.foundation.errors import ValidationError
    from cartwin.foundation.results import check_writable
    from cartwin.trial.power import hr_sensitivity

    with user_errors({"n": "--n", "endpoint": "--endpoint", "follow_up_days": "--follow-up-days", "seeds": "--replicates"}):
        try:
            size = int(n)
        except ValueError:
            raise ValidationError("--n", "one total sample size with --delay-days/--manufacturing-lines", n) from None
        check("--n", size, Interval(2, 1e6, integer=True))
        check("--replicates", replicates, Interval(1, 1000, integer=True))
        check_options(seed=seed, follow_up_days=follow_up_days)
        delays = _parse_list(delay_days, "--delay-days", unlimited=False)
        lines = _parse_list(manufacturing_lines, "--manufacturing-lines", unlimited=True)
        solver = resolve_solver(engine, field="--engine", objects=False)
        if out is not None:
            check_writable(out, "--out")
        with console.status(f"{len(delays) * len(lines)} scenarios x {replicates} seeds..."):
            summary, runs = hr_sensitivity(protocol, size, range(seed, seed + replicates), delays=delays, manufacturing_lines=lines,
                                           endpoint=endpoint, follow_up_days=follow_up_days, solver=solver)
        if out is not None:
            summary.to_csv(Path(out) / "sensitivity.csv", index=False)
            runs.to_csv(Path(out) / "sensitivity_runs.csv", index=False)
    t = Table(title=f"HR sensitivity to the CAR-T arm's logistics ({summary['endpoint'].iloc[0].upper()}, n {size}, "
                    f"{replicates} seeds; simulated prediction)")
    cols = ["extra_delay_days", "manufacturing_lines", "hr_mean", "hr_p2_5", "hr_p97_5", "infused_share", "enrolment_to_infusion_median_day"]
    for c in cols:
        t.add_column(c)
    for row in summary.itertuples(index=False):
        t.add_row(*[str(v) if isinstance(v := getattr(row, c), str) else f"{v:.3f}" for c in cols])
    print_table(t)
