"""The endpoint-equivalence checker (issue #25's accuracy target): a candidate equal to its
reference up to round-off passes; one with a few grades or survival times moved fails, and it
says which criterion and which endpoints."""

import math

import numpy as np
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.trial.endpoints import compute_endpoints
from cartwin.trial.equivalence import compare_results

N = 2000


def _pair(make_patients, change=None):
    ref = make_patients(N, seed=3, n_not_infused=100)
    cand = ref.copy()
    if change is not None:
        change(cand)
    return compare_results(ref, compute_endpoints(ref), cand, compute_endpoints(cand))


def test_a_candidate_equal_to_round_off_passes(make_patients):
    def round_off(df):
        for c in ("pfs_day", "os_day", "dor_day", "cmax_copies_per_ug", "auc0_28_day_copies_per_ug"):
            df[c] = df[c] * (1 + 1e-12)

    report = _pair(make_patients, round_off)
    assert report.passed and report.endpoints_pass and report.grades_pass
    assert report.grade_agreement == 1.0 and report.patients_compared == N - 100
    assert 0 < report.worst_ratio < 1e-6  # the KM and kinetic medians moved by round-off only
    assert {"crs_max_grade_astct", "icans_max_grade_lee2014"} <= set(report.grade_columns)
    assert {(d.set, d.endpoint) for d in report.endpoints} >= {("itt", "orr"), ("infused", "pfs_12m"), ("infused", "cmax_median")}


def test_moved_grades_fail_the_grade_criterion_even_where_rates_hold(make_patients):
    def move(df):
        # Three patients (0.16 % of the infused) one grade up and three one grade down at grades
        # 1 <-> 2: no rate with a >=1 or >=3 threshold changes.
        ones = np.flatnonzero(df["infused"] & (df["crs_max_grade_astct"] == 1))[:3]
        twos = np.flatnonzero(df["infused"] & (df["crs_max_grade_astct"] == 2))[:3]
        df.loc[ones, "crs_max_grade_astct"] = 2
        df.loc[twos, "crs_max_grade_astct"] = 1

    report = _pair(make_patients, move)
    assert report.endpoints_pass and not report.grades_pass and not report.passed
    assert report.grade_agreement == pytest.approx(1 - 6 / (N - 100))


def test_a_shifted_rate_fails_the_endpoint_criterion_and_is_named(make_patients):
    def shift(df):
        infused_sd = np.flatnonzero(df["infused"] & (df["best_response"] == "SD"))[:40]
        df.loc[infused_sd, "best_response"] = "PR"  # ORR +2 percentage points; CI half-width ~2.2

    report = _pair(make_patients, shift)
    assert not report.endpoints_pass and not report.passed
    failing = {f"{d.set}.{d.endpoint}" for d in report.failing()}
    assert {"itt.orr", "infused.orr"} <= failing
    assert report.worst.ratio > 0.5
    assert report.summary()["failing_endpoints"]


def test_a_zero_width_interval_or_a_lost_estimate_must_match_exactly(make_patients):
    ref = make_patients(200, seed=1)
    ref_ep = compute_endpoints(ref)
    cand_ep = compute_endpoints(ref)
    cand_ep["itt"]["enrolled"] = {**cand_ep["itt"]["enrolled"], "estimate": 201}
    cand_ep["infused"]["pfs_median_month"] = {**cand_ep["infused"]["pfs_median_month"], "estimate": None}
    report = compare_results(ref, ref_ep, ref, cand_ep)
    ratios = {f"{d.set}.{d.endpoint}": d.ratio for d in report.endpoints}
    assert math.isinf(ratios["itt.enrolled"]) and math.isinf(ratios["infused.pfs_median_month"])
    assert ratios["itt.orr"] == 0.0
    assert not report.passed


def test_other_patients_are_refused(make_patients):
    ref = make_patients(100, seed=1)
    other = make_patients(100, seed=1)
    other["patient_id"] = other["patient_id"] + 1
    with pytest.raises(ValidationError, match="candidate"):
        compare_results(ref, compute_endpoints(ref), other, compute_endpoints(other))
