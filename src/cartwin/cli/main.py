"""The ``cartwin`` command: assembles one Typer app from the per-group modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="cartwin",
    help="cartwin: a mechanistic digital twin of CAR-T cell therapy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from cartwin._version import __version__

        typer.echo(f"cartwin {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    format: str = typer.Option(None, "--format", help="Tables as rich, tsv, csv or json (default: rich on a terminal, tsv when piped)."),
) -> None:
    """cartwin: a mechanistic digital twin of CAR-T cell therapy."""
    from cartwin.cli._common import set_table_format, user_errors

    with user_errors():
        set_table_format(format)


def _register() -> None:
    # Each group module exposes `register(app)`; importing them here keeps `import cartwin` light.
    for name in ("simulate", "grade", "journey", "trial", "registry", "bench", "serve", "model", "fit", "calibrate", "power"):
        try:
            module = __import__(f"cartwin.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:  # group not built yet
            if exc.name != f"cartwin.cli.{name}":
                raise
            continue
        module.register(app)


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
