"""The B-ALL escape-subclone prevalence: its fit, its record, and what the ELIANA population reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cartwin.calibrate import antigen_escape as ae
from cartwin.population.covariates import COVARIATE_MODELS


def test_binomial_loglik_peaks_at_the_observed_share():
    shares = np.linspace(0.05, 0.95, 181)
    ll = [ae.binomial_loglik(s, 14, 19) for s in shares]
    assert shares[int(np.argmax(ll))] == pytest.approx(14 / 19, abs=0.005)


def test_record_is_a_fit_of_the_published_count():
    record = json.loads(ae.RECORD.read_text())
    assert record["data"]["antigen_negative_relapses"] == 14 and record["data"]["relapses"] == 19
    lo, hi = record["interval_95"]
    assert lo < record["prevalence"] < hi
    # The simulated share at the fit is near the observed 14/19, and the likelihood grid peaks
    # at the grid point nearest the interpolated maximum (the profile is unimodal).
    assert abs(record["simulated_share_at_fit"] - 14 / 19) < 0.05
    grid = record["grid"]
    shares = [g["simulated_share"] for g in grid]
    assert all(b >= a - 0.01 for a, b in zip(shares, shares[1:], strict=False))  # more carriers, more escape
    best = max(grid, key=lambda g: g["loglik"])
    assert abs(best["prevalence"] - record["prevalence"]) <= 0.05 + 1e-9
    assert record["command"] == "python scripts/calibrate_antigen_escape.py"


def test_eliana_population_reads_the_record():
    record = json.loads(ae.RECORD.read_text())
    marginal = COVARIATE_MODELS["eliana"].marginals["antigen_negative_fraction"]
    assert (marginal.p, marginal.low, marginal.high) == (record["prevalence"], ae.LOW, ae.HIGH)
    assert "fitted" in marginal.source
    draws = COVARIATE_MODELS["eliana"].sample(4000, seed=3)["antigen_negative_fraction"].to_numpy()
    carriers = draws > 0
    assert abs(carriers.mean() - record["prevalence"]) < 0.03
    assert draws[carriers].min() >= ae.LOW and draws[carriers].max() <= ae.HIGH


def test_escape_share_rises_with_the_prevalence():
    """The mechanism the fit inverts: more patients with a subclone, more antigen-negative relapses."""
    low, n_low = ae.simulated_share(0.1, 300, seed=2)
    high, n_high = ae.simulated_share(0.7, 300, seed=2)
    assert n_high > n_low and high > low + 0.2


@pytest.mark.parametrize(("kwargs", "field"), [({"n": -5}, "n"), ({"n": 50}, "n"), ({"seed": -1}, "seed"),
                                                ({"grid": (0.5, 0.2, 0.9)}, "grid"), ({"grid": (0.0, 0.5, 1.0)}, "grid")])
def test_fit_refuses_bad_settings_before_simulating(kwargs, field):
    from cartwin.foundation.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        ae.fit(**kwargs)
    assert err.value.field == field
