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
