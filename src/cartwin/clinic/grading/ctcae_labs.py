"""CTCAE v5.0 laboratory grading: cytopenias, anaemia and fibrinogen (version: NCI CTCAE v5.0).

U.S. Department of Health and Human Services, National Cancer Institute. Common Terminology
Criteria for Adverse Events (CTCAE) Version 5.0, 27 November 2017. Terms (grades 1-4 as printed;
"<a - b" reads "below a and at or above b"; LLN = lower limit of normal of the reporting lab):

=============================  ================  ===============  ===============  ==============
term (SOC)                     grade 1           grade 2          grade 3          grade 4
=============================  ================  ===============  ===============  ==============
Neutrophil count decreased     <LLN - 1500/mm³;  <1500 - 1000/mm³ <1000 - 500/mm³  <500/mm³;
(Investigations)               <LLN - 1.5e9/L    <1.5 - 1.0e9/L   <1.0 - 0.5e9/L   <0.5e9/L
Platelet count decreased       <LLN - 75,000/mm³ <75,000 -        <50,000 -        <25,000/mm³;
(Investigations)               <LLN - 75.0e9/L   50,000/mm³;      25,000/mm³;      <25.0e9/L
                                                 <75.0 - 50.0e9/L <50.0 - 25.0e9/L
Lymphocyte count decreased     <LLN - 800/mm³;   <800 - 500/mm³;  <500 - 200/mm³;  <200/mm³;
(Investigations)               <LLN - 0.8e9/L    <0.8 - 0.5e9/L   <0.5 - 0.2e9/L   <0.2e9/L
Anemia (Blood and lymphatic    Hgb <LLN - 10.0   Hgb <10.0 - 8.0  Hgb <8.0 g/dL;   life-threatening
system disorders)              g/dL; <LLN - 6.2  g/dL; <6.2 - 4.9 <4.9 mmol/L;     consequences;
                               mmol/L; <LLN -    mmol/L; <100 -   <80 g/L;         urgent
                               100 g/L           80 g/L           transfusion      intervention
                                                                  indicated        indicated
Fibrinogen decreased           <1.0 - 0.75 x LLN <0.75 - 0.5 x    <0.5 - 0.25 x    <0.25 x LLN
(Investigations)                                 LLN              LLN
=============================  ================  ===============  ===============  ==============

The SI thresholds are those the criteria print (6.2 and 4.9 mmol/L for haemoglobin, not
conversions of 10.0 and 8.0 g/dL), so every boundary agrees with the text in both unit systems.
The user declares the unit by the column (``anc_per_ul`` /mm³ or ``anc_per_nl`` 10^9/L, and so
on; :data:`LAB_TERMS`) and the LLN in that column's unit.

Implementation choices: a grade needing the LLN (grade 1 of the counts and of anaemia; every
fibrinogen grade) is not guessed without it — a value at or above the grade-2 threshold with no
LLN given is *not assessable* (grade 0 or 1), a fibrinogen without LLN is not assessable. Anaemia
grade 4 (life-threatening consequences) and every grade 5 are clinical, not laboratory, criteria:
not graded. Fibrinogen's "if abnormal [at baseline]: % decrease from baseline, or absolute value
< 50 mg/dL (grade 4)" branch needs a baseline and is not implemented: grades are from the LLN.
The wording was checked against reproductions of the CTCAE v5.0 tables (e.g. the neutrophil
grades as reproduced by techoverflow.net's CTCAE v5.0 summary), not against the NCI spreadsheet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartwin.foundation.errors import DataError, ValidationError

VERSION = "CTCAE v5.0 (NCI, 27 Nov 2017)"


@dataclass(frozen=True)
class LabUnit:
    """One column of a laboratory term: its unit and the thresholds of grades 2, 3, (4) in that
    unit ("below" each), or, for a term graded relative to the LLN, the LLN multiples."""

    column: str
    unit: str
    thresholds: tuple[float, ...]


@dataclass(frozen=True)
class LabTerm:
    term: str
    label: str
    units: tuple[LabUnit, ...]
    relative_to_lln: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(u.column for u in self.units)


LAB_TERMS: dict[str, LabTerm] = {
    t.term: t
    for t in [
        LabTerm("neutrophil_count_decreased", "Neutrophil count decreased",
                (LabUnit("anc_per_ul", "/mm3", (1500.0, 1000.0, 500.0)), LabUnit("anc_per_nl", "x10^9/L", (1.5, 1.0, 0.5)))),
        LabTerm("platelet_count_decreased", "Platelet count decreased",
                (LabUnit("platelets_per_ul", "/mm3", (75000.0, 50000.0, 25000.0)),
                 LabUnit("platelets_per_nl", "x10^9/L", (75.0, 50.0, 25.0)))),
        LabTerm("lymphocyte_count_decreased", "Lymphocyte count decreased",
                (LabUnit("lymphocytes_per_ul", "/mm3", (800.0, 500.0, 200.0)),
                 LabUnit("lymphocytes_per_nl", "x10^9/L", (0.8, 0.5, 0.2)))),
        LabTerm("anemia", "Anemia",
                (LabUnit("hemoglobin_g_per_dl", "g/dL", (10.0, 8.0)), LabUnit("hemoglobin_g_per_l", "g/L", (100.0, 80.0)),
                 LabUnit("hemoglobin_mmol_per_l", "mmol/L", (6.2, 4.9)))),
        LabTerm("fibrinogen_decreased", "Fibrinogen decreased",
                (LabUnit("fibrinogen_mg_per_dl", "mg/dL", (0.75, 0.5, 0.25)), LabUnit("fibrinogen_g_per_l", "g/L", (0.75, 0.5, 0.25))),
                relative_to_lln=True),
    ]
}
LAB_COLUMNS = tuple(c for t in LAB_TERMS.values() for c in t.columns)
SCALES = ("ctcae5",)


def check_lln(lln: Mapping[str, float] | None, option: str = "lln") -> dict[str, float]:
    """Validate a ``{column: lower limit of normal}`` mapping (LLN in the column's unit)."""
    out: dict[str, float] = {}
    for key, value in dict(lln or {}).items():
        if key not in LAB_COLUMNS:
            raise ValidationError(f"{option}.{key}", "a laboratory column: " + ", ".join(LAB_COLUMNS), key)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{option}.{key}", "a positive number in the column's unit", value) from None
        if not np.isfinite(v) or v <= 0:
            raise ValidationError(f"{option}.{key}", "a positive number in the column's unit", value)
        out[key] = v
    return out


def _unit_of(obs: pd.DataFrame, term: LabTerm, source: str) -> LabUnit | None:
    given = [u for u in term.units if u.column in obs.columns]
    if len(given) > 1:
        raise DataError(source, f"'{term.label}' is given in two columns ({', '.join(u.column for u in given)}): "
                        "give one, in the unit you declare", column=given[1].column)
    return given[0] if given else None


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:g}"


