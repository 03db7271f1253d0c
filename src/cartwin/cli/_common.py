"""Shared CLI plumbing: turn cartwin errors into a clear message and exit code 2."""

from __future__ import annotations

import contextlib
import sys

import typer
from rich.console import Console

from cartwin.foundation.errors import CartwinError

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors():
    """Print CartwinError (bad option, bad file) as one red line and exit with code 2."""
    try:
        yield
    except CartwinError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    except OSError as exc:
        err_console.print(f"[bold red]error:[/] {exc.strerror or exc}: {getattr(exc, 'filename', '')}")
        raise typer.Exit(code=2) from None


def is_interactive() -> bool:
    return sys.stderr.isatty()
