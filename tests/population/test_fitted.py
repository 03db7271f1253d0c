"""A fitted population: the file round-trips, draws follow the fitted distribution (log-normal
IIV, covariate effects, the bounds), and parameters that do not map onto a model are refused by
name."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.model import CarTPatientModel
from cartwin.model.library import Stein2019
from cartwin.population.fitted import (
    CovariateEffect,
    FittedParameter,
    FittedPopulation,
    load_population,
)


def _stein(alpha_cov=()):
    return FittedPopulation("stein2019", "1", (
        FittedParameter("alpha_per_day", "1/day", 0.2, "log", 0.5, tuple(alpha_cov), 1e-4, 10.0),
        FittedParameter("beta_per_day", "1/day", 0.004, "log", 0.8, (), 0.0, 1.0),
        FittedParameter("foldx", "1", 3900.0, "log", 2.4, (), 1.0, 1e7),
    ), fixed={"F_B": {"value": 0.0079, "unit": "1"}}, residual_error={"model": "log", "sigma": 0.5})


def _patients(n, weight=70.0):
    return pd.DataFrame({"patient_id": np.arange(n), "weight_kg": np.broadcast_to(weight, (n,)).astype(float),
                         "height_cm": np.full(n, 170.0)})


def test_file_round_trips_and_a_directory_is_accepted(tmp_path):
    fp = _stein([CovariateEffect("WT", 70.0, 0.75, "power")])
    fp.write(tmp_path / "population.json")
    back = load_population(tmp_path)
    assert back.parameters == fp.parameters and back.model == "stein2019"
    assert back.sha256 == fp.sha256
    data = json.loads((tmp_path / "population.json").read_text())
    assert data["parameters"]["alpha_per_day"]["unit"] == "1/day"
    assert data["parameters"]["alpha_per_day"]["covariates"][0]["unit"] == "kg"
    assert data["parameters"]["alpha_per_day"]["cv_percent"] == pytest.approx(100 * math.sqrt(math.expm1(0.5)))


def test_draws_are_the_fitted_log_normal_with_its_covariate_effect():
    fp = _stein([CovariateEffect("WT", 70.0, 0.75, "power")])
    n = 20000
    light = fp.sample(CarTPatientModel, _patients(n, 35.0), seed=3, use=["alpha_per_day", "beta_per_day"])
    ref = fp.sample(CarTPatientModel, _patients(n, 70.0), seed=3, use=["alpha_per_day", "beta_per_day"])
    assert set(ref) == {"d_effector_per_day", "d_memory_per_day"}
    la = np.log(ref["d_effector_per_day"])
    assert np.median(ref["d_effector_per_day"]) == pytest.approx(0.2, rel=0.03)
    assert np.var(la) == pytest.approx(0.5, rel=0.05)
    assert np.var(np.log(ref["d_memory_per_day"])) == pytest.approx(0.8, rel=0.05)
    # power model: half the weight -> typical value times 0.5^0.75, same patients' etas
    ratio = light["d_effector_per_day"] / ref["d_effector_per_day"]
    assert np.median(ratio) == pytest.approx(0.5 ** 0.75, rel=1e-6)
    # a patient's draw does not depend on the cohort it is drawn in
    few = fp.sample(CarTPatientModel, _patients(5), seed=3, use=["alpha_per_day", "beta_per_day"])
    assert np.array_equal(few["d_effector_per_day"], ref["d_effector_per_day"][:5])


def test_draws_stay_inside_both_models_bounds():
    fp = FittedPopulation("cartwin-cart", "2", (FittedParameter("d_effector_per_day", "1/day", 5.0, "log", 4.0, (), 0.0, 10.0),))
    v = fp.sample(CarTPatientModel, _patients(5000), seed=1)["d_effector_per_day"]
    assert v.max() <= 10.0 and v.min() > 0
    assert np.mean(v == 10.0) == 0.0  # truncated by quantile, no point mass at the bound


def test_unmapped_parameters_are_refused_by_name_with_the_reason():
    with pytest.raises(ValidationError, match="foldx") as info:
        _stein().mapping(CarTPatientModel)
    assert "alpha_per_day -> d_effector_per_day" in str(info.value)
    assert "outcome" in str(info.value)
    with pytest.raises(ValidationError, match="population_parameters"):
        _stein().mapping(CarTPatientModel, use=["k_prolif_per_day"])
    # the fitted model itself maps every parameter
    assert _stein().mapping(Stein2019) == {"alpha_per_day": "alpha_per_day", "beta_per_day": "beta_per_day", "foldx": "foldx"}


def test_units_are_checked():
    fp = FittedPopulation("stein2019", "1", (FittedParameter("alpha_per_day", "1/hour", 0.2, "log", 0.5),))
    with pytest.raises(ValidationError, match=r"alpha_per_day\.unit"):
        fp.mapping(CarTPatientModel)


def test_a_covariate_the_trial_population_lacks_is_named():
    fp = _stein([CovariateEffect("GENOTYPE", 1.0, 0.3, "linear")])
    with pytest.raises(ValidationError, match="GENOTYPE"):
        fp.sample(CarTPatientModel, _patients(3), seed=1, use=["alpha_per_day"])


@pytest.mark.parametrize("change, field", [
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d["parameters"]["alpha_per_day"].update(omega2=-1.0), "omega2"),
    (lambda d: d["parameters"]["alpha_per_day"].update(scale="logit"), "scale"),
    (lambda d: d["parameters"]["alpha_per_day"].pop("unit"), "unit"),
    (lambda d: d["parameters"]["alpha_per_day"].update(typical="fast"), "typical"),
])
def test_bad_files_are_refused_naming_the_field(tmp_path, change, field):
    data = _stein().to_dict()
    change(data)
    path = tmp_path / "population.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match=field):
        load_population(path)
    with pytest.raises(ValidationError, match="population"):
        load_population(tmp_path / "missing")
