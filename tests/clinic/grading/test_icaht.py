"""EHA/EBMT ICAHT (Rejeski K et al. Blood 2023;142:865-877) at every boundary of the rule table
(cartwin.clinic.grading.icaht; provenance in docs/grading.md): just below, at and above each
duration (6/7, 13/14 and 30/31 days with ANC <= 500/uL; 6/7 and 13/14 days <= 100/uL), each
threshold (500/501, 100/101; late 1500/1501, 1000/1001, 500/501, 100/101), the non-stable
recovery gap (2/3 days) and the windows (day 30 early, day 31 late)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwin.clinic.grading.icaht import early_grade, icaht
from cartwin.foundation.errors import DataError

DAYS = np.arange(0, 31)


def _daily(low_days: int, value: float, start: int = 2) -> pd.DataFrame:
    anc = np.where((DAYS >= start) & (DAYS < start + low_days), value, 2500.0)
    return pd.DataFrame({"patient_id": 1, "time_day": DAYS.astype(float), "anc_per_ul": anc})


@pytest.mark.parametrize(("days", "value", "grade"), [
    (0, 300.0, 0), (1, 300.0, 1), (6, 300.0, 1), (7, 300.0, 2), (13, 300.0, 2), (14, 300.0, 3), (25, 300.0, 3),
    (6, 100.0, 1), (7, 100.0, 3), (13, 100.0, 3), (14, 100.0, 4), (7, 501.0, 0), (14, 500.0, 3), (14, 101.0, 3),
])
def test_early_grade_at_each_duration_boundary(days, value, grade):
    g = icaht(_daily(days, value)).iloc[0]
    assert int(g.early_icaht_grade) == grade and g.early_icaht_status == "observed"


@pytest.mark.parametrize(("case", "anc", "grade"), [
    # ANC <= 500/uL on every day 0-30 ("never recovering ANC > 500"): grade 4, even with <= 100 for < 14 days
    ("31 days <= 500 (never above)", {(0, 31): 300.0}, 4),
    ("30 days <= 500 (day 0 above)", {(1, 31): 300.0}, 3),
    ("30 days <= 500 (day 30 above)", {(0, 30): 300.0}, 3),
    ("31 days at 500 exactly", {(0, 31): 500.0}, 4),
    ("31 days at 501", {(0, 31): 501.0}, 0),
    ("31 days <= 500, 13 of them <= 100", {(0, 31): 300.0, (5, 18): 50.0}, 4),
    # a 2-day rise above 500 is non-stable recovery and counts: still never (stably) above 500
    ("31 days with a 2-day blip above 500", {(0, 31): 300.0, (10, 12): 800.0}, 4),
    ("3-day recovery is stable: 28 days", {(0, 31): 300.0, (10, 13): 800.0}, 3),
    # ANC <= 100 durations with the <= 500 count below 14
    ("7 days at 101 (counts <= 500 only)", {(2, 9): 101.0}, 2),
    ("7 days at 100", {(2, 9): 100.0}, 3),
    ("13 days at 100", {(2, 15): 100.0}, 3),
    ("14 days at 100", {(2, 16): 100.0}, 4),
])
def test_early_grade_vignettes(case, anc, grade):
    values = np.full(DAYS.size, 2500.0)
    for (start, stop), value in anc.items():
        values[start:stop] = value
    g = icaht(pd.DataFrame({"patient_id": 1, "time_day": DAYS.astype(float), "anc_per_ul": values})).iloc[0]
    assert int(g.early_icaht_grade) == grade, case
    assert g.early_icaht_status == "observed"


def test_the_early_window_is_days_0_to_30_and_late_starts_on_day_31():
    base = pd.DataFrame({"patient_id": 1, "time_day": np.arange(-5, 41).astype(float), "anc_per_ul": 2500.0})

    def graded(low_days):
        obs = base.assign(anc_per_ul=np.where(base.time_day.isin(low_days), 300.0, 2500.0))
        return icaht(obs).iloc[0]

    assert int(graded([-5, -4, -3, -2, -1]).early_icaht_grade) == 0  # before infusion: not counted
    assert int(graded([30]).early_icaht_grade) == 1 and int(graded([30]).late_icaht_grade) == 0
    g = graded([31, 32])
    assert int(g.early_icaht_grade) == 0 and int(g.late_icaht_grade) == 3
    g = graded([30, 31])  # day 30 is early only: one late count is transient
    assert int(g.early_icaht_grade) == 1 and int(g.late_icaht_grade) == 0
    # days are floor(time_day): a count at time 30.5 is day 30, early
    obs = pd.DataFrame({"patient_id": 1, "time_day": [30.5, 35.0, 40.0], "anc_per_ul": [300.0, 300.0, 3000.0]})
    g = icaht(obs).iloc[0]
    assert int(g.early_days_anc_le_500) == 1 and int(g.late_icaht_grade) == 0
    # two late counts need not be consecutive
    obs = pd.DataFrame({"patient_id": 1, "time_day": [35.0, 40.0, 45.0], "anc_per_ul": [400.0, 3000.0, 450.0]})
    assert int(icaht(obs).iloc[0].late_icaht_grade) == 3


def test_an_unrecovered_course_cut_short_is_a_lower_bound_with_upper_bound_4():
    obs = pd.DataFrame({"patient_id": 1, "time_day": np.arange(0, 17).astype(float), "anc_per_ul": 300.0})
    g = icaht(obs).iloc[0]  # e.g. death on day 16 without count recovery (Liang's grader: grade 4)
    assert int(g.early_icaht_grade) == 3 and int(g.early_icaht_grade_upper) == 4
    assert g.early_icaht_status == "lower bound"


def test_cumulative_and_non_stable_recovery():
    # 5 + 4 days <= 500 separated by 2 days above (non-stable recovery counts): 11 -> grade 2
    anc = np.full(31, 2500.0)
    anc[2:7] = 300.0
    anc[9:13] = 300.0
    g = icaht(pd.DataFrame({"patient_id": 1, "time_day": DAYS, "anc_per_ul": anc})).iloc[0]
    assert int(g.early_days_anc_le_500) == 11 and int(g.early_icaht_grade) == 2
    # a 3-day recovery is stable: 5 + 4 = 9 days -> still grade 2, counted 9
    anc = np.full(31, 2500.0)
    anc[2:7] = 300.0
    anc[10:14] = 300.0
    g = icaht(pd.DataFrame({"patient_id": 1, "time_day": DAYS, "anc_per_ul": anc})).iloc[0]
    assert int(g.early_days_anc_le_500) == 9


def test_unmeasured_days_bound_the_grade():
    obs = _daily(14, 300.0)
    obs = obs[~obs.time_day.isin([20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30])]  # gap at the end
    g = icaht(obs).iloc[0]
    assert int(g.early_icaht_grade) == 3 and g.early_icaht_status == "determined"
    obs = _daily(20, 300.0)[lambda d: d.time_day.isin([0, 4, 12, 20])]  # sparse: 4->12 too far to bridge
    g = icaht(obs).iloc[0]
    assert g.early_icaht_status in ("lower bound", "not assessable") and int(g.early_icaht_grade_upper) >= 3
    none = icaht(pd.DataFrame({"patient_id": [1], "time_day": [45.0], "anc_per_ul": [300.0]})).iloc[0]
    assert pd.isna(none.early_icaht_grade) and none.early_icaht_status == "not assessable"


@pytest.mark.parametrize(("anc", "grade"), [
    ((1501, 1501), 0), ((1500, 1500), 1), ((1000, 1000), 2), ((1001, 1001), 1), ((500, 500), 3), ((501, 501), 2),
    ((100, 100), 4), ((101, 101), 3), ((100, 3000), 0),  # one low count is transient
])
def test_late_grade_needs_two_measurements_at_or_below_the_threshold(anc, grade):
    obs = pd.DataFrame({"patient_id": 1, "time_day": [45.0, 60.0], "anc_per_ul": anc})
    g = icaht(obs).iloc[0]
    assert int(g.late_icaht_grade) == grade and g.late_icaht_status == "observed"
    single = icaht(obs.iloc[:1]).iloc[0]
    assert pd.isna(single.late_icaht_grade) and single.late_icaht_status == "not assessable"


def test_si_units_and_grade_table():
    obs = _daily(14, 300.0).assign(anc_per_nl=lambda d: d.anc_per_ul / 1000.0).drop(columns="anc_per_ul")
    assert int(icaht(obs).iloc[0].early_icaht_grade) == 3
    assert early_grade(np.array([0, 6, 7, 13, 14, 0, 30, 31]), np.array([0, 0, 0, 7, 0, 14, 0, 0])).tolist() == [
        0, 1, 2, 3, 3, 4, 3, 4]
    with pytest.raises(DataError, match="anc_per_ul"):
        icaht(pd.DataFrame({"patient_id": [1], "time_day": [1.0]}))
