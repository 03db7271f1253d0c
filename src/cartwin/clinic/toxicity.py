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
