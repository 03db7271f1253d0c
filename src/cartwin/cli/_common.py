"""Shared CLI plumbing: turn cartwin errors into a clear message and exit code 2."""

from __future__ import annotations

import contextlib
import sys
import warnings

import typer
from rich.console import Console
from rich.markup import escape

from cartwin.foundation.errors import CartwinError, CartwinWarning

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors():
    """Print CartwinError (bad option, bad file) as one red line and exit with code 2.

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
