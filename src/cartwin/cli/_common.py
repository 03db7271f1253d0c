"""Shared CLI plumbing: one error style (the option as typed, the accepted range, exit code 2),
one table of option ranges used by every command, and tables that print as plain TSV (or CSV,
JSON) when stdout is not a terminal, so that piped output never wraps or cuts a cell."""

from __future__ import annotations

import contextlib
import sys
import warnings

import typer
from rich.console import Console
from rich.markup import escape

from cartwin.foundation.constraints import Interval, OneOf, check
from cartwin.foundation.errors import CartwinError, CartwinWarning, ValidationError

console = Console()
err_console = Console(stderr=True)

#: Accepted range of every numeric option, by the option's name as typed. One table, so an
#: option has the same range in every command it appears in (``--rtol``: simulate and trial).
#: (``cartwin journey`` checks its network options against the journey's own constraint table.)
OPTION_RANGES = {
    "--n": Interval(1, 1e8, integer=True),
    "--seed": Interval(0, 2**63 - 1, integer=True),
    "--replicates": Interval(1, 1000, integer=True),
    "--follow-up-days": Interval(28.0, 3650.0),
    "--days": Interval(1.0, 3650.0),
    "--rtol": Interval(1e-10, 1e-2),
    "--weight-kg": Interval(2.0, 400.0),
    "--height-cm": Interval(40.0, 250.0),
    "--tumour-cells": Interval(0.0, 1e13),
    "--antigen-negative-fraction": Interval(0.0, 1.0),
    "--shard-size": Interval(1, 10**7, integer=True),
    "--workers": Interval(1, 1024, integer=True),
    "--base-samples": Interval(1, 4096, integer=True),
    "--n-slow": Interval(0, 10**6, integer=True),
    "--n-fast": Interval(0, 10**7, integer=True),
    "--n-check": Interval(1, 1000, integer=True),
    "--threads": Interval(1, 1024, integer=True),
    "--page-size": Interval(1, 1000, integer=True),
    "--max-pages": Interval(1, 10**6, integer=True),
    "--timeout": Interval(0.0, 600.0, low_open=True),
    "--since-year": Interval(1900, 2200, integer=True),
    "--limit": Interval(1, 10**7, integer=True),
    "--top": Interval(1, 10**4, integer=True),
}

#: Output formats of tables: ``rich`` on a terminal, ``tsv`` otherwise (see :func:`print_table`).
TABLE_FORMATS = ("rich", "tsv", "csv", "json")
_state = {"format": None}


def check_options(**values) -> None:
    """Check each given option (Python name, e.g. ``weight_kg``) against :data:`OPTION_RANGES`;
    ``None`` (not given) is skipped. The error names ``--weight-kg`` and its range."""
    for name, value in values.items():
        if value is None:
            continue
        option = "--" + name.replace("_", "-")
        check(option, value, OPTION_RANGES[option])


def set_table_format(fmt: str | None) -> None:
    if fmt is not None:
        check("--format", fmt, OneOf(TABLE_FORMATS))
    _state["format"] = fmt


def table_format() -> str:
    """The format tables print in: ``--format`` if given, else rich on a terminal, else TSV."""
    return _state["format"] or ("rich" if console.is_terminal else "tsv")


def _plain(cell) -> str:
    from rich.text import Text

    if isinstance(cell, Text):
        return cell.plain
    text = str(cell)
    try:
        return Text.from_markup(text).plain
    except Exception:  # noqa: BLE001 - not markup: the text as it is
        return text


def print_table(table, to=None) -> None:
    """Print a Rich ``Table``: as it is on a terminal, else as TSV/CSV (title as a ``#`` line
    first) or JSON records, cells never wrapped or cut."""
    fmt = table_format()
    out = to or console
    if fmt == "rich":
        out.print(table)
        return
    import csv
    import io
    import json

    headers = [_plain(c.header) or f"column{i + 1}" for i, c in enumerate(table.columns)]
    rows = [[_plain(cell) for cell in cells] for cells in zip(*(c._cells for c in table.columns), strict=False)]
    stream = sys.stderr if out is err_console else sys.stdout
    if fmt == "json":
        stream.write(json.dumps({"title": _plain(table.title or ""), "rows": [dict(zip(headers, r, strict=False)) for r in rows]},
                                indent=1) + "\n")
        return
    if table.title:
        stream.write(f"# {_plain(table.title)}\n")
    if fmt == "tsv":
        lines = ["\t".join(c.replace("\t", " ").replace("\n", " ") for c in r) for r in ([headers] if table.show_header else []) + rows]
        stream.write("\n".join(lines) + "\n")
    else:
        buf = io.StringIO()
        writer = csv.writer(buf)
        if table.show_header:
            writer.writerow(headers)
        writer.writerows(rows)
        stream.write(buf.getvalue())
    stream.flush()


@contextlib.contextmanager
def user_errors(renames: dict[str, str] | None = None):
    """Print CartwinError (bad option, bad file) as one red line and exit with code 2.

    ``renames`` maps a library field (``policy.weight_kg``) to the option the user typed
    (``--weight-kg``) for an error raised below the CLI; the option is named, not the field.

    The line is not wrapped at the terminal width (a long path would split the row and column
    it names) and brackets in the message are printed, not read as Rich markup."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CartwinWarning):
            err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    except ValidationError as exc:
        field = renames.get(exc.field.split("[", 1)[0], exc.field) if renames else exc.field
        shown = ValidationError(field, exc.expected, exc.received, exc.hint) if field != exc.field else exc
        err_console.print(f"[bold red]error:[/] {escape(str(shown))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except CartwinError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except OSError as exc:
        message = f"{exc.strerror or exc}: {getattr(exc, 'filename', '')}"
        err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    finally:
        warnings.showwarning = previous


def is_interactive() -> bool:
    return sys.stderr.isatty()