def grade_term(values: np.ndarray, term: LabTerm, unit: LabUnit, lln: float | None):
    """(lower grade, upper grade, rule text) per value of one term; NaN values give (0, 4)."""
    v = np.asarray(values, dtype=float)
    n = v.size
    top = 3 if term.term == "anemia" else 4
    present = np.isfinite(v)
    if term.relative_to_lln:
        if lln is None:
            lower = np.zeros(n, dtype=np.int64)
            upper = np.full(n, top, dtype=np.int64)
            rule = np.where(present, f"not assessable: the lower limit of normal of {unit.column} was not given", "")
            return lower, upper, rule.astype(object)
        r = v / lln
        t2, t3, t4 = unit.thresholds
        with np.errstate(invalid="ignore"):
            grade = np.select([r < t4, r < t3, r < t2, r < 1.0], [4, 3, 2, 1], 0)
        texts = {0: ">= LLN", 1: f"< LLN and >= {t2:g} x LLN", 2: f"< {t2:g} and >= {t3:g} x LLN",
                 3: f"< {t3:g} and >= {t4:g} x LLN", 4: f"< {t4:g} x LLN"}
        rule = np.array([f"{term.label}: {texts[k]} (LLN {lln:g} {unit.unit})" for k in range(5)], dtype=object)[grade]
        return grade.astype(np.int64), grade.astype(np.int64), rule
    thresholds = list(unit.thresholds)  # grades 2, 3, (4)
    with np.errstate(invalid="ignore"):
        conditions = [v < t for t in reversed(thresholds)]
        grades = list(range(1 + len(thresholds), 1, -1))
        grade = np.select(conditions, grades, 0)
        below_lln = v < lln if lln is not None else np.zeros(n, dtype=bool)
    t2 = thresholds[0]
    lower = np.where((grade == 0) & below_lln, 1, grade).astype(np.int64)
    upper = lower.copy()
    if lln is None:
        upper = np.where(grade == 0, 1, grade).astype(np.int64)
    texts = [f">= LLN ({_fmt(lln)} {unit.unit})" if lln is not None else "", f"< LLN and >= {_fmt(t2)} {unit.unit}"]
    for k, t in enumerate(thresholds):
        nxt = thresholds[k + 1] if k + 1 < len(thresholds) else None
        texts.append(f"< {_fmt(t)} and >= {_fmt(nxt)} {unit.unit}" if nxt is not None else f"< {_fmt(t)} {unit.unit}")
    rule = np.array([f"{term.label}: {x}" for x in texts], dtype=object)[lower]
    if lln is None:
        rule = np.where(grade == 0, f"not assessable: {term.label} grade 0 or 1 (>= {_fmt(t2)} {unit.unit}; the lower "
                        f"limit of normal of {unit.column} was not given)", rule)
    return lower, upper, rule.astype(object)


