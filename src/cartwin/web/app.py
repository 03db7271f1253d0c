"""The FastAPI application: limits, error handling, static files, the API and the pages."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cartwin.foundation.errors import CartwinError, DataError, ValidationError
from cartwin.web.jobs import JobManager, QueueFull
from cartwin.web.schemas import build_models
from cartwin.web.settings import WebSettings

log = logging.getLogger("cartwin.web")
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "application/javascript", ".svg": "image/svg+xml"}


@dataclass
class AppState:
    settings: WebSettings
    models: dict[str, Any]
    jobs: JobManager


class BodyLimit:
    """Refuse a request body larger than ``limit`` bytes with 413, while it streams in (pure ASGI)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(self.limit)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> Response:
    return JSONResponse({"error": f"request body: expected at most {limit} bytes",
                         "detail": [{"field": "body", "msg": f"at most {limit} bytes"}]}, status_code=413)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    return ".".join(parts) or "body"


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    models = build_models(settings)
    jobs = JobManager(settings.jobs_dir, max_queued=settings.max_queued_jobs, max_kept=settings.max_kept_jobs,
                      worker=settings.worker)
    state = AppState(settings, models, jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.shutdown()

    app = FastAPI(title="cartwin", version=_version(), lifespan=lifespan,
                  description="A mechanistic digital twin of CAR-T cell therapy: the REST API of `cartwin serve`. "
                              "Education and research software, not medical advice.")
    app.state.cartwin = state

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        detail = [{"field": _field(e.get("loc", ())), "loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        first = detail[0] if detail else {"field": "body", "msg": "invalid"}
        return JSONResponse({"error": f"{first['field']}: {first['msg']}", "detail": detail}, status_code=422)

    @app.exception_handler(CartwinError)
    async def _cartwin(request: Request, exc: CartwinError):
        field = exc.field if isinstance(exc, ValidationError) else (exc.column or "file") if isinstance(exc, DataError) else "body"
        return JSONResponse({"error": str(exc), "detail": [{"field": field, "msg": str(exc)}]}, status_code=422)

    @app.exception_handler(QueueFull)
    async def _full(request: Request, exc: QueueFull):
        return JSONResponse({"error": f"jobs: {exc}", "detail": [{"field": "jobs", "msg": str(exc)}]}, status_code=429)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404 and not request.url.path.startswith("/api/") and not isinstance(exc.detail, str):
            exc.detail = "not found"
        text = exc.detail if isinstance(exc.detail, str) else "error"
        return JSONResponse({"error": text, "detail": [{"field": text.split(":", 1)[0], "msg": text}]},
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": "internal error (see the server log)"}, status_code=500)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            return Response(_plotly_js(), media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})
        path = STATIC / name
        if path.suffix not in STATIC_TYPES or path.parent != STATIC or not path.is_file() or "/" in name or "\\" in name:
            return JSONResponse({"error": f"name: no static file {name!r}"}, status_code=404)
        return Response(path.read_bytes(), media_type=STATIC_TYPES[path.suffix])

    from cartwin.web.api import build_router
    from cartwin.web.pages import build_pages

    app.include_router(build_router(state))
    app.include_router(build_pages(state))
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + 64 * 1024)
    return app


_PLOTLY: bytes | None = None


def _plotly_js() -> bytes:
    """plotly.js as shipped in the ``plotly`` wheel (read once; never a CDN)."""
    global _PLOTLY
    if _PLOTLY is None:
        from importlib import resources

        _PLOTLY = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return _PLOTLY


def _version() -> str:
    from cartwin._version import __version__

    return __version__
