"""Endpoints and their confidence intervals on known small examples (synthetic patients tables)."""

import math

import numpy as np
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.trial.endpoints import (
    ENDPOINTS,
    clopper_pearson,
    compute_endpoints,
    median_ci,
    summarise_replicates,
    toxicity_by_scale,
)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (5, 10, 0.187086, 0.812914),   # standard table value
        (0, 10, 0.0, 0.308497),        # one-sided at zero: 1 - 0.025**(1/10)
        (10, 10, 0.691503, 1.0),
        (81, 100, 0.7193, 0.8816),
    ],
)
def test_clopper_pearson_known_values(k, n, low, high):
    lo, hi = clopper_pearson(k, n)
    assert lo == pytest.approx(low, abs=1e-4)
    assert hi == pytest.approx(high, abs=1e-4)


def test_median_ci_order_statistics():
    # n = 10: ranks 2 and 9 give coverage 97.9 % (the smallest interval reaching 95 %)
    assert median_ci(np.arange(1, 11)) == (5.5, 2.0, 9.0)
    # n = 100: the textbook ranks 40 and 61
    assert median_ci(np.arange(1, 101))[1:] == (40.0, 61.0)
    assert all(math.isnan(v) for v in median_ci([]))


def test_every_endpoint_for_both_sets(patients):
    out = compute_endpoints(patients, scale="astct")
    assert set(out) == {"scale", "itt", "infused"}
    for s in ("itt", "infused"):
        assert set(out[s]) == set(ENDPOINTS)
        for name, e in out[s].items():
            assert {"estimate", "ci_low", "ci_high", "n", "unit", "method"} <= set(e), name
            if e["estimate"] is not None and e["ci_low"] is not None:
                assert e["ci_low"] <= e["estimate"] + 1e-12 <= e["ci_high"] + 2e-12, name


def test_rates_match_hand_counts(patients):
    out = compute_endpoints(patients)
    inf = patients[patients.infused]
    k = int(inf.best_response.isin(["CR", "PR"]).sum())
    assert out["infused"]["orr"]["estimate"] == pytest.approx(k / len(inf))
    assert out["infused"]["orr"]["k"] == k
    # ITT: not-infused patients count as non-responders over all enrolled
    assert out["itt"]["orr"]["estimate"] == pytest.approx(k / len(patients))
    assert out["itt"]["enrolled"]["estimate"] == len(patients)
    assert out["itt"]["infused"]["estimate"] == len(inf)
    assert out["infused"]["crs_grade3plus"]["estimate"] == pytest.approx((inf.crs_max_grade_astct >= 3).mean())
    lo, hi = clopper_pearson(k, len(inf))
    assert out["infused"]["orr"]["ci_low"] == pytest.approx(lo)
    assert out["infused"]["orr"]["ci_high"] == pytest.approx(hi)


def test_known_small_example(make_patients):
    df = make_patients(10, seed=3, n_not_infused=0)
    df["best_response"] = ["CR"] * 5 + ["PD"] * 5
    out = compute_endpoints(df)
    e = out["infused"]["orr"]
    assert (e["estimate"], round(e["ci_low"], 3), round(e["ci_high"], 3)) == (0.5, 0.187, 0.813)


def test_scale_selects_columns(patients):
    a = compute_endpoints(patients, scale="astct")["infused"]["crs_grade3plus"]["estimate"]
    b = compute_endpoints(patients, scale="lee2014")["infused"]["crs_grade3plus"]["estimate"]
    assert b >= a
    tox = toxicity_by_scale(patients)
    assert set(tox.scale) == {"astct", "lee2014"}


def test_km_endpoints_against_lifelines_and_no_censoring(make_patients):
    df = make_patients(40, seed=5, n_not_infused=0)
    df["pfs_day"] = np.arange(1, 41) * 30.0
    df["pfs_event"] = True
    out = compute_endpoints(df)["infused"]
    # no censoring: KM median = sample median of event times (lifelines takes the first time S <= 0.5)
    assert out["pfs_median_month"]["estimate"] == pytest.approx(600.0 / 30.4375)
    # 12 months = 365.25 d: 12 of 40 events by day 360 -> S = 28/40
    assert out["pfs_12m"]["estimate"] == pytest.approx(28 / 40)
    assert out["pfs_12m"]["ci_low"] < 0.7 < out["pfs_12m"]["ci_high"]


def test_missing_column_named(patients):
    with pytest.raises(ValidationError, match="patients.tmax_day"):
        compute_endpoints(patients.drop(columns="tmax_day"))
    with pytest.raises(ValidationError, match="patients.crs_max_grade_penn"):
        compute_endpoints(patients, scale="penn")
    bad = patients.copy()
    bad.loc[7, "best_response"] = "XR"
    with pytest.raises(ValidationError, match="best_response"):
        compute_endpoints(bad)


def test_replicate_summary(make_patients):
    reps = [compute_endpoints(make_patients(40, seed=s)) for s in range(5)]
    summ = summarise_replicates(reps)
    orr = [r["infused"]["orr"]["estimate"] for r in reps]
    assert summ["infused"]["orr"]["mean"] == pytest.approx(np.mean(orr))
    assert summ["infused"]["orr"]["p2_5"] <= summ["infused"]["orr"]["median"] <= summ["infused"]["orr"]["p97_5"]
    assert summ["n_replicates"] == 5
    with pytest.raises(ValidationError):
        summarise_replicates([])


def test_haematotoxicity_endpoints_are_rates_among_patients_assessed(patients):
    """Grade >= 3 cytopenias on days 28/90 and ICAHT >= 3 (issue 24): counted among patients with
    a value; absent columns give no estimate rather than 0 %."""
    p = patients.copy()
    n = len(p)
    d28 = np.full(n, np.nan)
    d28[:10] = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    p["neutropenia_grade3plus_d28"] = d28
    p["icaht_early_grade3plus"] = np.where(np.arange(n) < 20, (np.arange(n) % 5 >= 3).astype(float), np.nan)
    out = compute_endpoints(p)["itt"]
    e = out["neutropenia_grade3plus_d28"]
    assert (e["k"], e["n"], e["estimate"]) == (3, 10, 0.3)
    lo, hi = clopper_pearson(3, 10)
    assert (e["ci_low"], e["ci_high"]) == pytest.approx((lo, hi))
    e = out["icaht_early_grade3plus"]
    assert (e["k"], e["n"]) == (8, 20)
    for name in ("thrombocytopenia_grade3plus_d90", "icaht_late_grade3plus"):
        assert out[name]["estimate"] is None and out[name]["n"] == 0
    assert {"neutropenia_grade3plus_d28", "icaht_late_grade3plus"} <= set(ENDPOINTS)
