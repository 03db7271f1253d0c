"""Daily worst grade, onset, duration, resolution, and bedside alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import alerts, course_summary, daily_grades, grade_frame


def graded(crs, days=None, pid=1):
    days = np.arange(len(crs), dtype=float) if days is None else np.asarray(days, float)
    return pd.DataFrame({"patient_id": pid, "time_day": days, "crs_grade": crs, "crs_rule": "r", "icans_grade": 0, "icans_rule": ""})


def test_daily_grades_keep_the_worst_observation_and_its_rule():
    obs = pd.DataFrame({"patient_id": [1, 1, 1, 1], "time_day": [1.0, 1.25, 1.5, 2.0],
                        "temperature_c": [38.2, 38.9, 38.4, 37.0], "map_mmhg": [80, 60, 80, 80]})
    d = daily_grades(grade_frame(obs, assume_normal=True))
    assert d["day"].tolist() == [1, 2]
    assert d["crs_grade"].tolist() == [2, 0]
    assert d["crs_rule"][0] == "hypotension not requiring vasopressors"
    assert d["n_observations"].tolist() == [3, 1]


def test_course_summary_onset_duration_resolution():
    g = pd.concat([graded([0, 1, 2, 2, 0, 0]), graded([0, 0, 0], pid=2), graded([0, 1, 1], pid=3)])
    s = course_summary(g).set_index("patient_id")
    assert s.loc[1, ["max_grade", "onset_day", "duration_days", "resolution_day"]].tolist() == [2, 1.0, 3, 4.0]
    assert s.loc[2, "max_grade"] == 0 and np.isnan(s.loc[2, "onset_day"]) and s.loc[2, "duration_days"] == 0
    assert np.isnan(s.loc[3, "resolution_day"])  # still ongoing at the last observation
    assert s.loc[1, "daily_grades"] == [0, 1, 2, 2, 0, 0]


def test_course_summary_counts_days_not_observations():
    g = graded([1, 1, 1, 1, 0], days=[1.0, 1.25, 1.5, 1.75, 2.0])
    s = course_summary(g).iloc[0]
    assert s["duration_days"] == 1 and s["resolution_day"] == 2.0


def test_alerts_flag_new_episodes_with_time_stamps():
    obs = pd.DataFrame(
        {
            "patient_id": [1, 1, 1, 1, 1, 2],
            "time_day": [0.0, 0.25, 0.5, 1.0, 2.0, 0.0],
            "datetime": pd.date_range("2024-01-01", periods=6, freq="6h").astype(str),
            "temperature_c": [37.0, 38.0, 38.6, 37.0, 38.3, 36.9],
            "map_mmhg": [80, 80, 64, 70, 80, 80],
            "spo2_pct": [97, 97, 97, 91, 97, 96],
            "ice_score": [10, 10, 10, 8, 8, 9],
        }
    )
    a = alerts(obs)
    rows = list(zip(a["patient_id"], a["time_day"], a["alert"], strict=True))
    assert rows == [
        (1, 0.25, "fever"),
        (1, 0.5, "hypotension"),
        (1, 1.0, "new_confusion"),
        (1, 1.0, "hypoxia"),
        (1, 2.0, "fever"),
        (2, 0.0, "new_confusion"),  # ICE below 10 at the first assessment
    ]
    assert a["detail"][0].startswith("first fever") and a["detail"][4].startswith("recurrent fever")
    assert "ICE 10 -> 8" in a["detail"][2]
    assert "datetime" in a.columns
