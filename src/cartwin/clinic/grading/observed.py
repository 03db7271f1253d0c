"""What each grade was graded from: observed inputs, bounds, and 'not assessable'.

A grade that depends on a measurement nobody took is not a grade 0. Each scale names the
*measured inputs* it reads (:data:`SCALE_INPUTS`); an input is observed in a row when any of its
columns has a value there. The graders are monotone — a worse finding never lowers a grade — so
grading the row with every unobserved input taken as normal gives a lower bound, and grading it
with every unobserved input at its worst (fever 45 °C, hypotension, mechanical ventilation, ICE
0, unarousable, ANC 0) gives an upper bound. Each graded row then carries a status:

* ``observed`` — every input the grade reads was observed: the grade is exact;
* ``determined`` — some input was not observed but no value of it could change the grade (a
  patient on two vasopressors is ASTCT CRS 4 whatever the temperature);
* ``lower bound`` — the grade shown is the least the row could be; ``*_grade_upper`` the most;
* ``not assessable`` — nothing graded can be ruled out (lower bound 0): the grade is empty;
* ``assumed normal`` — with ``assume_normal`` (``--assume-normal``), unobserved inputs were
  graded as normal, by request; the row says which.

A scale's input that is absent from the table altogether (no column) stops grading with an error
naming the column, unless ``assume_normal``. Event columns (vasopressors, vasopressin, seizure,
motor weakness, oedema, ICP signs, haemorrhage, treatments given) are charted when the event
happens: an absent column or an empty cell there means none was charted (docs/grading.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartwin.foundation.errors import DataError

STATUSES = ("observed", "determined", "lower bound", "not assessable", "assumed normal")


@dataclass(frozen=True)
class Input:
    """A measured input of a grade: observed in a row when any of ``columns`` has a value there;
    ``worst`` sets each unobserved row to the most severe finding (the upper bound)."""

    name: str
    columns: tuple[str, ...]
    worst: Mapping[str, object]


TEMPERATURE = Input("temperature_c", ("temperature_c",), {"temperature_c": 45.0})
#: MAP, SBP or a clinician's hypotension judgement: any one decides hypotension (docs/grading.md)
BLOOD_PRESSURE = Input("map_mmhg/sbp_mmhg/hypotension", ("map_mmhg", "sbp_mmhg", "hypotension"), {"hypotension": True})
OXYGEN = Input("o2_support/o2_flow_l_per_min", ("o2_support", "o2_flow_l_per_min"),
               {"o2_support": "mechanical_ventilation"})
NEUTROPHILS = Input("anc_per_ul", ("anc_per_ul",), {"anc_per_ul": 0.0})
ENCEPHALOPATHY = Input("ice_score/capd_score", ("ice_score", "capd_score"), {"ice_score": 0.0, "capd_score": 32.0})
CONSCIOUSNESS = Input("consciousness", ("consciousness",), {"consciousness": "unarousable"})

_CRS = (TEMPERATURE, BLOOD_PRESSURE, OXYGEN)
#: The measured inputs of each scale's CRS and ICANS grades.
SCALE_INPUTS: dict[str, dict[str, tuple[Input, ...]]] = {
    "astct": {"crs": _CRS, "icans": (ENCEPHALOPATHY, CONSCIOUSNESS)},
    "lee2014": {"crs": _CRS},
    # Penn grade 2 is fever with neutropenia: the ANC is read for febrile rows
    "penn": {"crs": (*_CRS, NEUTROPHILS)},
    "ctcae5": {"crs": _CRS},
}


def absent_inputs(obs: pd.DataFrame, inputs: tuple[Input, ...]) -> list[Input]:
    """Inputs none of whose columns is in the table."""
    return [i for i in inputs if not any(c in obs.columns for c in i.columns)]


def require_columns(obs: pd.DataFrame, scale: str, source: str = "observations") -> None:
    """Raise :class:`DataError` naming the first measured input of ``scale`` with no column."""
    from cartwin.clinic.grading.schema import unknown_columns

    for syndrome, inputs in SCALE_INPUTS[scale].items():
        missing = absent_inputs(obs, inputs)
        if missing:
            first = missing[0]
            names = " or ".join(f"'{c}'" for c in first.columns)
            extra = unknown_columns(obs)
            hint = f" (columns present but not read: {', '.join(repr(c) for c in extra)}; is one of them misnamed?)" if extra else ""
            raise DataError(
                source,
                f"the {scale} {syndrome.upper()} grade needs the column {names}, which is absent{hint}: add it, or "
                "grade absent inputs as normal with --assume-normal (assume_normal=True), which marks every row",
                column=first.columns[0])


def unobserved(obs: pd.DataFrame, inputs: tuple[Input, ...]) -> np.ndarray:
    """Boolean (len(inputs), n): input k not observed in row i."""
    n = len(obs)
    out = np.ones((len(inputs), n), dtype=bool)
    for k, inp in enumerate(inputs):
        for c in inp.columns:
            if c in obs.columns:
                out[k] &= obs[c].isna().to_numpy()
    return out


def _names(mask: np.ndarray, inputs: tuple[Input, ...]) -> np.ndarray:
    """';'-joined names of the unobserved inputs per row, built once per distinct pattern."""
    n = mask.shape[1]
    if not mask.any():
        return np.full(n, "", dtype=object)
    bits = (mask.astype(np.int64) << np.arange(len(inputs))[:, None]).sum(axis=0)
    patterns, inverse = np.unique(bits, return_inverse=True)
    vocab = np.array([";".join(i.name for k, i in enumerate(inputs) if p >> k & 1) for p in patterns], dtype=object)
    return vocab[inverse]


def bounded(obs: pd.DataFrame, inputs: tuple[Input, ...], grader, assume_normal: bool = False):
    """Grade ``obs`` with ``grader`` and bound each row over its unobserved inputs.

    Returns ``(grade, upper, rule, status, unobserved_names)``: ``grade`` is a pandas nullable
    integer array (empty where not assessable) unless every row is exact, then int64.
    """
    lower, rule = grader(obs)
    lower = np.asarray(lower, dtype=np.int64)
    mask = unobserved(obs, inputs)
    rows = np.flatnonzero(mask.any(axis=0))
    names = _names(mask, inputs)
    upper = lower.copy()
    if rows.size and not assume_normal:
        sub = obs.iloc[rows].copy()
        for k, inp in enumerate(inputs):
            hit = mask[k, rows]
            if not hit.any():
                continue
            for c, value in inp.worst.items():
                values = sub[c].to_numpy(dtype=object) if c in sub.columns else np.full(len(sub), np.nan, dtype=object)
                sub[c] = np.where(hit, value, values)
                if isinstance(value, float):
                    sub[c] = pd.to_numeric(sub[c])
        worst, _ = grader(sub.reset_index(drop=True))
        upper[rows] = np.maximum(np.asarray(worst, dtype=np.int64), lower[rows])
    any_missing = mask.any(axis=0)
    if assume_normal:
        status = np.where(any_missing, "assumed normal", "observed").astype(object)
    else:
        status = np.select([~any_missing, upper == lower, lower > 0], ["observed", "determined", "lower bound"],
                           "not assessable").astype(object)
    rule = np.asarray(rule, dtype=object)
    open_ = upper > lower
    if open_.any():
        rule = rule.copy()
        what = pd.Series(names[open_], dtype=object)
        up = pd.Series(upper[open_].astype(str), dtype=object)
        lower_bound = pd.Series(rule[open_], dtype=object).astype(str) + " (lower bound: " + what + " not observed; up to grade " + up + ")"
        none_known = "not assessable: " + what + " not observed (grade could be 0 to " + up + ")"
        rule[open_] = np.where(lower[open_] == 0, none_known.to_numpy(), lower_bound.to_numpy())
    if (status == "not assessable").any():
        grade = pd.array(np.where(status == "not assessable", 0, lower), dtype="Int64")
        grade[status == "not assessable"] = pd.NA
    else:
        grade = lower
    return grade, upper, rule, status, names
