"""``cartwin grade``: grade a bedside-observation CSV (docs/grading.md) on one scale."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import console, err_console, print_table, user_errors

SCALE_HELP = "Grading scale: astct (CRS + ICANS), lee2014, penn or ctcae5 (CRS only; ICANS columns empty)."


def register(app: typer.Typer) -> None:
    app.command("grade")(grade)


def grade(
    observations: Path = typer.Argument(..., help="Observation CSV (long format, see docs/grading.md)."),
    scale: str = typer.Option("astct", help=SCALE_HELP),
    out: Path = typer.Option(None, help="Write per-patient per-day grades (CSV) here."),
    per_observation: Path = typer.Option(None, help="Also write every observation row with its grades (all input columns kept)."),
    alerts_out: Path = typer.Option(None, "--alerts", help="Also write bedside alerts (fever, new confusion, hypotension, hypoxia) here."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Report rows with bad values and grade the rest (default: stop at the first)."),
) -> None:
    """Grade CRS and ICANS per patient per day; each grade comes with the rule that decided it."""
    from cartwin.clinic.grading import SCALES, grade_frame
    from cartwin.clinic.grading.course import alerts, course_summary, daily_grades
    from cartwin.clinic.grading.schema import read_observations, unknown_columns
    from cartwin.foundation.constraints import OneOf, check

    with user_errors():
        check("--scale", scale, OneOf(tuple(SCALES)))
        obs, bad = read_observations(observations, skip_bad=skip_bad)
        graded = grade_frame(obs, scale, validate=False)
        daily = daily_grades(graded)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            daily.to_csv(out, index=False)
        if per_observation is not None:
            full = obs.copy()
            for c in ("crs_grade", "crs_rule", "icans_grade", "icans_rule", "scale"):
                full[c] = graded[c].to_numpy()
            per_observation.parent.mkdir(parents=True, exist_ok=True)
            full.to_csv(per_observation, index=False)
        if alerts_out is not None:
            alerts_out.parent.mkdir(parents=True, exist_ok=True)
            alerts(obs, validate=False).to_csv(alerts_out, index=False)

    if len(bad):
        table = Table(title=f"skipped {bad['row'].nunique()} row(s) with bad values", title_style="bold yellow")
        for c in ("row", "column", "value", "expected"):
            table.add_column(c)
        for r in bad.itertuples():
            table.add_row(str(r.row), str(r.column), repr(r.value), str(r.expected))
        print_table(table, to=err_console)
    extra = unknown_columns(obs)
    if extra:
        err_console.print(f"[yellow]note:[/] columns not used for grading (kept): {', '.join(extra)}")

    crs = course_summary(daily, "crs").set_index("patient_id")
    has_icans = SCALES[scale].icans is not None
    icans = course_summary(daily, "icans").set_index("patient_id") if has_icans else None
    table = Table(title=f"{SCALES[scale].version}: {len(crs)} patient(s), {len(obs)} observation(s)")
    table.add_column("patient")
    table.add_column("max CRS", justify="right")
    table.add_column("CRS onset day", justify="right")
    table.add_column("CRS days", justify="right")
    if has_icans:
        table.add_column("max ICANS", justify="right")
        table.add_column("ICANS onset day", justify="right")
        table.add_column("ICANS days", justify="right")

    def day(v) -> str:
        return "-" if v != v else f"{v:g}"

    for pid, row in crs.iterrows():
        cells = [str(pid), str(row["max_grade"]), day(row["onset_day"]), str(row["duration_days"])]
        if icans is not None:
            i = icans.loc[pid]
            cells += [str(i["max_grade"]), day(i["onset_day"]), str(i["duration_days"])]
        table.add_row(*cells)
    print_table(table)
    if out is not None:
        console.print(f"daily grades written to {out}")
