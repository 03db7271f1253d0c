"""Lee 2014, Penn (Porter 2018) and CTCAE v5.0 CRS: one boundary test per table cell, and the
documented interpretations; the scales are compared on the same observations."""

from __future__ import annotations

import pandas as pd
import pytest

from cartwin.clinic.grading import SCALES, grade_frame, grade_observation
from cartwin.foundation.errors import ValidationError

F = {"temperature_c": 38.5}


@pytest.mark.parametrize(
    "fields, lee, penn, ctcae",
    [
        ({}, 0, 0, 0),
        (F, 1, 1, 1),
        ({**F, "anc_per_ul": 400}, 1, 2, 1),  # Penn: fever with neutropenia
        ({**F, "map_mmhg": 60}, 2, 3, 2),  # fluids only
        ({**F, "vasopressors": 1}, 2, 3, 3),  # one (low-dose) pressor
        ({**F, "vasopressors": 1, "norepinephrine_eq_ug_per_min": 20}, 3, 4, 3),  # high dose
        ({**F, "vasopressors": 1, "norepinephrine_eq_ug_per_min": 19}, 2, 3, 3),
        ({**F, "vasopressors": 1, "vasopressin": True, "norepinephrine_eq_ug_per_min": 10}, 3, 4, 4),
        ({**F, "vasopressors": 2, "norepinephrine_eq_ug_per_min": 12}, 3, 3, 4),  # multiple, not high dose
        ({**F, "vasopressors": 2}, 3, 4, 4),  # no dose: multiple taken as high dose (Penn)
        ({**F, "o2_support": "low_flow", "o2_flow_l_per_min": 4}, 2, 3, 2),  # FiO2 36 %
        ({**F, "o2_support": "low_flow", "o2_flow_l_per_min": 5}, 3, 3, 3),  # FiO2 40 %
        ({**F, "o2_support": "venturi", "fio2_pct": 35}, 2, 3, 2),  # measured FiO2 wins
        ({**F, "o2_support": "non_rebreather"}, 3, 3, 3),
        ({**F, "o2_support": "bipap"}, 4, 3, 4),
        ({**F, "o2_support": "mechanical_ventilation"}, 4, 4, 4),
        ({"temperature_c": 37.0, "vasopressors": 1}, 2, 3, 3),  # fever not required outside ASTCT
    ],
)
def test_crs_cells(fields, lee, penn, ctcae):
    got = [grade_observation(fields, s, assume_normal=True)["crs_grade"] for s in ("lee2014", "penn", "ctcae5")]
    assert got == [lee, penn, ctcae]


def test_non_astct_scales_have_no_icans_grade():
    obs = pd.DataFrame({"patient_id": [1], "time_day": [0.0], "ice_score": [2]})
    for scale in ("lee2014", "penn", "ctcae5"):
        g = grade_frame(obs, scale, assume_normal=True)
        assert g["icans_grade"].isna().all() and (g["icans_rule"] == "").all()
    assert grade_frame(obs, "astct", assume_normal=True)["icans_grade"].tolist() == [3]


def test_every_scale_names_its_version_and_rule():
    for name, scale in SCALES.items():
        assert any(year in scale.version for year in ("2014", "2017", "2018", "2019")), name
        g = grade_observation({**F, "vasopressors": 1}, name, assume_normal=True)
        assert g["crs_rule"] and "hypotension" in g["crs_rule"]


def test_unknown_scale_is_a_validation_error():
    with pytest.raises(ValidationError, match="scale"):
        grade_observation(F, "mskcc")
