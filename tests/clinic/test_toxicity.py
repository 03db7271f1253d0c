"""Per-patient haematotoxicity of a simulated cohort from the same graders as `cartwin grade --labs`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.toxicity import haematotoxicity_course


def _obs():
    days = np.concatenate([np.arange(0, 29), [42.0, 60.0, 90.0]])
    rows = []
    # patient 1: ANC <= 100 on days 2-15 (14 days: early ICAHT 4), grade 4 on day 28, late <= 500
    # patient 2: never below 1500; platelets 20 (grade 4) on day 90 only
    for d in days:
        anc1 = 50.0 if 2 <= d <= 15 else (400.0 if d >= 28 else 2000.0)
        rows.append({"patient_id": 1, "time_day": d, "anc_per_ul": anc1, "platelets_per_nl": 150.0})
        rows.append({"patient_id": 2, "time_day": d, "anc_per_ul": 3000.0, "platelets_per_nl": 20.0 if d == 90 else 150.0})
    return pd.DataFrame(rows)


def test_cytopenias_on_days_28_and_90_and_icaht_per_patient():
    out = haematotoxicity_course(_obs()).set_index("patient_id")
    assert out.loc[1, "neutropenia_grade3plus_d28"] == 1.0 and out.loc[2, "neutropenia_grade3plus_d28"] == 0.0
    assert out.loc[1, "neutropenia_grade3plus_d90"] == 1.0
    assert out.loc[2, "thrombocytopenia_grade3plus_d90"] == 1.0 and out.loc[2, "thrombocytopenia_grade3plus_d28"] == 0.0
    assert out.loc[1, "icaht_early_grade"] == 4 and out.loc[1, "icaht_early_grade3plus"] == 1.0
    # days 29-30 are unmeasured (next count day 42): patient 2's early grade is open (0 or 1),
    # not a silent 0 - but grade >= 3 is ruled out
    assert np.isnan(out.loc[2, "icaht_early_grade"]) and out.loc[2, "icaht_early_grade3plus"] == 0.0
    assert out.loc[1, "icaht_late_grade"] == 3 and out.loc[2, "icaht_late_grade"] == 0
    assert out.loc[1, "icaht_late_grade3plus"] == 1.0 and out.loc[2, "icaht_late_grade3plus"] == 0.0
    # any time from infusion on: the incidence an adverse-event table reports
    assert out.loc[1, "neutropenia_grade3plus"] == 1.0 and out.loc[2, "neutropenia_grade3plus"] == 0.0
    assert out.loc[1, "thrombocytopenia_grade3plus"] == 0.0 and out.loc[2, "thrombocytopenia_grade3plus"] == 1.0


def test_no_count_that_day_is_missing_not_zero():
    obs = _obs()
    obs = obs[obs.time_day != 90.0]
    out = haematotoxicity_course(obs)
    assert out["neutropenia_grade3plus_d90"].isna().all()
    without = haematotoxicity_course(obs.drop(columns=["anc_per_ul"]))
    assert without["neutropenia_grade3plus"].isna().all()
    assert without["neutropenia_grade3plus_d28"].isna().all() and without["icaht_early_grade"].isna().all()


def test_toxicity_timing_separates_early_from_late_grades():
    import pandas as pd

    from cartwin.clinic.toxicity import toxicity_timing

    graded = pd.DataFrame({
        "patient_id": [1, 1, 1, 2, 2, 2],
        "time_day": [3.0, 20.0, 90.0, 5.0, 40.0, 70.0],
        "crs_grade": [2.0, 0.0, 3.0, 1.0, 0.0, 0.0],
        "icans_grade": [0.0, 1.0, 0.0, 3.0, 2.0, 0.0],
    })
    out = toxicity_timing(graded).set_index("patient_id")
    assert out.loc[1, "crs_max_grade_by_day28"] == 2 and out.loc[1, "crs_last_day"] == 90.0  # a late grade 3
    assert out.loc[2, "icans_max_grade_by_day28"] == 3 and out.loc[2, "icans_grade2plus_last_day"] == 40.0
    assert pd.isna(out.loc[1, "icans_grade2plus_last_day"])
