"""What the routes call: parse, call the library function the CLI calls, shape the answer.

Shared by the REST API and the pages, so a page shows exactly what the API returns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartwin.web.figures import clean

NCT_ID = r"^NCT\d{8}$"


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts (NaN -> null, lists kept)."""
    return clean(json.loads(df.to_json(orient="records", date_format="iso", default_handler=str)))


# ---- presets and parameters -------------------------------------------------------------
def presets() -> dict[str, Any]:
    from cartwin.clinic.grading import SCALES
    from cartwin.clinic.policy import POLICIES
    from cartwin.model.presets import INDICATIONS, PRODUCTS
    from cartwin.trial.protocol import list_protocols, load_protocol

    protocols = []
    for name in list_protocols():
        p = load_protocol(name)
        protocols.append({"name": name, "trial": p.name, "product": p.product.key, "indication": p.trial.indication,
                          "n_enrolled": p.trial.n_enrolled, "follow_up_days": p.trial.follow_up_days,
                          "dose_value": p.dose.value, "dose_per_kg": p.dose.per_kg, "policy": p.management.policy,
                          "simulable": not p.is_placeholder, "targets": sorted(p.targets)})
    return {
        "products": [{"key": p.key, "label": p.label, "class": p.product_class, "target": p.antigen,
                      "dose_cells": p.dose_cells, "dose_per_kg": p.dose_per_kg, "indications": list(p.indications)}
                     for p in PRODUCTS.values()],
        "indications": [{"key": i.key, "label": i.label, "target": i.antigen, "disease_measure": i.disease_measure}
                        for i in INDICATIONS.values()],
        "protocols": protocols, "policies": list(POLICIES), "grading_scales": list(SCALES),
    }


def parameters(models: dict) -> dict[str, Any]:
    """The constraint tables: model parameters, protocol fields, observation columns, request fields."""
    from cartwin.clinic.grading import COLUMNS
    from cartwin.model import CarTPatientModel
    from cartwin.trial.protocol import SCHEMA

    return clean({
        "model": {"name": CarTPatientModel.name, "version": CarTPatientModel.version, "parameters": [
            {"name": q.name, "value": q.value, "unit": q.unit, "low": q.low, "high": q.high, "source": q.source}
            for q in CarTPatientModel.parameter_table]},
        "protocol": {section: [{"field": f"{section}.{k}", "expected": spec.constraint.describe(),
                                "required": spec.required, "default": None if spec.required else spec.default, "doc": spec.doc}
                               for k, spec in fields.items()] for section, fields in SCHEMA.items()},
        "observations": [{"column": c.name, "kind": c.kind, "expected": c.constraint.describe() if c.constraint else "any value",
                          "unit": c.unit, "description": c.description} for c in COLUMNS.values()],
        "requests": {name: model.model_json_schema() for name, model in models.items() if hasattr(model, "model_json_schema")},
    })


# ---- one patient ------------------------------------------------------------------------
def simulate(req) -> dict[str, Any]:
    """``cartwin simulate``'s path: Regimen, Covariates, policy, simulate_course, course_tables."""
    from cartwin.clinic.observe import ObservationSchedule
    from cartwin.clinic.policy import make_policy
    from cartwin.foundation.units import parse_dose
    from cartwin.model.dosing import NO_LYMPHODEPLETION
    from cartwin.therapy import Covariates, Regimen, simulate_course
    from cartwin.therapy.outputs import course_tables

    dose_cells, per_kg = parse_dose(req.dose, "dose") if req.dose is not None else (None, None)
    regimen = Regimen(product=req.product, indication=req.indication, dose_cells=dose_cells, per_kg=per_kg,
                      lymphodepletion=None if req.lymphodepletion else NO_LYMPHODEPLETION)
    covariates = Covariates(req.weight_kg, req.height_cm, req.tumour_cells, req.antigen_negative_fraction)
    if req.policy == "lee-2014" and req.age_years is None:
        from cartwin.foundation.errors import ValidationError

        raise ValidationError("age_years", "the patient's age in years (the lee-2014 policy gives tocilizumab at CRS "
                              "grade 2 to patients over 60)", None)
    manager = make_policy(req.policy, req.weight_kg, req.age_years)
    days = req.days
    # The same save and decision grids as `cartwin simulate` (cli/simulate.py).
    saves = np.union1d(ObservationSchedule().days(days), np.arange(0.0, days + 1e-9, 1.0))
    decisions = np.union1d(np.arange(-5.0, min(days, 28.0), 0.25), np.arange(0.0, days + 1e-9, 1.0))
    result = simulate_course(regimen, covariates, days=days, seed=req.seed, policy=manager, save_days=saves,
                             decision_days=decisions)
    tc, summary = course_tables(result, seed=req.seed)
    keep = [c for c in ("patient_id", "day", "status", "car_t_per_ul", "transgene_copies_per_ug", "tumor_cells",
                        "b_cells_per_ul", "il6_pg_per_ml", "crp_mg_per_l", "temperature_c", "map_mmhg",
                        "crs_grade_astct", "icans_grade_astct", "response") if c in tc]
    return {"provenance": result.solution.provenance.to_dict(), "summary": records(summary)[0],
            "timecourse": records(tc[keep])}


