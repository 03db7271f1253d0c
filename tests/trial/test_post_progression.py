"""One post-progression survival model per indication and line, used by both arms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cartwin.foundation.errors import ValidationError
from cartwin.trial.comparative import _car_t_latent
from cartwin.trial.post_progression import (
    DAYS_PER_MONTH,
    death_after,
    model_for,
    model_names,
    post_progression_model,
    trial_model,
)
from cartwin.trial.protocol import load_protocol, protocol_from_dict
from cartwin.trial.standard_of_care import simulate_soc


def test_models_reproduce_their_sources():
    scholar = post_progression_model("lbcl-refractory-scholar1")
    # SCHOLAR-1 (Crump 2017): median OS 6.3 months, 2-year OS 20 %.
    np.testing.assert_allclose(scholar.survival([6.3 * DAYS_PER_MONTH, 730.5]), [0.5, 0.2], atol=1e-3)
    assert 0.1 < scholar.long_term_fraction < 0.3
    loco = post_progression_model("mm-triple-class-exposed-locommotion")
    # LocoMMotion final analysis (Mateos 2024, Leukemia 38:2554): median OS 13.8 months.
    np.testing.assert_allclose(loco.survival(13.8 * DAYS_PER_MONTH), 0.5, atol=1e-9)


@pytest.mark.parametrize("key", model_names())
def test_draws_follow_the_model(key):
    m = post_progression_model(key)
    ids = np.arange(20000)
    after = death_after(m, np.zeros(ids.size), ids, seed=3)
    for day in (90.0, 365.0, 730.0):
        assert abs(np.mean(after > day) - float(m.survival(day))) < 0.012
    # A patient's draw is his own: the same whatever else is drawn.
    np.testing.assert_array_equal(death_after(m, np.zeros(5), ids[100:105], seed=3), after[100:105])
    assert np.isinf(death_after(m, np.array([np.nan]), np.array([7]), seed=3)).all()


def test_unknown_or_foreign_model_names_the_field():
    with pytest.raises(ValidationError) as err:
        post_progression_model("nope")
    assert err.value.field == "protocol.randomisation.post_progression"
    data = load_protocol("zuma-7").to_dict()
    data["randomisation"]["post_progression"] = "mm-triple-class-exposed-locommotion"
    with pytest.raises(ValidationError) as err:
        protocol_from_dict(data)
    assert err.value.field == "protocol.randomisation.post_progression"


def _synthetic_car_t(n: int, progression_day: float) -> pd.DataFrame:
    """Infused CAR-T patients who all progress on ``progression_day`` after infusion (day 30)."""
    return pd.DataFrame({
        "patient_id": np.arange(n) * 2, "infused": True, "enrolment_to_infusion_day": 30.0,
        "pfs_day": progression_day, "pfs_event": True, "os_day": progression_day + 100.0, "os_event": True,
        "progression_day": progression_day, "dropout_day": np.nan, "not_infused_reason": None,
        "best_response": "PR", "response_day": 28.0, "crs_max_grade_lee2014": 0.0, "icans_max_grade_lee2014": 0.0})


@pytest.mark.parametrize(("preset", "regimen"), [("zuma-7", "lbcl-salvage-early-relapse"), ("karmma-3", "mm-dpd")])
def test_both_arms_share_the_post_progression_survival(preset, regimen):
    """Time from progression to death has the same distribution in the CAR-T and the SoC arm."""
    protocol = load_protocol(preset)
    model = trial_model(protocol)
    assert model is model_for(protocol.trial.indication, protocol.randomisation.post_progression)
    n = 4000
    car_t = _car_t_latent(protocol, _synthetic_car_t(n, 60.0), follow=3650.0, seed=5, post_progression=model)
    car_t_after = car_t["os_latent_day"].to_numpy() - (60.0 + 30.0)
    soc = simulate_soc(regimen, np.arange(n) * 2 + 1, 5, 3650.0, post_progression=model)
    progressed = soc["pfs_latent_day"] < soc["os_latent_day"]
    soc_after = (soc["os_latent_day"] - soc["pfs_latent_day"])[progressed].to_numpy()
    assert progressed.sum() > 500
    cap = 3000.0  # the CAR-T arm's times end at the simulated horizon
    assert stats.ks_2samp(np.minimum(car_t_after, cap), np.minimum(soc_after, cap)).pvalue > 0.001
    for after in (car_t_after, soc_after):
        assert abs(np.median(after) - 0.0 - _median(model)) < 0.12 * _median(model)


def _median(model) -> float:
    from scipy import optimize

    return optimize.brentq(lambda t: float(model.survival(t)) - 0.5, 1.0, 5000.0)


def test_car_t_arm_keeps_deaths_before_progression():
    """A patient who dies without progressing keeps his single-arm death (non-relapse mortality)."""
    p = _synthetic_car_t(3, np.nan)
    p["pfs_day"], p["os_day"] = 200.0, 200.0
    protocol = load_protocol("zuma-7")
    out = _car_t_latent(protocol, p, follow=730.0, seed=1, post_progression=trial_model(protocol))
    np.testing.assert_allclose(out["os_latent_day"], 230.0)
    assert out["os_latent_event"].all()
