"""One entry point over the scales: grade a whole observation table, or one observation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cartwin.clinic.grading import astct, ctcae5, lee2014, penn
from cartwin.clinic.grading.schema import validate_observations
from cartwin.foundation.constraints import OneOf, check

Grader = Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Scale:
    """A grading scale: its name, the version it implements, and its graders."""

    name: str
    version: str
    crs: Grader
    icans: Grader | None = None


SCALES: dict[str, Scale] = {
    "astct": Scale("astct", astct.VERSION, astct.grade_crs, astct.grade_icans),
    "lee2014": Scale("lee2014", lee2014.VERSION, lee2014.grade_crs),
    "penn": Scale("penn", penn.VERSION, penn.grade_crs),
    "ctcae5": Scale("ctcae5", ctcae5.VERSION, ctcae5.grade_crs),
}


def grade_frame(
    obs: pd.DataFrame,
    scale: str = "astct",
    *,
    validate: bool = True,
    source: str = "observations",
) -> pd.DataFrame:
    """Grade every row of a bedside-observation table (docs/grading.md) on one scale.

    Returns one row per input row, in input order: ``patient_id``, ``time_day``,
    ``crs_grade`` (int 0-4), ``crs_rule`` (text), ``icans_grade`` (int 0-4 for ASTCT; NaN for
    scales without neurotoxicity grading), ``icans_rule`` and ``scale``. Rules are column
    operations, so millions of rows grade in seconds.

    >>> import pandas as pd
    >>> obs = pd.DataFrame({"patient_id": [1], "time_day": [2.0], "temperature_c": [39.1],
    ...                     "vasopressors": [1], "o2_support": ["low_flow"], "ice_score": [8]})
    >>> g = grade_frame(obs, "astct")
    >>> int(g.crs_grade[0]), int(g.icans_grade[0])
    (3, 1)
    """
    check("scale", scale, OneOf(tuple(SCALES)))
    spec = SCALES[scale]
    if validate:
        obs, _ = validate_observations(obs, source)
    else:
        obs = obs.reset_index(drop=True)
    crs, crs_rule = spec.crs(obs)
    out = pd.DataFrame(
        {
            "patient_id": obs["patient_id"].to_numpy(),
            "time_day": pd.to_numeric(obs["time_day"]).to_numpy(dtype=float),
            "crs_grade": crs.astype(np.int64),
            "crs_rule": crs_rule,
        }
    )
    if spec.icans is not None:
        icans, icans_rule = spec.icans(obs)
        out["icans_grade"] = icans.astype(np.int64)
        out["icans_rule"] = icans_rule
    else:
        out["icans_grade"] = np.full(len(obs), np.nan)
        out["icans_rule"] = np.full(len(obs), "", dtype=object)
    out["scale"] = scale
    return out


def grade_observation(observation: Mapping[str, Any], scale: str = "astct") -> dict[str, Any]:
    """Grade one bedside observation given as a mapping of column -> value.

    Same rules as :func:`grade_frame` (it builds a one-row table). ``patient_id`` and
    ``time_day`` may be left out.

    >>> grade_observation({"temperature_c": 38.5, "o2_support": "low_flow", "o2_flow_l_per_min": 7})["crs_grade"]
    3
    """
    row = {"patient_id": 0, "time_day": 0.0, **dict(observation)}
    graded = grade_frame(pd.DataFrame([row]), scale).iloc[0]
    icans = graded["icans_grade"]
    return {
        "crs_grade": int(graded["crs_grade"]),
        "crs_rule": str(graded["crs_rule"]),
        "icans_grade": None if pd.isna(icans) else int(icans),
        "icans_rule": str(graded["icans_rule"]),
        "scale": scale,
    }
