"""``cartwin serve``: the browser front-end and REST API (needs the ``web`` extra)."""

from __future__ import annotations

import typer

from cartwin.cli._common import console, err_console


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1, or CARTWIN_WEB_HOST). Binding another "
                                        "address lets others on that network run simulations here."),
    port: int = typer.Option(None, help="Port (default 8000, or CARTWIN_WEB_PORT)."),
    worker: str = typer.Option(None, help="Run jobs in a child 'process' (default) or a 'thread'."),
    registry_db: str = typer.Option(None, "--db", envvar="CARTWIN_REGISTRY_DB",
                                    help="Registry database for /registry (default: the registry's default)."),
) -> None:
    """Serve the patient-journey explainer, the trial explorer, bedside grading, the registry and
    the REST API (/api/v1, schema at /docs) in the browser. Limits: CARTWIN_WEB_* (docs/web.md)."""
    try:
        import uvicorn
        from pydantic import ValidationError as SettingsError

        from cartwin.web import create_app
        from cartwin.web.settings import WebSettings
    except ModuleNotFoundError as exc:
        err_console.print(f"[bold red]error:[/] cartwin serve needs {exc.name}: pip install 'cartwin[web]'")
        raise typer.Exit(code=2) from None
    overrides = {k: v for k, v in {"host": host, "port": port, "worker": worker, "registry_db": registry_db}.items()
                 if v is not None}
    try:
        settings = WebSettings(**overrides)
    except SettingsError as exc:
        first = exc.errors()[0]
        name = "--" + "-".join(str(p) for p in first["loc"]).replace("_", "-")
        err_console.print(f"[bold red]error:[/] {name}: {first['msg']}")
        raise typer.Exit(code=2) from None
    console.print(f"cartwin serve: http://{settings.host}:{settings.port}/  (API: /api/v1, docs: /docs; Ctrl-C stops)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
