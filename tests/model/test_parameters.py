"""Every parameter has a unit, bounds and a source; every bad value is refused by name."""

import math

import numpy as np
import pytest

from cartwin.foundation import ValidationError
from cartwin.model import CarTPatientModel
from cartwin.model.library import Kimmel2021, Stein2019

MODELS = [CarTPatientModel, Kimmel2021, Stein2019]


@pytest.mark.parametrize("model", MODELS)
def test_tables_are_complete(model):
    assert model.states and model.parameter_table
    for s in model.states:
        assert s.unit and s.description
    for p in model.parameter_table:
        assert p.unit and p.source and p.low <= p.value <= p.high


def _cases():
    for model in MODELS:
        for p in model.parameter_table:
            bad = [math.nan, p.high * 2 + 1 if math.isfinite(p.high) else math.nan, p.low - 1]
            for value in bad:
                yield model, p.name, value


@pytest.mark.parametrize("model,name,value", list(_cases()))
def test_every_parameter_rejects_invalid_values(model, name, value):
    with pytest.raises(ValidationError) as err:
        model.parameters(**{name: value})
    assert err.value.field == name


def test_unknown_parameter_is_named():
    with pytest.raises(ValidationError, match="k_typo"):
        CarTPatientModel.parameters(k_typo=1.0)


def test_parameter_set_is_immutable_and_replace_validates():
    p = CarTPatientModel.parameters()
    with pytest.raises(TypeError):
        p["r_N_per_day"] = 1.0  # type: ignore[index]
    q = p.replace(r_N_per_day=0.2)
    assert q.r_N_per_day == 0.2 and p.r_N_per_day != 0.2
    with pytest.raises(ValidationError):
        p.replace(r_N_per_day=-1.0)
    with pytest.raises(ValidationError, match="common length"):
        p.replace(r_N_per_day=np.array([0.1, 0.2]), K_N_cells_per_ul=np.array([1.0, 2.0, 3.0]))


def test_calibrated_defaults_match_calibration_record():
    import json
    from importlib import resources

    record = json.loads(resources.files("cartwin.model").joinpath("data/calibration_v2.json").read_text())
    p = CarTPatientModel.parameters()
    for name, value in record["parameters"].items():
        assert p[name] == value
    assert record["fit_quality"]["max_fold_error"] < 1.5
    assert record["targets"]["car_t_kinetics"]["source"].startswith("Kimmel 2021")


def test_parameter_set_survives_pickle_and_cloudpickle():
    # Dask ships tasks and solvers holding a ParameterSet to worker processes. It has slots and
    # mappingproxies: plain pickling failed, and cloudpickle's copy recursed in __getattr__
    # when unpickled.
    import pickle

    cloudpickle = pytest.importorskip("cloudpickle")
    p = CarTPatientModel.parameters(k_prolif_per_day=np.array([0.5, 0.7, 0.9]))
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        q = loads(dumps(p))
        assert q.n_patients == 3 and dict(q).keys() == dict(p).keys()
        np.testing.assert_array_equal(q.k_prolif_per_day, p.k_prolif_per_day)
        assert q.replace(k_prolif_per_day=0.3)["k_prolif_per_day"] == 0.3  # still validated and immutable
        with pytest.raises(TypeError):
            q._values["k_prolif_per_day"] = 1.0
