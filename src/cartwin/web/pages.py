"""The HTML pages: explainer, trial explorer, bedside grading, registry browser (Jinja2, no build step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from cartwin.foundation.errors import CartwinError
from cartwin.web import services
from cartwin.web.explainer import DISCLAIMER, INDICATION_WORDS, choices, explain
from cartwin.web.schemas import COURSES, PRODUCT_CLASSES
from cartwin.web.trials import DOWNLOADS

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["tojson_safe"] = lambda v: json.dumps(v).replace("</", "<\\/")


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("disclaimer", DISCLAIMER)
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


SEARCH_FIELDS = ("condition", "phase", "status", "sponsor", "target", "country", "cell_therapy", "source", "since_year")


def build_pages(app_state) -> APIRouter:
    settings = app_state.settings
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def index(request: Request):
        return _page(request, "index.html", title="cartwin")

    @router.get("/journey")
    def journey(request: Request, product: str = "autologous_car_t", disease: str = "lbcl", course: str = "typical"):
        opts = choices()
        error = None
        if product in opts and disease not in opts[product]:
            disease = next(iter(opts[product]))
        try:
            payload = explain(product, disease, course, settings.explainer_patients, settings.engine)
        except CartwinError as exc:
            error, payload = str(exc), None
        return _page(request, "journey.html", status_code=200 if error is None else 422, title="Patient journey",
                     payload=payload, error=error, product=product, disease=disease, course=course, options=opts,
                     classes=PRODUCT_CLASSES, courses=COURSES, diseases=INDICATION_WORDS)

    @router.get("/trials")
    def trials(request: Request):
        preset_list = [p for p in services.presets()["protocols"] if p["simulable"]]
        prefill = {k: v for k, v in request.query_params.items()
                   if k in ("preset", "n", "seed", "follow_up_days", "dose_value", "dose_per_kg", "policy", "product")}
        return _page(request, "trials.html", title="Trial explorer", presets=preset_list, prefill=prefill,
                     settings=settings, downloads=list(DOWNLOADS), policies=services.presets()["policies"],
                     products=services.presets()["products"])

    @router.get("/grade")
    def grade(request: Request):
        return _page(request, "grade.html", title="Bedside grading", scales=tuple(app_state.models["scale"].options),
                     max_bytes=settings.max_upload_bytes)

    @router.get("/registry")
    def registry(request: Request):
        query = {k: v for k, v in request.query_params.items() if k in SEARCH_FIELDS and v}
        result, stats, error = None, None, None
        try:
            options = dict(query)
            if "since_year" in options:
                if not options["since_year"].isdigit():
                    raise CartwinError(f"since_year: expected a year such as 2018, got {options['since_year']!r}")
                options["since_year"] = int(options["since_year"])
            options["cell_source"] = options.pop("source", None)
            options["year_from"] = options.pop("since_year", None)
            result = services.registry_search(settings, **options)
            stats = services.registry_stats(settings)
        except CartwinError as exc:
            error = str(exc)
        return _page(request, "registry.html", status_code=200 if error is None else 422, title="Registry",
                     query=query, result=result, stats=stats, error=error)

    @router.get("/registry/{nct_id}")
    def study(request: Request, nct_id: str):
        import re

        if not re.match(services.NCT_ID, nct_id):
            return _page(request, "study.html", status_code=422, title="Study", found=None,
                         error=f"nct_id: expected an NCT ID such as NCT02348216, got {nct_id[:40]!r}")
        try:
            found = services.registry_study(settings, nct_id)
        except CartwinError as exc:
            return _page(request, "study.html", status_code=422, title="Study", found=None, error=str(exc))
        if found is None:
            return _page(request, "study.html", status_code=404, title="Study", found=None,
                         error=f"nct_id: no study {nct_id} in the registry")
        return _page(request, "study.html", title=nct_id, found=found, error=None)

    @router.get("/favicon.ico")
    def favicon():
        return RedirectResponse("/static/favicon.svg")

    return router
