"""The ``cartwin`` command: assembles one Typer app from the per-group modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="cartwin",
    help="cartwin: a mechanistic digital twin of CAR-T cell therapy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each group module exposes `register(app)`; importing them here keeps `import cartwin` light.
    for name in ("simulate", "grade", "journey", "trial", "registry", "bench", "model", "fit"):
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
