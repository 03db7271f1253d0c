"""A virtual trial with a fitted population: the fitted parameters are drawn from the fitted
distribution (with the trial patients' covariates), every other parameter is the protocol's,
and what was replaced is recorded."""

import json

import numpy as np
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.population.fitted import CovariateEffect, FittedParameter, FittedPopulation
from cartwin.trial.runner import run_trial

ALPHA = FittedParameter("alpha_per_day", "1/day", 0.3, "log", 0.4, (CovariateEffect("WT", 70.0, 1.0, "power"),), 1e-4, 10.0)
BETA = FittedParameter("beta_per_day", "1/day", 0.004, "log", 0.8, (), 0.0, 1.0)
FOLDX = FittedParameter("foldx", "1", 3900.0, "log", 2.4, (), 1.0, 1e7)


@pytest.fixture(scope="module")
def trials():
    fp = FittedPopulation("stein2019", "1", (ALPHA, BETA, FOLDX))
    kw = {"follow_up_days": 60.0}
    return (run_trial("zuma-1", 40, 2, **kw),
            run_trial("zuma-1", 40, 2, population=fp, population_parameters=["alpha_per_day", "beta_per_day"], **kw),
            fp)


def test_fitted_parameters_follow_the_fit_and_the_rest_is_the_protocols(trials):
    base, fitted, _ = trials
    p, p0 = fitted.patients, base.patients
    # d_effector = 0.3 * (WT/70) * exp(eta): the weight effect is visible patient by patient
    eta = np.log(p["param_d_effector_per_day"] / (0.3 * p["weight_kg"] / 70.0))
    assert abs(eta.mean()) < 3 * np.sqrt(0.4 / len(p)) + 0.05 and 0.2 < eta.var() < 0.7
    assert np.median(p["param_d_memory_per_day"]) == pytest.approx(0.004, rel=0.5)
    assert not np.allclose(p["param_d_effector_per_day"], p0["param_d_effector_per_day"])
    for col in ("param_k_prolif_per_day", "param_gamma_kill_per_day", "weight_kg", "infused"):
        assert p[col].equals(p0[col]), col
    # faster contraction than the preset's calibrated effector death: lower exposure
    assert fitted.endpoints["infused"]["cmax_median"]["estimate"] != base.endpoints["infused"]["cmax_median"]["estimate"]


def test_the_trial_records_the_fitted_population(trials, tmp_path):
    _, fitted, fp = trials
    fitted.write(tmp_path)
    record = json.loads((tmp_path / "endpoints.json").read_text())["fitted_population"]
    assert record["sha256"] == fp.sha256
    assert record["parameters"]["d_effector_per_day"]["fitted"] == "alpha_per_day"
    assert record["parameters"]["d_effector_per_day"]["covariates"] == ["WT"]
    assert set(record["drawn"]) == {"d_effector_per_day", "d_memory_per_day"}


def test_a_fitted_calibrated_parameter_supersedes_the_calibration():
    # zuma-1's calibration multiplies k_prolif_per_day (0.5): a fit of it replaces that
    fp = FittedPopulation("cartwin-cart", "2", (FittedParameter("k_prolif_per_day", "1/day", 1.0, "log", 0.1, (), 0.0, 10.0),))
    r = run_trial("zuma-1", 8, 2, population=fp, follow_up_days=30.0)
    assert "k_prolif_per_day" in r.fitted_population["superseded_calibration"]
    assert np.median(r.patients["param_k_prolif_per_day"]) == pytest.approx(1.0, rel=0.3)


def test_refusals_name_the_field():
    fp = FittedPopulation("stein2019", "1", (ALPHA, FOLDX))
    with pytest.raises(ValidationError, match="foldx"):
        run_trial("zuma-1", 5, 1, population=fp)
    with pytest.raises(ValidationError, match="population_parameters"):
        run_trial("zuma-1", 5, 1, population_parameters=["alpha_per_day"])
    with pytest.raises(ValidationError, match="population"):
        run_trial("zuma-1", 5, 1, population="no/such/dir")


def test_sharded_trial_with_a_fitted_population_gives_the_same_patients(tmp_path):
    from cartwin.trial.runner import ShardOptions

    fp = FittedPopulation("stein2019", "1", (ALPHA, BETA))
    kw = {"follow_up_days": 30.0, "population": fp}
    one = run_trial("zuma-1", 10, 4, **kw)
    sharded = run_trial("zuma-1", 10, 4, shards=ShardOptions(out_dir=str(tmp_path / "s"), shard_size=4, progress=False), **kw)
    cols = ["patient_id", "param_d_effector_per_day", "param_d_memory_per_day", "cmax_copies_per_ug", "best_response"]
    assert one.patients[cols].equals(sharded.patients[cols])