def grade_labs(obs: pd.DataFrame, lln: Mapping[str, float] | None = None, *, source: str = "observations") -> pd.DataFrame:
    """CTCAE v5.0 grades of every laboratory value, one row per row of ``obs``.

    ``obs``: an observation table (docs/grading.md), validated; ``lln``: the lower limit of
    normal per column, in that column's unit (``{"anc_per_ul": 1800}``). Returns
    ``patient_id``, ``time_day`` and for each term of :data:`LAB_TERMS`: ``<term>_grade``
    (empty where not assessable), ``<term>_status`` (observed / not assessable / not measured /
    no column) and ``<term>_rule``. At least one laboratory column must be present.

    >>> import pandas as pd
    >>> g = grade_labs(pd.DataFrame({"patient_id": [1, 1], "time_day": [7.0, 8.0], "anc_per_ul": [450.0, 1000.0]}))
    >>> g["neutrophil_count_decreased_grade"].tolist()
    [4, 2]
    """
    lln = check_lln(lln)
    units = {t: _unit_of(obs, term, source) for t, term in LAB_TERMS.items()}
    if all(u is None for u in units.values()):
        raise DataError(source, "laboratory grading needs at least one laboratory column: " + ", ".join(LAB_COLUMNS),
                        column=LAB_COLUMNS[0])
    n = len(obs)
    out = pd.DataFrame({"patient_id": obs["patient_id"].to_numpy(), "time_day": pd.to_numeric(obs["time_day"]).to_numpy(dtype=float)})
    for t, term in LAB_TERMS.items():
        unit = units[t]
        if unit is None:
            out[f"{t}_grade"] = pd.array([pd.NA] * n, dtype="Int64")
            out[f"{t}_status"] = "no column"
            out[f"{t}_rule"] = f"not graded: none of {', '.join(term.columns)} given"
            continue
        values = pd.to_numeric(obs[unit.column], errors="coerce").to_numpy(dtype=float)
        lower, upper, rule = grade_term(values, term, unit, lln.get(unit.column))
        measured = np.isfinite(values)
        status = np.select([~measured, upper == lower], ["not measured", "observed"], "not assessable").astype(object)
        grade = pd.array(lower, dtype="Int64")
        grade[status != "observed"] = pd.NA
        out[f"{t}_grade"] = grade
        out[f"{t}_status"] = status
        out[f"{t}_rule"] = np.where(measured, rule, f"not measured: {unit.column} empty")
    out["lab_scale"] = VERSION
    return out
