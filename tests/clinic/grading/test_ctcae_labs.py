"""CTCAE v5.0 laboratory grades at every boundary: just below, at and just above each threshold,
in conventional and SI units (NCI CTCAE v5.0, 27 Nov 2017; thresholds as printed, "<a - b" =
below a and at or above b)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwin.clinic.grading.ctcae_labs import LAB_TERMS, check_lln, grade_labs
from cartwin.foundation.errors import DataError, ValidationError

# term, column, LLN (in the column's unit), [(value, expected grade)] with values at and either
# side of each printed threshold. The LLN is set above the grade-2 threshold so grade 1 exists.
CASES = [
    ("neutrophil_count_decreased", "anc_per_ul", 2000.0,
     [(2001, 0), (2000, 0), (1999, 1), (1500, 1), (1499, 2), (1000, 2), (999, 3), (500, 3), (499, 4), (0, 4)]),
    ("neutrophil_count_decreased", "anc_per_nl", 2.0,
     [(2.01, 0), (2.0, 0), (1.99, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3), (0.5, 3), (0.49, 4)]),
    ("platelet_count_decreased", "platelets_per_ul", 150000.0,
     [(150000, 0), (149999, 1), (75000, 1), (74999, 2), (50000, 2), (49999, 3), (25000, 3), (24999, 4)]),
    ("platelet_count_decreased", "platelets_per_nl", 150.0,
     [(150, 0), (149.9, 1), (75.0, 1), (74.9, 2), (50.0, 2), (49.9, 3), (25.0, 3), (24.9, 4)]),
    ("lymphocyte_count_decreased", "lymphocytes_per_ul", 1000.0,
     [(1000, 0), (999, 1), (800, 1), (799, 2), (500, 2), (499, 3), (200, 3), (199, 4)]),
    ("lymphocyte_count_decreased", "lymphocytes_per_nl", 1.0,
     [(1.0, 0), (0.99, 1), (0.8, 1), (0.79, 2), (0.5, 2), (0.49, 3), (0.2, 3), (0.19, 4)]),
    ("anemia", "hemoglobin_g_per_dl", 12.0, [(12.0, 0), (11.9, 1), (10.0, 1), (9.9, 2), (8.0, 2), (7.9, 3), (3.0, 3)]),
    ("anemia", "hemoglobin_g_per_l", 120.0, [(120, 0), (119, 1), (100, 1), (99, 2), (80, 2), (79, 3)]),
    ("anemia", "hemoglobin_mmol_per_l", 7.4, [(7.4, 0), (7.3, 1), (6.2, 1), (6.1, 2), (4.9, 2), (4.8, 3)]),
    ("fibrinogen_decreased", "fibrinogen_mg_per_dl", 200.0,
     [(200, 0), (199, 1), (150, 1), (149, 2), (100, 2), (99, 3), (50, 3), (49, 4)]),
    ("fibrinogen_decreased", "fibrinogen_g_per_l", 2.0,
     [(2.0, 0), (1.99, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3), (0.5, 3), (0.49, 4)]),
]


def _grade(column, values, lln):
    obs = pd.DataFrame({"patient_id": "p", "time_day": np.arange(len(values), dtype=float), column: np.asarray(values, dtype=float)})
    return grade_labs(obs, lln)


@pytest.mark.parametrize(("term", "column", "lln", "cases"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_every_boundary_in_both_unit_systems(term, column, lln, cases):
    values, expected = zip(*cases, strict=True)
    g = _grade(column, values, {column: lln})
    assert g[f"{term}_grade"].astype(int).tolist() == list(expected)
    assert (g[f"{term}_status"] == "observed").all()
    assert g[f"{term}_rule"].str.startswith(LAB_TERMS[term].label).all()


def test_si_and_conventional_give_the_same_grade_at_corresponding_values():
    conv = _grade("anc_per_ul", [1499, 999, 499], {"anc_per_ul": 1800})["neutrophil_count_decreased_grade"].tolist()
    si = _grade("anc_per_nl", [1.499, 0.999, 0.499], {"anc_per_nl": 1.8})["neutrophil_count_decreased_grade"].tolist()
    assert conv == si == [2, 3, 4]


def test_without_lln_grade_1_is_not_guessed():
    g = _grade("anc_per_ul", [4000, 1500, 1499, 400], None)
    assert g["neutrophil_count_decreased_grade"].tolist()[2:] == [2, 4]
    assert g["neutrophil_count_decreased_grade"].isna().tolist()[:2] == [True, True]
    assert g["neutrophil_count_decreased_status"].tolist()[:2] == ["not assessable"] * 2
    assert "lower limit of normal" in g["neutrophil_count_decreased_rule"].iloc[0]
    fib = _grade("fibrinogen_mg_per_dl", [40.0], None)
    assert fib["fibrinogen_decreased_grade"].isna().all() and (fib["fibrinogen_decreased_status"] == "not assessable").all()


def test_anaemia_stops_at_grade_3_a_laboratory_value_cannot_give_4():
    assert _grade("hemoglobin_g_per_dl", [2.0], {"hemoglobin_g_per_dl": 12.0})["anemia_grade"].tolist() == [3]


def test_missing_values_and_absent_terms_are_never_grade_0():
    g = _grade("anc_per_ul", [np.nan, 300.0], None)
    assert pd.isna(g["neutrophil_count_decreased_grade"].iloc[0])
    assert g["neutrophil_count_decreased_status"].tolist() == ["not measured", "observed"]
    assert (g["platelet_count_decreased_status"] == "no column").all() and g["platelet_count_decreased_grade"].isna().all()


def test_bad_inputs_name_what_was_expected():
    with pytest.raises(DataError, match="at least one laboratory column"):
        grade_labs(pd.DataFrame({"patient_id": [1], "time_day": [0.0], "temperature_c": [37.0]}))
    with pytest.raises(DataError, match="two columns"):
        grade_labs(pd.DataFrame({"patient_id": [1], "time_day": [0.0], "anc_per_ul": [400.0], "anc_per_nl": [0.4]}))
    with pytest.raises(ValidationError, match="lln.anc"):
        check_lln({"anc": 1500})
    with pytest.raises(ValidationError, match="positive"):
        check_lln({"anc_per_ul": -1})
