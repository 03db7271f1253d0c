"""One entry point over the scales: grade a whole observation table, or one observation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cartwin.clinic.grading import astct, ctcae5, lee2014, penn
from cartwin.clinic.grading.observed import SCALE_INPUTS, bounded, require_columns
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
    assume_normal: bool = False,
) -> pd.DataFrame:
    """Grade every row of a bedside-observation table (docs/grading.md) on one scale.

    Returns one row per input row, in input order: ``patient_id``, ``time_day``, and for each of
    CRS and ICANS: ``*_grade`` (0-4; empty where not assessable), ``*_grade_upper`` (the most it
    could be), ``*_status`` (observed / determined / lower bound / not assessable / assumed
    normal, :mod:`~cartwin.clinic.grading.observed`), ``*_unobserved`` (the measured inputs not
    observed in the row) and ``*_rule`` (the rule that decided it); then ``scale`` (and
    ``assumptions`` with ``assume_normal``). ICANS columns are empty for scales without
    neurotoxicity grading. A measured input with no column raises :class:`DataError` naming it,
    unless ``assume_normal``. Rules are column operations, so millions of rows grade in seconds.

    >>> import pandas as pd
    >>> obs = pd.DataFrame({"patient_id": [1], "time_day": [2.0], "temperature_c": [39.1], "map_mmhg": [70],
    ...                     "vasopressors": [1], "o2_support": ["low_flow"], "ice_score": [8], "consciousness": ["alert"]})
    >>> g = grade_frame(obs, "astct")
    >>> int(g.crs_grade[0]), int(g.icans_grade[0]), g.crs_status[0]
    (3, 1, 'observed')
    """
    check("scale", scale, OneOf(tuple(SCALES)))
    spec = SCALES[scale]
    if validate:
        obs, _ = validate_observations(obs, source)
    else:
        obs = obs.reset_index(drop=True)
    if not assume_normal:
        require_columns(obs, scale, source)
    inputs = SCALE_INPUTS[scale]
    n = len(obs)
    out = pd.DataFrame(
        {
            "patient_id": obs["patient_id"].to_numpy(),
            "time_day": pd.to_numeric(obs["time_day"]).to_numpy(dtype=float),
        }
    )
    for syndrome, grader in (("crs", spec.crs), ("icans", spec.icans)):
        if grader is None:
            out[f"{syndrome}_grade"] = np.full(n, np.nan)
            out[f"{syndrome}_grade_upper"] = np.full(n, np.nan)
            out[f"{syndrome}_status"] = "not graded by this scale"
            out[f"{syndrome}_unobserved"] = ""
            out[f"{syndrome}_rule"] = np.full(n, "", dtype=object)
            continue
        grade, upper, rule, status, names = bounded(obs, inputs[syndrome], grader, assume_normal)
        out[f"{syndrome}_grade"] = grade
        out[f"{syndrome}_grade_upper"] = upper
        out[f"{syndrome}_status"] = status
        out[f"{syndrome}_unobserved"] = names
        out[f"{syndrome}_rule"] = rule
    out["scale"] = scale
    if assume_normal:
        out["assumptions"] = ASSUME_NORMAL_NOTE
    return out


#: Written in every row graded with ``assume_normal`` (``--assume-normal``).
ASSUME_NORMAL_NOTE = "assume-normal: absent or empty measured inputs graded as normal (see *_unobserved)"


def grade_observation(observation: Mapping[str, Any], scale: str = "astct", *, assume_normal: bool = False) -> dict[str, Any]:
    """Grade one bedside observation given as a mapping of column -> value.

    Same rules as :func:`grade_frame` (it builds a one-row table). ``patient_id`` and
    ``time_day`` may be left out; a measured input the scale needs may be left out only with
    ``assume_normal`` (then graded as normal, and ``status`` says so).

    >>> grade_observation({"temperature_c": 38.5, "o2_support": "low_flow", "o2_flow_l_per_min": 7},
    ...                   "lee2014", assume_normal=True)["crs_grade"]
    3
    """
    row = {"patient_id": 0, "time_day": 0.0, **dict(observation)}
    graded = grade_frame(pd.DataFrame([row]), scale, assume_normal=assume_normal).iloc[0]

    def grade(v):
        return None if pd.isna(v) else int(v)

    return {
        "crs_grade": grade(graded["crs_grade"]),
        "crs_grade_upper": grade(graded["crs_grade_upper"]),
        "crs_status": str(graded["crs_status"]),
        "crs_unobserved": str(graded["crs_unobserved"]),
        "crs_rule": str(graded["crs_rule"]),
        "icans_grade": grade(graded["icans_grade"]),
        "icans_status": str(graded["icans_status"]),
        "icans_unobserved": str(graded["icans_unobserved"]),
        "icans_rule": str(graded["icans_rule"]),
        "scale": scale,
    }
