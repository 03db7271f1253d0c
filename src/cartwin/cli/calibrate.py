"""``cartwin calibrate`` (the joint calibration) and ``cartwin validate`` (its predictive checks)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import check_options, console, print_table, user_errors

DESIGN_FILE = "calibration_design.csv"
RECORD_FILE = "calibrated_parameters.json"


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
    app.command("validate")(validate)


def calibrate(
    out: Path = typer.Option(Path("calibration-output"), help=f"Directory for {RECORD_FILE} and the design table {DESIGN_FILE} (a stopped fit resumes from it)."),
    n: int = typer.Option(1000, help="Patients enrolled per simulated trial (every design point)."),
    seed: int = typer.Option(1, help="Seed shared by every design point (common random numbers)."),
    design_points: int = typer.Option(32, help="Latin-hypercube points per trial over the whole parameter box."),
    refine_rounds: int = typer.Option(2, help="Rounds of design points around the current optimum."),
    refine_points: int = typer.Option(12, help="Points per trial and refinement round."),
    bootstrap: int = typer.Option(20, help="Parametric-bootstrap refits (parameter uncertainty)."),
    workers: int = typer.Option(1, help="Processes simulating design points in parallel (the engine already uses every core: 1 is fastest on small machines)."),
    presets: str = typer.Option(None, help="Comma-separated presets to fit (default: every preset with fitted targets)."),
) -> None:
    """Fit one parameter set per product and per indication to every trial preset's targets at once
    (docs/calibration.md). The shipped parameters come from `python scripts/calibrate_joint.py`."""
    from cartwin.calibrate.joint import JointSettings, fit_joint
    from cartwin.foundation.results import atomic_write_text, check_writable

    with user_errors({"design_points": "--design-points", "refine_rounds": "--refine-rounds",
                      "refine_points": "--refine-points"}):
        check_options(n=n, seed=seed, workers=workers)
        for name, value, low in (("--design-points", design_points, 10), ("--refine-rounds", refine_rounds, 0),
                                 ("--refine-points", refine_points, 1), ("--bootstrap", bootstrap, 0)):
            from cartwin.foundation.constraints import Interval, check

            check(name, value, Interval(low, 10_000, integer=True))
        check_writable(out, "--out")
        chosen = None if presets is None else [p.strip() for p in presets.split(",") if p.strip()]
        settings = JointSettings(n=n, seed=seed, initial_points=design_points, refine_rounds=refine_rounds,
                                 refine_points=refine_points, bootstrap=bootstrap)
        with console.status("joint calibration...") as status:
            record = fit_joint(out / DESIGN_FILE, settings, presets=chosen, workers=workers,
                               log=lambda msg: status.update(f"joint calibration: {msg}"))
        path = atomic_write_text(out / RECORD_FILE, json.dumps(record, indent=1) + "\n")
    _print_factors(record)
    console.print(f"objective {record['objective_value']:.2f}; {record['design_points']} design points; "
                  f"{record['seconds']:.0f} s\nwritten: {path}\nnext: cartwin validate --record {path}")


def _print_factors(record) -> None:
    table = Table(title="calibrated factors on the published typical values (95% bootstrap interval)")
    for col in ("product / indication", "parameter", "factor", "95% interval"):
        table.add_column(col)
    for section in ("products", "indications"):
        for key, factors in record[section].items():
            for name, value in factors.items():
                lo, hi = record["intervals_95"][section][key][name]
                table.add_row(key, name, f"{value:.3g}", f"{lo:.3g}–{hi:.3g}")
    print_table(table)


def validate(
    record: Path = typer.Option(None, help=f"A {RECORD_FILE} written by `cartwin calibrate` (default: the shipped one)."),
    design: Path = typer.Option(None, help=f"Its design table (default: {DESIGN_FILE} beside the record)."),
    n: int = typer.Option(2000, help="Patients enrolled per fresh-seed and left-out trial."),
    seed: int = typer.Option(1001, help="Fresh seed (must differ from the fit's)."),
    left_out: bool = typer.Option(True, "--left-out/--no-left-out", help="Also refit without each trial and predict it."),
    workers: int = typer.Option(1, help="Processes simulating trials in parallel (the engine already uses every core)."),
    out: Path = typer.Option(Path("validation.csv"), help="Where to write the table (CSV)."),
) -> None:
    """Predictive validation: every fitted target on fresh seeds and predicted with its trial left out."""
    import pandas as pd

    from cartwin.calibrate.validate import summary
    from cartwin.calibrate.validate import validate as run_validation
    from cartwin.foundation.errors import ValidationError
    from cartwin.model.calibrated import committed_record_path

    with user_errors():
        check_options(n=n, seed=seed, workers=workers)
        record_path = Path(str(committed_record_path())) if record is None else record
        design_path = design or record_path.with_name(DESIGN_FILE)
        for field, path in (("--record", record_path), ("--design", design_path)):
            if not path.is_file():
                raise ValidationError(field, "an existing file written by `cartwin calibrate`", str(path))
        data = json.loads(record_path.read_text())
        if seed == data["settings"]["seed"]:
            raise ValidationError("--seed", f"a seed other than the fit's ({data['settings']['seed']})", seed)
        with console.status("validating: simulating every trial on a fresh seed and with it left out..."):
            table = run_validation(data, pd.read_csv(design_path), n=n, seed=seed, left_out=left_out, workers=workers,
                                   log=lambda msg: None)
        table.to_csv(out, index=False)
    t = Table(title=f"calibration targets: published (95% CI), fitted, fresh seed {seed}, left out")
    for col in ("preset", "endpoint", "published (95% CI)", "fitted", "fresh seed", "left out"):
        t.add_column(col)
    for row in table.itertuples(index=False):
        def cell(v, inside):
            return "—" if v != v else f"{v:.2f}" + ("" if inside else " ✗")
        t.add_row(row.preset, row.endpoint, f"{row.published:.2f} ({row.ci_low:.2f}–{row.ci_high:.2f})",
                  cell(row.fitted, row.fitted_inside), cell(row.fresh_seed, row.fresh_seed_inside),
                  cell(row.left_out, row.left_out_inside))
    print_table(t)
    s = summary(table)
    console.print("inside the published 95% CI: " + ", ".join(f"{k} {v:.0%}" for k, v in s.items() if k != "targets")
                  + f" of {s['targets']} targets\nwritten: {out}")
