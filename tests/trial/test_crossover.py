"""RPSFT crossover adjustment: a simulated crossover with a known treatment effect is recovered."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.trial.crossover import counterfactual, logrank_z, rpsft

PSI = -0.5  # the therapy stretches survival time by exp(0.5) = 1.65


def _trial(seed: int, n: int = 1500, crossover_share: float = 0.6):
    """Exponential untreated survival (median 12 months); the experimental arm is treated from
    randomisation, control patients cross over at a 'progression' day with the given share."""
    rng = np.random.default_rng(seed)
    u = rng.exponential(365.0 / math.log(2.0), 2 * n)
    x = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    t_true = np.where(x, u * math.exp(-PSI), u)
    progression = u * rng.uniform(0.2, 0.8, 2 * n)
    crossed = ~x & (rng.random(2 * n) < crossover_share)
    t_true = np.where(crossed, progression + (u - progression) * math.exp(-PSI), t_true)
    censor = rng.uniform(365.0, 4 * 365.0, 2 * n)
    t, e = np.minimum(t_true, censor), t_true <= censor
    cross = np.where(crossed & (progression < t), progression, np.nan)
    return t, e, x, cross, censor


def test_logrank_z_squared_is_lifelines_chi_square():
    from lifelines.statistics import logrank_test

    t, e, x, _, _ = _trial(1, n=300)
    z = logrank_z(t, e, x)
    chi2 = logrank_test(t[x], t[~x], e[x], e[~x]).test_statistic
    assert z < 0  # the treated arm has fewer deaths than expected
    assert z**2 == pytest.approx(chi2, rel=1e-9)


def test_rpsft_recovers_a_known_effect():
    psis, hrs, itts = [], [], []
    for seed in range(4):
        r = rpsft(*_trial(100 + seed))
        psis.append(r["psi"])
        hrs.append(r["hr"])
        itts.append(r["itt_hr"])
        assert r["psi_ci"][0] < r["psi"] < r["psi_ci"][1]
        assert r["ci_low"] < r["hr"] < r["ci_high"]
        assert r["crossed_over"] > 500
    # True psi -0.5; with exponential survival the no-crossover HR is exp(psi) = 0.607.
    assert abs(np.mean(psis) - PSI) < 0.08
    assert abs(np.mean(hrs) - math.exp(PSI)) < 0.05
    # The ITT HR is diluted towards 1 by crossover; the adjustment undoes it.
    assert np.mean(itts) > np.mean(hrs) + 0.05


def test_without_crossover_rpsft_gives_the_itt_answer():
    t, e, x, cross, censor = _trial(7, crossover_share=0.0)
    r = rpsft(t, e, x, cross, censor)
    assert r["crossed_over"] == 0
    assert abs(r["psi"] - PSI) < 0.15
    assert abs(math.log(r["hr"]) - math.log(r["itt_hr"])) < 0.1


def test_counterfactual_recensors_every_patient():
    t = np.array([100.0, 200.0])
    u, ue = counterfactual(math.log(2.0), t, np.array([True, True]), np.array([0.0, 150.0]), np.array([150.0, 300.0]))
    # Treated from day 0: U = 2 t = 200 > D* = 150 -> censored at 150; crossed at 150: 150 + 2 x 50 = 250 <= 300.
    np.testing.assert_allclose(u, [150.0, 250.0])
    np.testing.assert_array_equal(ue, [False, True])


def test_bad_input_names_the_field():
    t, e, x, cross, censor = _trial(2, n=50)
    with pytest.raises(ValidationError) as err:
        rpsft(t, e, x, cross, censor * 0.1)
    assert err.value.field == "censor_day"
