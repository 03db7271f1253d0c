"""``cartwin registry``: import, sync, search, stats, show and to-protocol (parse and present only)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cartwin.cli._common import check_options, console, err_console, print_table, user_errors

registry_app = typer.Typer(
    help="The CAR-T trial registry: ClinicalTrials.gov records imported, classified and queried.",
    no_args_is_help=True,
)

DB_OPTION = typer.Option(None, "--db", envvar="CARTWIN_REGISTRY_DB",
                         help="Registry database file (default: registry.duckdb in the user data dir).")


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


def _print_import(report, verbose: bool = False) -> None:
    t = Table(title="Import", show_header=True)
    t.add_column("outcome")
    t.add_column("studies", justify="right")
    for name in ("added", "updated", "unchanged", "older"):
        t.add_row(name if name != "older" else "older (kept as history)", str(len(getattr(report, name))))
    t.add_row("errors", str(len(report.errors)), style="red" if report.errors else None)
    print_table(t)
    shown = report.errors if verbose else report.errors[:MAX_ERRORS_SHOWN]
    for error in shown:
        err_console.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    if len(report.errors) > len(shown):
        from collections import Counter

        kinds = Counter(str(e).split(": ", 1)[-1].split(" (", 1)[0][:80] for e in report.errors)
        summary = "; ".join(f"{n:,} x {k}" for k, n in kinds.most_common(5))
        err_console.print(f"[red]... {len(report.errors) - len(shown):,} more errors[/] ({len(report.errors):,} in all; "
                          f"most common: {escape(summary)}); --verbose prints every one", highlight=False, soft_wrap=True)


#: Errors printed one per line by an import; the rest are summarised (--verbose prints all).
MAX_ERRORS_SHOWN = 20


@registry_app.command("import")
def import_(
    paths: list[Path] = typer.Argument(None, help="Study JSON files, directories, bulk-download zips, API page files."),
    examples: bool = typer.Option(False, "--examples", help="Import the constructed example records shipped with cartwin."),
    verbose: bool = typer.Option(False, "--verbose", help="Print every error (default: the first 20 and a summary)."),
    db: Path = DB_OPTION,
) -> None:
    """Import ClinicalTrials.gov v2 records; a newer version of a study updates it, nothing is lost.

    Exit code 0 when every file imported, 1 when some files had errors (the rest still imported).
    """
    from cartwin.registry import Registry, fixtures_dir, import_paths

    sources = list(paths or [])
    if examples:
        sources.append(fixtures_dir())
    if not sources:
        err_console.print("[bold red]error:[/] give at least one PATH, or --examples")
        raise typer.Exit(code=2)
    with user_errors(), Registry(db) as reg:
        report = import_paths(reg, sources)
        total = reg.count()
        where = reg.path or ":memory:"
    _print_import(report, verbose)
    console.print(f"{total} studies in {where}")
    if report.errors:
        raise typer.Exit(code=1)


@registry_app.command("sync")
def sync(
    query: str = typer.Option("CAR-T", help="Search terms (the API's query.term)."),
    since: str = typer.Option(None, help="Only studies updated on or after this date (YYYY-MM-DD)."),
    status: list[str] = typer.Option(None, help="Overall status filter, e.g. RECRUITING (repeatable)."),
    page_size: int = typer.Option(100, help="Studies per page (1-1000)."),
    max_pages: int = typer.Option(None, help="Stop after this many pages."),
    timeout: float = typer.Option(10.0, help="Seconds to wait for the server before giving up."),
    db: Path = DB_OPTION,
) -> None:
    """Fetch studies from the public ClinicalTrials.gov API v2 (needs the network) and import them."""
    from cartwin.registry import Registry
    from cartwin.registry.sync import sync as run_sync

    # OfflineError is a CartwinError: user_errors turns it into one red line and exit code 2.
    with user_errors():
        check_options(page_size=page_size, max_pages=max_pages, timeout=timeout)
    with user_errors(), Registry(db) as reg:
        with console.status(f"fetching '{query}' from clinicaltrials.gov..."):
            result = run_sync(reg, query=query, since=since, statuses=status or (), page_size=page_size,
                              max_pages=max_pages, timeout=timeout)
    _print_import(result.report)
    console.print(f"{result.pages} page(s) fetched"
                  + (f"; stopped early, next page token {result.next_page_token}" if result.next_page_token else ""))
    if result.report.errors:
        raise typer.Exit(code=1)


@registry_app.command("search")
def search(
    condition: str = typer.Option(None, help="Condition text or disease group (e.g. 'multiple myeloma', LBCL)."),
    phase: str = typer.Option(None, help="Phase: 1, 2, 3, 4, early1 or NA."),
    status: str = typer.Option(None, help="Overall status, e.g. RECRUITING."),
    sponsor: str = typer.Option(None, help="Lead sponsor or collaborator (substring)."),
    target: str = typer.Option(None, help="Target antigen, e.g. CD19, BCMA, GPRC5D, claudin18.2."),
    country: str = typer.Option(None, help="Country with a study site (substring)."),
    cell_therapy: str = typer.Option(None, help="CAR-T, CAR-NK, CAR-NKT, TCR-T, other or none."),
    source: str = typer.Option(None, help="autologous, allogeneic or unknown."),
    since_year: int = typer.Option(None, help="Studies starting in or after this year."),
    limit: int = typer.Option(50, help="Rows to print (files get every row)."),
    csv: Path = typer.Option(None, help="Also write the matches as CSV."),
    parquet: Path = typer.Option(None, help="Also write the matches as Parquet."),
    db: Path = DB_OPTION,
) -> None:
    """Search the registry; prints a table and can write CSV/Parquet."""
    from cartwin.foundation.results import Provenance, write_parquet
    from cartwin.registry import Registry, SearchFilter
    from cartwin.registry import search as run_search

    with user_errors({"phase": "--phase", "status": "--status", "target": "--target", "cell_therapy": "--cell-therapy",
                      "cell_source": "--source", "year_from": "--since-year", "condition": "--condition",
                      "sponsor": "--sponsor", "country": "--country"}):
        check_options(since_year=since_year, limit=limit)
        flt = SearchFilter.create(condition=condition, phase=phase, status=status, sponsor=sponsor,
                                  target=target, country=country, cell_therapy=cell_therapy,
                                  cell_source=source, year_from=since_year)
        with Registry(db, read_only=True) as reg:
            hits = run_search(reg, flt)
        if csv:
            csv.parent.mkdir(parents=True, exist_ok=True)
            _flat(hits).to_csv(csv, index=False)
        if parquet:
            prov = Provenance(model="registry.search", model_version="1", engine="duckdb",
                              extra={k: v for k, v in vars(flt).items() if v is not None})
            write_parquet(hits, parquet, prov)
    t = Table(title=f"{len(hits)} stud{'y' if len(hits) == 1 else 'ies'}", show_lines=False)
    for col in ("NCT ID", "name", "phase", "status", "sponsor", "type", "target", "disease", "n", "start"):
        t.add_column(col, overflow="fold")
    for row in hits.head(limit).itertuples():
        name = row.acronym if isinstance(row.acronym, str) and row.acronym else (row.brief_title or "")[:50]
        t.add_row(row.nct_id, name, row.phase, row.overall_status or "", (row.lead_sponsor or "")[:40],
                  f"{row.cell_therapy} ({row.cell_source})" if row.cell_therapy != "none" else "none",
                  row.target_label or "-", ", ".join(row.disease_groups) or "-",
                  "" if row.enrollment is None or row.enrollment != row.enrollment else str(int(row.enrollment)),
                  "" if row.start_year != row.start_year or row.start_year is None else str(int(row.start_year)))
    print_table(t)
    if len(hits) > limit:
        console.print(f"... {len(hits) - limit} more (raise --limit or write --csv)")
    for path in (csv, parquet):
        if path:
            console.print(f"  wrote {path}")


def _flat(df):
    """Lists joined with '; ' so CSV cells stay one value each."""
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, tuple)) or hasattr(v, "tolist")).any():
            out[col] = out[col].map(lambda v: "; ".join(map(str, list(v))) if v is not None else "")
    return out


@registry_app.command("stats")
def stats(
    figure: Path = typer.Option(None, help="Write bar charts (PNG) of the counts here."),
    csv: Path = typer.Option(None, help="Write the counts (dimension, value, studies) as CSV."),
    top: int = typer.Option(10, help="Rows per dimension to print."),
    db: Path = DB_OPTION,
) -> None:
    """Counts by target, phase, status, start year, country, cell-therapy type and disease."""
    from cartwin.registry import Registry, stats_figure
    from cartwin.registry import stats as run_stats

    with user_errors():
        check_options(top=top)
    with user_errors(), Registry(db, read_only=True) as reg:
        table = run_stats(reg)
        total = reg.count()
        if figure:
            stats_figure(table, figure)
        if csv:
            csv.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(csv, index=False)
    console.print(f"[bold]{total}[/] studies")
    for dim, part in table.groupby("dimension", sort=False):
        t = Table(title=f"by {dim}", show_header=False)
        t.add_column(dim)
        t.add_column("studies", justify="right")
        for row in part.head(top).itertuples():
            t.add_row(str(row.value), str(row.studies))
        print_table(t)
    for path in (figure, csv):
        if path:
            console.print(f"  wrote {path}")


@registry_app.command("show")
def show(nct_id: str = typer.Argument(..., help="NCT ID, e.g. NCT02348216."), db: Path = DB_OPTION) -> None:
    """One study: its fields, classification and stored versions."""
    from cartwin.foundation.errors import DataError
    from cartwin.registry import Registry

    with user_errors(), Registry(db, read_only=True) as reg:
        row = reg.get(nct_id)
        if row is None:
            raise DataError(str(reg.path), f"no study {nct_id} in the registry")
        versions = reg.versions(nct_id)
    t = Table(title=f"{row['nct_id']}  {row['acronym'] or ''}", show_header=False)
    t.add_column("field")
    t.add_column("value", overflow="fold")
    for key in ("brief_title", "overall_status", "phase", "lead_sponsor", "conditions", "interventions",
                "cell_therapy", "cell_source", "product", "target_label", "disease_groups", "disease_category",
                "enrollment", "start_date", "last_update", "countries"):
        value = row[key]
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        t.add_row(key, "" if value is None else str(value))
    t.add_row("versions stored", str(len(versions)))
    print_table(t)


@registry_app.command("to-protocol")
def to_protocol(
    nct_id: str = typer.Argument(..., help="NCT ID of a study in the registry."),
    out: Path = typer.Option(None, help="Protocol file to write (default: <NCT>.toml)."),
    db: Path = DB_OPTION,
) -> None:
    """Draft a virtual-trial protocol (TOML) from a registered design that `cartwin trial FILE`
    runs; every field the record did not state is listed under [assumed]."""
    from cartwin.foundation.errors import DataError
    from cartwin.foundation.results import atomic_write_text
    from cartwin.registry import Registry, parse_study
    from cartwin.registry.protocol import draft_protocol, to_toml
    from cartwin.trial.from_registry import protocol_dict
    from cartwin.trial.protocol import protocol_from_dict

    with user_errors():
        with Registry(db, read_only=True) as reg:
            raw = reg.raw(nct_id)
            if raw is None:
                raise DataError(str(reg.path), f"no study {nct_id} in the registry")
        study = parse_study(raw, nct_id)
        data = protocol_dict(draft_protocol(study))
        protocol_from_dict(data)  # what `cartwin trial` will read: checked before it is written
        header = (f"Virtual-trial protocol drafted by cartwin from ClinicalTrials.gov {study.nct_id}.\n"
                  "Fields under [assumed] were not stated in the registry record; check them before use.\n"
                  f"Run it: cartwin trial {out or Path(f'{study.nct_id}.toml')}")
        path = atomic_write_text(out or Path(f"{study.nct_id}.toml"), to_toml(data, header))
        assumed = data["assumed"]
    console.print(f"wrote {path}")
    if assumed:
        t = Table(title="assumed (not stated in the record)")
        for col in ("field", "why"):
            t.add_column(col, overflow="fold")
        for key, reason in assumed.items():
            t.add_row(key, escape(reason))
        print_table(t)
    else:
        console.print("every field was stated in the record")
