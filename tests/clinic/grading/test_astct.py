"""ASTCT 2019 CRS/ICANS (Lee DW et al. Biol Blood Marrow Transplant 2019;25:625-638).

The 22 vignettes of data/astct_grading_vignettes.csv (a copy of the project reference file; published
examples and definition boundaries, each citing its table cell) are parsed clause by clause
into observation fields; an unrecognised clause fails the test, so every case is really read.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwin.clinic.grading import astct, grade_frame, grade_observation

VIGNETTES = Path(__file__).parent / "data" / "astct_grading_vignettes.csv"
CASE_IDS = [
    "crs_lee2019_footnote", "icans_lee2019_seizure", "icans_lee2019_aphasia", "icans_lee2019_unarousable",
    "crs_def_fever_only", "crs_def_no_fever", "crs_def_o2_6lpm", "crs_def_o2_7lpm", "crs_def_fluids_only",
    "crs_def_pressor_plus_vasopressin", "crs_def_two_pressors", "crs_def_cpap", "crs_def_after_tocilizumab",
    "icans_def_ice_7", "icans_def_ice_6", "icans_def_ice_10_voice", "icans_def_focal_edema",
    "icans_def_hemiparesis", "icans_def_tremor_only", "icans_def_ich_only", "icans_def_capd_9",
    "icans_def_capd_5_voice",
]

# clause (regex, matched against one ';'-separated clause) -> observation fields
CLAUSES: list[tuple[str, dict | None]] = [
    (r"^no (hypotension|hypoxia|seizure|motor findings|edema|other (cause|finding))$", {}),
    (r"^no antipyretic or anticytokine therapy given$", {}),
    (r"^temperature (?P<t>\d+\.\d+) c$", None),
    (r"^afebrile \((?P<t>\d+\.\d+) c\) after tocilizumab for ongoing crs$", {"tocilizumab_given": True}),
    (r"^hypotension requiring 1 vasopressor$", {"vasopressors": 1}),
    (r"^one vasopressor$", {"vasopressors": 1}),
    (r"^one vasopressor plus vasopressin$", {"vasopressors": 1, "vasopressin": True}),
    (r"^two vasopressors \(excluding vasopressin\)$", {"vasopressors": 2}),
    (r"^hypotension responsive to fluids, no vasopressor$", {"hypotension": True, "vasopressors": 0}),
    (r"^hypoxia requiring low-flow nasal cannula$", {"o2_support": "low_flow"}),
    (r"^nasal cannula oxygen (?P<flow>\d+) l/min$", {"o2_support": "low_flow"}),
    (r"^cpap or bipap or mechanical ventilation$", {"o2_support": "cpap"}),
    (r"^ice score (?P<ice>\d+)$", None),
    (r"^capd score (?P<capd>\d+)$", None),
    (r"^generalized seizure \(any clinical seizure that resolves rapidly\)$", {"seizure": "brief"}),
    (r"^patient awake with global aphasia$", {"consciousness": "alert"}),
    (r"^patient unarousable$", {"consciousness": "unarousable"}),
    (r"^awakens spontaneously$", {"consciousness": "awakens_spontaneously"}),
    (r"^awakens to voice( only \(no sedation\))?$", {"consciousness": "voice"}),
    (r"^focal/local edema on neuroimaging$", {"cerebral_edema": "focal"}),
    (r"^deep focal motor weakness \(hemiparesis\)$", {"motor_weakness": True}),
    (r"^tremor and myoclonus only$", {"tremor_myoclonus": True}),
    (r"^intracranial hemorrhage with local edema$", {"intracranial_hemorrhage": True, "cerebral_edema": "focal"}),
]


def parse_inputs(text: str, criteria: str) -> dict:
    fields: dict = {"age_years": 8.0 if "child" in criteria else 45.0}
    for clause in (c.strip().lower() for c in text.split(";")):
        found = [(re.match(pattern, clause), extra) for pattern, extra in CLAUSES]
        found = [(m, extra) for m, extra in found if m]
        assert found, f"vignette clause not understood: {clause!r}"
        m, extra = found[0]
        fields.update(extra or {})
        groups = m.groupdict()
        if groups.get("t"):
            fields["temperature_c"] = float(groups["t"])
        if groups.get("flow"):
            fields["o2_flow_l_per_min"] = float(groups["flow"])
        if groups.get("ice"):
            fields["ice_score"] = int(groups["ice"])
        if groups.get("capd"):
            fields["capd_score"] = int(groups["capd"])
    return fields


#: Vignettes whose wording conflicts with the published table cell. 'icans_def_tremor_only' lists
#: "awakens spontaneously", which Lee 2019 Table 6 puts in the grade-1 column of the
#: depressed-consciousness domain; the case (project-derived, not printed in the paper) tests
#: that tremor/myoclonus do not count, and its expected 0 presupposes an otherwise normal,
#: awake patient. It is graded with consciousness 'alert' and the literal reading is checked
#: to give 1 (reported upstream so the vignette wording can be fixed).
WORDING_CONFLICTS = {"icans_def_tremor_only": {"consciousness": "alert"}}


def load_vignettes() -> pd.DataFrame:
    return pd.read_csv(VIGNETTES)


def test_every_vignette_case_is_covered():
    assert sorted(load_vignettes()["case_id"]) == sorted(CASE_IDS)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_vignette(case_id):
    table = load_vignettes().set_index("case_id")
    case = table.loc[case_id]
    fields = parse_inputs(case["inputs"], case["criteria"])
    key = "crs_grade" if case["syndrome"] == "CRS" else "icans_grade"
    if case_id in WORDING_CONFLICTS:
        assert grade_observation(fields, "astct", assume_normal=True)[key] == 1  # literal table reading
        fields.update(WORDING_CONFLICTS[case_id])
    graded = grade_observation(fields, "astct", assume_normal=True)
    assert graded[key] == int(case["expected_grade"]), (case_id, fields, graded)


def test_vignettes_grade_the_same_in_one_frame():
    """The vectorised path over all vignettes at once equals the one-at-a-time path."""
    table = load_vignettes()
    rows = [{"patient_id": i, "time_day": 0.0, **parse_inputs(r.inputs, r.criteria), **WORDING_CONFLICTS.get(r.case_id, {})}
            for i, r in enumerate(table.itertuples())]
    graded = grade_frame(pd.DataFrame(rows), "astct", assume_normal=True)
    got = np.where(table["syndrome"] == "CRS", graded["crs_grade"], graded["icans_grade"])
    np.testing.assert_array_equal(got, table["expected_grade"].to_numpy())


# --- boundaries of each cell (Lee 2019 Tables 4, 6, 7) ------------------------------------------

@pytest.mark.parametrize(
    "fields, grade",
    [
        ({"temperature_c": 37.99}, 0),
        ({"temperature_c": 38.0}, 1),
        ({"temperature_c": 38.0, "map_mmhg": 65}, 1),
        ({"temperature_c": 38.0, "map_mmhg": 64}, 2),
        ({"temperature_c": 38.0, "sbp_mmhg": 89}, 2),
        ({"temperature_c": 38.0, "sbp_mmhg": 90}, 1),
        ({"temperature_c": 38.0, "vasopressin": True}, 3),
        ({"temperature_c": 38.0, "vasopressors": 1, "vasopressin": True}, 3),
        ({"temperature_c": 38.0, "vasopressors": 3}, 4),
        ({"temperature_c": 38.0, "o2_support": "blow_by"}, 2),
        ({"temperature_c": 38.0, "o2_flow_l_per_min": 4}, 2),  # flow without device = nasal cannula
        ({"temperature_c": 38.0, "o2_support": "high_flow", "o2_flow_l_per_min": 6}, 3),
        ({"temperature_c": 38.0, "o2_support": "face_mask"}, 3),
        ({"temperature_c": 38.0, "o2_support": "non_rebreather"}, 3),
        ({"temperature_c": 38.0, "o2_support": "venturi"}, 3),
        ({"temperature_c": 38.0, "o2_support": "bipap"}, 4),
        ({"temperature_c": 38.0, "o2_support": "mechanical_ventilation"}, 4),
        ({"temperature_c": 38.0, "vasopressors": 1, "o2_support": "cpap"}, 4),
        # no fever and no therapy: hypotension alone is not CRS
        ({"temperature_c": 37.0, "vasopressors": 2}, 0),
        # fever not required after steroids or antipyretics either
        ({"temperature_c": 37.0, "steroids_given": True, "o2_support": "face_mask"}, 3),
        ({"temperature_c": 37.0, "antipyretics_given": True, "map_mmhg": 60}, 2),
        ({"temperature_c": 37.0, "tocilizumab_given": True}, 0),
        # clinician judgement overrides the MAP threshold
        ({"temperature_c": 38.5, "map_mmhg": 60, "hypotension": False}, 1),
    ],
)
def test_crs_boundaries(fields, grade):
    assert grade_observation(fields, "astct", assume_normal=True)["crs_grade"] == grade


@pytest.mark.parametrize(
    "fields, grade",
    [
        ({"ice_score": 10}, 0),
        ({"ice_score": 9}, 1),
        ({"ice_score": 7}, 1),
        ({"ice_score": 3}, 2),
        ({"ice_score": 2}, 3),
        ({"ice_score": 0}, 3),
        ({"ice_score": 0, "consciousness": "unarousable"}, 4),
        ({"ice_score": 10, "consciousness": "awakens_spontaneously"}, 1),
        ({"ice_score": 10, "consciousness": "tactile"}, 3),
        ({"ice_score": 10, "seizure": "prolonged"}, 4),
        ({"ice_score": 10, "cerebral_edema": "diffuse"}, 4),
        ({"ice_score": 10, "raised_icp_signs": True}, 4),
        ({"ice_score": 10, "cerebral_edema": "diffuse", "intracranial_hemorrhage": True}, 4),
        ({}, 0),
        ({"ice_score": 10, "tremor_myoclonus": True}, 0),
        ({"ice_score": 10, "cerebral_edema": "focal", "intracranial_hemorrhage": True}, 0),
        # children < 12 y: CAPD
        ({"age_years": 6, "capd_score": 0}, 0),
        ({"age_years": 6, "capd_score": 1}, 1),
        ({"age_years": 6, "capd_score": 8}, 1),
        ({"age_years": 6, "capd_score": 8, "consciousness": "voice"}, 2),
        ({"age_years": 6, "capd_score": 9}, 3),
        ({"age_years": 6, "consciousness": "unarousable"}, 4),
        ({"age_years": 12, "ice_score": 6, "capd_score": 12}, 2),  # 12 y and over: ICE
    ],
)
def test_icans_boundaries(fields, grade):
    assert grade_observation(fields, "astct", assume_normal=True)["icans_grade"] == grade


def test_rules_name_the_deciding_domain():
    g = grade_observation({"temperature_c": 39.5, "vasopressors": 1, "o2_support": "low_flow", "ice_score": 5, "seizure": "brief"}, assume_normal=True)
    assert "one vasopressor" in g["crs_rule"]
    assert "seizure" in g["icans_rule"]
    assert astct.VERSION.startswith("ASTCT 2019")
