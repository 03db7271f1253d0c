"""CRS, ICANS and their treatment are attributed to CAR-T until documented progression."""

import numpy as np
import pytest

from cartwin.trial.runner import run_trial


@pytest.fixture(scope="module")
def zuma1():
    return run_trial("zuma-1", 300, 5, follow_up_days=730.0).patients.query("infused")


def test_no_crs_or_icans_counted_after_progression(zuma1):
    progressed = zuma1[zuma1["progression_day"].notna()]
    assert len(progressed) > 50  # informative: most ZUMA-1 patients progress within two years
    for column in ("crs_last_day", "icans_last_day", "icans_grade2plus_last_day"):
        last = progressed[column].to_numpy(float)
        seen = np.isfinite(last)
        assert np.all(last[seen] <= progressed["progression_day"].to_numpy(float)[seen]), column


def test_patients_without_progression_are_followed_to_the_end(zuma1):
    """The window is only the progression: a patient in continued response keeps every grade."""
    ongoing = zuma1[zuma1["progression_day"].isna() & zuma1["crs_max_grade_astct"].gt(0)]
    assert len(ongoing) > 20
    assert ongoing["crs_onset_day"].notna().all()