# ---- grading ----------------------------------------------------------------------------
def safe_name(filename: str | None, default: str = "upload.csv") -> str:
    """The uploaded file's base name with only safe characters (shown in messages; never a path)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return base[:80] or default


def grade(path: Path, shown: str, scale: str, skip_bad: bool) -> dict[str, Any]:
    """``cartwin grade``'s path: read_observations, grade_frame, daily_grades, alerts, course_summary."""
    from cartwin.clinic.grading import (
        SCALES,
        alerts,
        course_summary,
        daily_grades,
        grade_frame,
        read_observations,
    )
    from cartwin.clinic.grading.schema import unknown_columns
    from cartwin.foundation.errors import DataError

    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise DataError(shown, "not a CSV text file (it holds binary data)", column=None)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(shown, "not a CSV text file (expected UTF-8 text)") from None
    try:
        obs, bad = read_observations(path, skip_bad=skip_bad)
    except DataError as exc:
        # The same error under the uploaded file's name (the server's path is not shown).
        where = exc.source + (f", row {exc.row}" if exc.row is not None else "") + \
            (f", column '{exc.column}'" if exc.column is not None else "")
        message = str(exc)[len(where) + 2:] if str(exc).startswith(where) else str(exc).replace(str(path), shown)
        raise DataError(shown, message, row=exc.row, column=exc.column) from None
    graded = grade_frame(obs, scale, validate=False)
    daily = daily_grades(graded)
    crs = course_summary(daily, "crs")
    has_icans = SCALES[scale].icans is not None
    icans = course_summary(daily, "icans") if has_icans else None
    return {
        "scale": scale, "version": SCALES[scale].version, "observations": int(len(obs)),
        "patients": int(obs["patient_id"].nunique()),
        "daily": records(daily), "alerts": records(alerts(obs, validate=False)),
        "course": {"crs": records(crs), "icans": records(icans) if icans is not None else None},
        "skipped": records(bad) if len(bad) else [], "unused_columns": unknown_columns(obs),
    }


# ---- registry ---------------------------------------------------------------------------
def registry_path(settings):
    from cartwin.registry import default_db_path

    return settings.registry_db or default_db_path()


def registry_search(settings, **options) -> dict[str, Any]:
    from cartwin.registry import Registry, SearchFilter, search

    flt = SearchFilter.create(**options)
    with Registry(registry_path(settings), read_only=True) as reg:
        hits = search(reg, flt)
        total = reg.count()
    return {"total_studies": total, "matches": len(hits), "studies": records(hits)}


def registry_stats(settings) -> dict[str, Any]:
    from cartwin.registry import Registry, stats

    with Registry(registry_path(settings), read_only=True) as reg:
        table = stats(reg)
    return {dim: records(part[["value", "studies"]]) for dim, part in table.groupby("dimension", sort=False)}


def registry_study(settings, nct_id: str) -> dict[str, Any] | None:
    """``cartwin registry show`` and ``to-protocol``: fields, versions, the drafted protocol and a runnable preset."""
    from cartwin.registry import Registry, parse_study
    from cartwin.registry.protocol import draft_protocol, to_toml

    with Registry(registry_path(settings), read_only=True) as reg:
        row = reg.get(nct_id)
        if row is None:
            return None
        raw = reg.raw(nct_id)
        versions = reg.versions(nct_id)
    study = parse_study(raw, nct_id)
    draft = draft_protocol(study)
    row = {k: v for k, v in row.items() if k != "raw"}
    for k, v in row.items():
        if hasattr(v, "tolist"):
            row[k] = v.tolist()
    header = (f"Virtual-trial protocol drafted by cartwin from ClinicalTrials.gov {study.nct_id}.\n"
              "Fields under [assumed] were not stated in the registry record; check them before use.")
    return clean({"study": json.loads(json.dumps(row, default=str)), "versions": len(versions), "draft": draft,
                  "draft_toml": to_toml(draft, header), "virtual_trial": virtual_trial(draft, settings)})


def virtual_trial(draft: dict[str, Any], settings) -> dict[str, Any]:
    """The trial-explorer settings that run a registered design: the shipped preset of the same
    product (or product class) and disease, with the record's dose and enrolment (bounded).

    The drafted protocol (``to-protocol``) describes a design; the simulator runs presets of the
    products and diseases it models, so the nearest one is named and every substitution listed."""
    from cartwin.model.presets import PRODUCTS
    from cartwin.trial.protocol import list_protocols, load_protocol

    trial, product, dose = draft["trial"], draft["product"], draft["dose"]
    best, why = None, ""
    for name in list_protocols():
        p = load_protocol(name)
        if p.is_placeholder or p.trial.indication != trial["indication"]:
            continue
        if p.product.key == product.get("name"):
            best, why = p, f"the shipped preset of {p.product.key} in {p.trial.indication}"
            break
        if best is None and PRODUCTS[p.product.key].product_class == product.get("class") \
                and PRODUCTS[p.product.key].antigen == product.get("target"):
            best, why = p, (f"no preset of {product.get('name')}; {name} is the shipped preset of the same class "
                            f"({product.get('class')}), target and disease, so its product ({p.product.key}) is simulated")
    if best is None:
        return {"runnable": False, "reason": (f"cartwin has no preset for a {product.get('class')} against "
                                              f"{product.get('target')} in {trial['indication']}; download the drafted protocol")}
    n = int(min(trial["enrolment"] or best.trial.n_enrolled, settings.max_patients))
    params = {"preset": best.path.rsplit("/", 1)[-1].removesuffix(".toml"), "n": n, "seed": 1,
              "dose_value": dose["value"], "dose_per_kg": bool(dose["per_kg"])}
    notes = [why, f"n = {n} (the record's enrolment {trial['enrolment']}, at most {settings.max_patients} here)"]
    notes += [f"{k}: {v['reason']}" for k, v in draft.get("assumed", {}).items()]
    return {"runnable": True, "params": params, "notes": notes}
