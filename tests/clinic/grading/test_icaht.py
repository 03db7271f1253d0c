"""EHA/EBMT ICAHT (Rejeski K et al. Blood 2023;142:865-877) at every duration boundary: 6/7 and
13/14 days with ANC <= 500/uL, 6/7 and 13/14 days <= 100/uL; late thresholds at and above."""

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
    assert early_grade(np.array([0, 6, 7, 13, 14, 0]), np.array([0, 0, 0, 7, 0, 14])).tolist() == [0, 1, 2, 3, 3, 4]
    with pytest.raises(DataError, match="anc_per_ul"):
        icaht(pd.DataFrame({"patient_id": [1], "time_day": [1.0]}))
