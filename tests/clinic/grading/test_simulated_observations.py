"""The graders accept the bedside table the model produces (clinic.observe) and scale to
large cohorts column-wise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import grade_frame, grade_observation
from cartwin.clinic.observe import bedside


def test_bedside_values_from_the_model_grade_monotonically():
    drivers = np.linspace(0.0, 1.0, 41)
    values = bedside({"fever_driver": drivers, "icans_driver": drivers, "crp_mg_per_l": 100.0 * drivers})
    obs = pd.DataFrame(values)
    obs["patient_id"] = np.arange(len(obs))
    obs["time_day"] = 1.0
    g = grade_frame(obs, "astct")
    assert g["crs_grade"].is_monotonic_increasing and g["crs_grade"].iloc[-1] == 4
    assert g["icans_grade"].is_monotonic_increasing and g["icans_grade"].iloc[-1] == 4
    assert g["crs_grade"].iloc[0] == 0 and g["icans_grade"].iloc[0] == 0


def test_large_table_grades_column_wise():
    # Speed is measured in benchmarks/bench_grading.py, not asserted here.
    rng = np.random.default_rng(0)
    n = 100_000
    obs = pd.DataFrame(
        {
            "patient_id": np.repeat(np.arange(n // 50), 50),
            "time_day": np.tile(np.arange(50) * 0.25, n // 50),
            "temperature_c": rng.normal(37.8, 0.8, n).round(1),
            "map_mmhg": rng.normal(75, 10, n).round(0),
            "vasopressors": rng.choice([0, 0, 0, 1, 2], n),
            "o2_support": rng.choice(["none", "low_flow", "high_flow", "cpap"], n),
            "ice_score": rng.integers(0, 11, n),
            "consciousness": rng.choice(["alert", "voice"], n),
        }
    )
    g = grade_frame(obs, "astct")
    assert len(g) == n and g["crs_grade"].between(0, 4).all()
    # Row-wise grading of a sample agrees with the column-wise result.
    for i in rng.choice(n, 20, replace=False):
        one = grade_observation(obs.iloc[i].to_dict(), "astct")
        assert one["crs_grade"] == g["crs_grade"].iloc[i]
