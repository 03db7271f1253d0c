"""``cartwin grade``: grade a bedside-observation CSV (docs/grading.md) on one scale."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer
from rich.table import Table

from cartwin.cli._common import console, err_console, print_table, user_errors

SCALE_HELP = "Grading scale: astct (CRS + ICANS), lee2014, penn or ctcae5 (CRS only; ICANS columns empty)."
LABS_HELP = ("Also grade laboratory values: ctcae5 (CTCAE v5.0 neutrophil, platelet and lymphocyte count decreased, "
             "anaemia, fibrinogen decreased) and the EHA/EBMT ICAHT grade from the neutrophil count.")


def register(app: typer.Typer) -> None:
    app.command("grade")(grade)


def write_csv_atomic(frame, path: Path) -> None:
    """Write ``frame`` as CSV to ``path`` whole or not at all: into a temporary file beside it,
    flushed to disk, then renamed over ``path`` (a full disk leaves the old file, not half a new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _quiet():
            os.unlink(tmp)
        raise


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def _parse_lln(values: list[str] | None) -> dict[str, str]:
    from cartwin.foundation.errors import ValidationError

    out = {}
    for item in values or []:
        if "=" not in item:
            raise ValidationError("--lln", "COLUMN=VALUE, e.g. anc_per_ul=1800 (the lower limit of normal in that column's unit)", item)
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def grade(
    observations: Path = typer.Argument(..., help="Observation CSV (long format, see docs/grading.md)."),
    scale: str = typer.Option("astct", help=SCALE_HELP),
    out: Path = typer.Option(None, help="Write per-patient per-day grades (CSV) here."),
    per_observation: Path = typer.Option(None, help="Also write every observation row with its grades (all input columns kept)."),
    alerts_out: Path = typer.Option(None, "--alerts", help="Also write bedside alerts (fever, new confusion, hypotension, hypoxia) here."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Report rows with bad values and grade the rest (default: stop at the first)."),
    assume_normal: bool = typer.Option(False, "--assume-normal", help="Grade measured inputs that are absent (no column) or empty as normal, instead of stopping / 'not assessable'; every output row then says so."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Accept a file with no gradable rows (e.g. --skip-bad dropping every row) and write empty outputs (default: an error)."),
    labs: str = typer.Option(None, "--labs", help=LABS_HELP),
    labs_out: Path = typer.Option(None, "--labs-out", help="With --labs: write every observation's laboratory grades (CSV) here."),
    icaht_out: Path = typer.Option(None, "--icaht-out", help="With --labs: write each patient's early and late ICAHT grade (CSV) here."),
    lln: list[str] = typer.Option(None, "--lln", help="With --labs: lower limit of normal as COLUMN=VALUE in that column's unit (repeatable), e.g. --lln anc_per_ul=1800."),
) -> None:
    """Grade CRS and ICANS per patient per day; each grade comes with the rule that decided it and
    says whether its inputs were observed ('not assessable' rather than a silent 0)."""
    from cartwin.clinic.grading import SCALES, grade_frame
    from cartwin.clinic.grading.course import alerts, course_summary, daily_grades
    from cartwin.clinic.grading.ctcae_labs import SCALES as LAB_SCALES
    from cartwin.clinic.grading.ctcae_labs import check_lln, grade_labs
    from cartwin.clinic.grading.icaht import icaht
    from cartwin.clinic.grading.schema import read_observations, unknown_columns
    from cartwin.foundation.constraints import OneOf, check
    from cartwin.foundation.errors import ValidationError

    with user_errors():
        check("--scale", scale, OneOf(tuple(SCALES)))
        if labs is not None:
            check("--labs", labs, OneOf(LAB_SCALES))
        elif labs_out is not None or icaht_out is not None or lln:
            raise ValidationError("--labs", "--labs ctcae5 with --labs-out, --icaht-out or --lln", None)
        limits = check_lln(_parse_lln(lln), "--lln")
        obs, bad = read_observations(observations, skip_bad=skip_bad, allow_empty=allow_empty)
        graded = grade_frame(obs, scale, validate=False, source=str(observations), assume_normal=assume_normal)
        daily = daily_grades(graded)
        lab_rows = icaht_rows = None
        if labs is not None:
            lab_rows = grade_labs(obs, limits, source=str(observations))
            if "anc_per_ul" in obs.columns or "anc_per_nl" in obs.columns:
                icaht_rows = icaht(obs, source=str(observations))
            elif icaht_out is not None:
                icaht(obs, source=str(observations))  # raises, naming the column it needs
        # every output is computed before the first is written: a failure leaves none half-done
        outputs = []
        if out is not None:
            outputs.append((daily, out))
        if per_observation is not None:
            full = obs.copy()
            for c in graded.columns:
                if c not in ("patient_id", "time_day"):
                    full[c] = graded[c].to_numpy()
            outputs.append((full, per_observation))
        if alerts_out is not None:
            outputs.append((alerts(obs, validate=False), alerts_out))
        if labs_out is not None:
            outputs.append((lab_rows, labs_out))
        if icaht_out is not None:
            outputs.append((icaht_rows, icaht_out))
        for frame, path in outputs:
            write_csv_atomic(frame, path)

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
    if assume_normal:
        err_console.print("[yellow]note:[/] --assume-normal: absent or empty measured inputs were graded as normal; "
                          "rows where that happened have status 'assumed normal'")
    for syndrome in ("crs", "icans"):
        status = graded[f"{syndrome}_status"]
        k = int(status.isin(["lower bound", "not assessable"]).sum())
        if k:
            err_console.print(f"[yellow]note:[/] {k} observation(s) have a {syndrome.upper()} grade that is a lower bound or "
                              "not assessable (inputs not observed; see the *_status and *_unobserved columns)")

    crs = course_summary(graded, "crs").set_index("patient_id")
    has_icans = SCALES[scale].icans is not None
    icans = course_summary(graded, "icans").set_index("patient_id") if has_icans else None
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

    def worst(row) -> str:
        status = row.get("max_grade_status", "observed")
        if status == "not assessable":
            return "n/a"
        g = str(int(row["max_grade"]))
        return {"lower bound": f">={g}", "assumed normal": f"{g}*"}.get(status, g)

    for pid, row in crs.iterrows():
        cells = [str(pid), worst(row), day(row["onset_day"]), str(row["duration_days"])]
        if icans is not None:
            i = icans.loc[pid]
            cells += [worst(i), day(i["onset_day"]), str(i["duration_days"])]
        table.add_row(*cells)
    print_table(table)
    console.print(">=g: lower bound (inputs not observed); n/a: not assessable; g*: graded with --assume-normal")
    if icaht_rows is not None or lab_rows is not None:
        _print_labs(lab_rows, icaht_rows)
    if out is not None:
        console.print(f"daily grades written to {out}")


def _print_labs(lab_rows, icaht_rows) -> None:
    import pandas as pd

    from cartwin.clinic.grading.ctcae_labs import LAB_TERMS, VERSION

    table = Table(title=f"{VERSION} laboratory grades (worst per patient) and ICAHT")
    table.add_column("patient")
    terms = [t for t in LAB_TERMS if not (lab_rows[f"{t}_status"] == "no column").all()]
    for t in terms:
        table.add_column(LAB_TERMS[t].label, justify="right")
    if icaht_rows is not None:
        table.add_column("early ICAHT", justify="right")
        table.add_column("late ICAHT", justify="right")
        per = icaht_rows.set_index("patient_id")
    for pid, rows in lab_rows.groupby("patient_id", sort=True):
        cells = [str(pid)]
        for t in terms:
            g = pd.to_numeric(rows[f"{t}_grade"], errors="coerce")
            cells.append("-" if g.isna().all() else str(int(g.max())))
        if icaht_rows is not None:
            r = per.loc[pid]
            for k in ("early", "late"):
                g, s = r[f"{k}_icaht_grade"], r[f"{k}_icaht_status"]
                cells.append("n/a" if pd.isna(g) else (f">={int(g)}" if s == "lower bound" else str(int(g))))
        table.add_row(*cells)
    console.print(table)
