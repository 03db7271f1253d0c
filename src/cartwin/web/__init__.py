"""``cartwin serve``: the browser front-end (pages and a REST API) over the library's functions.

A thin layer, like the CLI: every page and route parses its input, calls the same library
function the CLI calls (:func:`cartwin.therapy.simulate_course`, :func:`cartwin.trial.runner.run_trial`,
:func:`cartwin.clinic.grading.grade_frame`, :func:`cartwin.registry.search`, ...) and presents
the result. Needs the ``web`` extra (FastAPI, uvicorn, pydantic-settings, Jinja2, plotly).
See ``docs/web.md``.

Example
-------
>>> from cartwin.web import create_app          # doctest: +SKIP
>>> app = create_app()                          # doctest: +SKIP
"""

from __future__ import annotations


def create_app(settings=None):
    """The FastAPI application (imports FastAPI lazily, with an install hint)."""
    try:
        from cartwin.web.app import create_app as _create
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        if exc.name in ("fastapi", "pydantic_settings", "jinja2", "plotly", "starlette", "multipart", "python_multipart"):
            raise ModuleNotFoundError(
                f"cartwin serve needs {exc.name}: pip install 'cartwin[web]'", name=exc.name) from None
        raise
    return _create(settings)


__all__ = ["create_app"]
