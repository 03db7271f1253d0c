"""Per-patient toxicity columns for result tables, on a named grading scale.

A thin naming layer over :func:`cartwin.clinic.grading.course_summary`: worst grade per scale
(``crs_max_grade_<scale>``, ``icans_max_grade_<scale>``), onset day and duration in days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import course_summary


def toxicity_course(graded: pd.DataFrame, scale: str) -> pd.DataFrame:
    """``graded``: ``patient_id``, ``time_day``, ``crs_grade`` and ``icans_grade`` (all NaN for
    scales without neurotoxicity grading). One row per patient."""
    out = pd.DataFrame({"patient_id": pd.unique(graded["patient_id"])})
    for syndrome in ("crs", "icans"):
        column = f"{syndrome}_grade"
        if column not in graded or graded[column].isna().all():
            for suffix in (f"max_grade_{scale}", "onset_day", "duration_day"):
                out[f"{syndrome}_{suffix}"] = np.nan
            continue
        summary = course_summary(graded[["patient_id", "time_day", column]], syndrome)
        summary = summary.rename(
            columns={"max_grade": f"{syndrome}_max_grade_{scale}", "onset_day": f"{syndrome}_onset_day",
                     "duration_days": f"{syndrome}_duration_day"}
        )[["patient_id", f"{syndrome}_max_grade_{scale}", f"{syndrome}_onset_day", f"{syndrome}_duration_day"]]
        out = out.merge(summary, on="patient_id", how="left")
    return out


def toxicity_timing(graded: pd.DataFrame, window_day: float = 28.0) -> pd.DataFrame:
    """When each patient's CRS and ICANS happen, from graded observations (one row per patient).

    ``crs_max_grade_by_day<window>`` / ``icans_max_grade_by_day<window>``: worst grade observed
    up to ``window_day`` (trials report CRS and ICANS in the first weeks: YESCARTA USPI, CRS
    onset median 2 days, range 1-12); ``crs_last_day`` / ``icans_last_day``: last observation
    at grade >= 1; ``icans_grade2plus_last_day``: last observation at ICANS grade >= 2 (NaN where
    never). The clinical-realism checks read these (docs/validation.md).
    """
    g = graded[["patient_id", "time_day", "crs_grade", "icans_grade"]]
    ids = pd.unique(g["patient_id"])
    out = pd.DataFrame({"patient_id": ids})
    early = g[g["time_day"] <= window_day]
    label = f"{window_day:g}"
    for syndrome in ("crs", "icans"):
        column = f"{syndrome}_grade"
        worst = early.groupby("patient_id")[column].max()
        out[f"{syndrome}_max_grade_by_day{label}"] = out["patient_id"].map(worst).fillna(0).to_numpy()
        out[f"{syndrome}_last_day"] = out["patient_id"].map(g[g[column] >= 1].groupby("patient_id")["time_day"].max()).to_numpy()
    out["icans_grade2plus_last_day"] = out["patient_id"].map(
        g[g["icans_grade"] >= 2].groupby("patient_id")["time_day"].max()).to_numpy()
    return out


#: Days at which the simulated trials report grade >= 3 cytopenias (CTCAE v5.0).
CYTOPENIA_DAYS = (28, 90)


def haematotoxicity_course(obs: pd.DataFrame) -> pd.DataFrame:
    """Per patient: grade >= 3 neutropenia and thrombocytopenia (CTCAE v5.0) on days 28 and 90
    and at any observed count from infusion on (``neutropenia_grade3plus`` /
    ``thrombocytopenia_grade3plus``: the incidence an adverse-event table reports), and the
    early and late EHA/EBMT ICAHT grade — from the same graders as ``cartwin grade
    --labs ctcae5`` (:mod:`cartwin.clinic.grading.ctcae_labs`, :mod:`cartwin.clinic.grading.icaht`).

    ``obs``: an observation table with ``anc_per_ul`` and ``platelets_per_nl`` (a simulated
    cohort's). ``neutropenia_grade3plus_d<day>`` / ``thrombocytopenia_grade3plus_d<day>`` are 1.0
    if the worst count that day is grade >= 3, 0.0 if not, NaN without a count that day (grade
    >= 3 needs no lower limit of normal). ``icaht_early_grade`` / ``icaht_late_grade`` are NaN
    where not assessable (the early one a lower bound where unmeasured days leave it open;
    :func:`~cartwin.clinic.grading.icaht.icaht`); ``icaht_*_grade3plus`` is 1.0 / 0.0 where
    grade >= 3 is known either way from the bounds, NaN where it is not.
    """
    from cartwin.clinic.grading.ctcae_labs import LAB_TERMS, grade_term
    from cartwin.clinic.grading.icaht import icaht

    out = pd.DataFrame({"patient_id": pd.unique(obs["patient_id"])})
    day = np.floor(obs["time_day"].to_numpy(dtype=float)).astype(np.int64)
    for label, term, column in (("neutropenia", "neutrophil_count_decreased", "anc_per_ul"),
                                ("thrombocytopenia", "platelet_count_decreased", "platelets_per_nl")):
        spec = LAB_TERMS[term]
        unit = next(u for u in spec.units if u.column == column)
        values = obs[column].to_numpy(dtype=float) if column in obs.columns else np.full(len(obs), np.nan)
        grade, _, _ = grade_term(values, spec, unit, None)
        severe = np.where(np.isfinite(values), (grade >= 3).astype(float), np.nan)
        for d in CYTOPENIA_DAYS:
            rows = (day == d) & np.isfinite(values)
            worst = pd.Series(severe[rows]).groupby(obs["patient_id"].to_numpy()[rows]).max()
            out[f"{label}_grade3plus_d{d}"] = out["patient_id"].map(worst).astype(float)
        # Any time: the worst count from infusion on, the incidence trials tabulate as an adverse event.
        rows = (day >= 0) & np.isfinite(values)
        worst = pd.Series(severe[rows]).groupby(obs["patient_id"].to_numpy()[rows]).max()
        out[f"{label}_grade3plus"] = out["patient_id"].map(worst).astype(float)
    if "anc_per_ul" in obs.columns and len(obs):
        grades = icaht(obs).set_index("patient_id")
        lower = {"early": pd.to_numeric(grades["early_icaht_grade"]).astype(float),
                 "late": pd.to_numeric(grades["late_icaht_grade"]).astype(float)}
        # grade >= 3 is known when the lower bound reaches 3 (yes) or the upper bound stays below
        # 3 (no: an unmeasured day 29 cannot make an ANC of 3000 a grade-3 ICAHT)
        early_upper = grades["early_icaht_grade_upper"].astype(float)
        early_lower = lower["early"].fillna(0.0)
        severe = {"early": np.where(early_lower >= 3, 1.0, np.where(early_upper < 3, 0.0, np.nan)),
                  "late": np.where(lower["late"].isna(), np.nan, (lower["late"] >= 3).astype(float))}
        for k in ("early", "late"):
            out[f"icaht_{k}_grade"] = out["patient_id"].map(lower[k]).astype(float)
            out[f"icaht_{k}_grade3plus"] = out["patient_id"].map(pd.Series(severe[k], index=grades.index)).astype(float)
    else:
        for k in ("early", "late"):
            out[f"icaht_{k}_grade"] = np.nan
            out[f"icaht_{k}_grade3plus"] = np.nan
    return out
