"""Write a course's results: timecourse Parquet, summary JSON, patient figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cartwin.clinic.policy import doses_given
from cartwin.clinic.response import assess, best_response
from cartwin.clinic.toxicity import toxicity_course
from cartwin.foundation.results import write_parquet
from cartwin.model.presets import get_indication
from cartwin.therapy.course import CourseResult

BEDSIDE_COLUMNS = ["temperature_c", "map_mmhg", "vasopressors", "o2_support", "o2_flow_l_per_min", "ice_score",
                   "consciousness", "ferritin_ng_per_ml"]


def course_tables(result: CourseResult, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Timecourse with disease measure, response, bedside and ASTCT grade columns, and the
    per-patient summary (kinetics, best response, toxicity course, drugs given)."""
    from cartwin.clinic.grading import grade_frame
    from cartwin.clinic.observe import observe

    measure = get_indication(result.regimen.indication).disease_measure
    tc = assess(result.timecourse(), measure)
    treatments = result.policy.treatments() if result.policy is not None else None
    obs = observe(tc, seed=seed, treatments=treatments)
    graded = grade_frame(obs, "astct")
    for column in BEDSIDE_COLUMNS:
        tc[column] = obs[column].to_numpy()
    tc["crs_grade_astct"] = graded["crs_grade"].to_numpy()
    tc["icans_grade_astct"] = graded["icans_grade"].to_numpy()
    tc.attrs = result.solution.to_frame().attrs
    tox = toxicity_course(graded.assign(patient_id=tc["patient_id"].to_numpy()), "astct")
    summary = result.summary().merge(best_response(tc, measure), on="patient_id").merge(tox, on="patient_id")
    summary = summary.merge(doses_given(treatments, summary["patient_id"]), on="patient_id")
    summary.insert(1, "product", result.regimen.product)
    summary.insert(2, "indication", result.regimen.indication)
    summary.insert(3, "dose_cells", result.dose_cells)
    return tc, summary


def write_course_outputs(result: CourseResult, out_dir: str | Path, figure: bool = True, seed: int = 0) -> dict:
    """Write ``timecourse.parquet``, ``summary.json`` and ``patient.png`` into ``out_dir``."""
    from cartwin.report.patient import plot_patient

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tc, summary = course_tables(result, seed=seed)
    write_parquet(tc, out / "timecourse.parquet", result.solution.provenance)
    records = json.loads(summary.to_json(orient="records"))
    payload = {
        "provenance": result.solution.provenance.to_dict(),
        "units": {
            "cmax_copies_per_ug": "transgene copies/ug genomic DNA",
            "tmax_day": "day",
            "auc0_28_day_copies_per_ug": "day x copies/ug gDNA",
            "cmax_car_t_per_ul": "cells/uL",
        },
        "patients": records,
    }
    (out / "summary.json").write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    paths = {"timecourse": out / "timecourse.parquet", "summary": out / "summary.json"}
    if figure:
        title = f"{result.regimen.product} in {result.regimen.indication}"
        paths["figure"] = plot_patient(tc, out / "patient.png", title=title)
    return {"paths": paths, "summary": summary, "timecourse": tc}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
