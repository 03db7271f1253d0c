"""A drawn patient never stops a trial: every patient's parameters are inside the bounds after
the product, calibration and journey factors (cartwin trial zuma-2 --n 1000 --seed 11 drew
k_endothelial_on_per_day = 104.6 > 100 and stopped)."""

import numpy as np
import pytest

from cartwin.model.cart import CarTPatientModel
from cartwin.trial.protocol import list_protocols, load_protocol

SIMULABLE = [name for name in list_protocols() if not load_protocol(name).is_placeholder]


@pytest.mark.parametrize("name", SIMULABLE)
def test_every_patients_parameters_are_inside_the_bounds(name):
    from cartwin.journey import simulate_journeys
    from cartwin.trial.runner import _journey_config, _patient_parameters, calibrated_factors, enrol

    protocol = load_protocol(name)
    n = 3000
    enrolled = enrol(protocol, n, 11)
    journey = simulate_journeys(_journey_config(protocol), n, 11)
    params = _patient_parameters(protocol, enrolled, journey, dict(calibrated_factors(protocol)), 11)
    specs = CarTPatientModel.parameter_specs()
    for key, values in params.items():
        v = np.asarray(values, dtype=float)
        assert np.all(np.isfinite(v)), key
        assert v.min() >= specs[key].low and v.max() <= specs[key].high, (key, v.min(), v.max())


def test_zuma2_seed_11_patient_is_inside_the_bounds():
    from cartwin.journey import simulate_journeys
    from cartwin.model import CarTPatientModel
    from cartwin.trial.runner import _journey_config, _patient_parameters, calibrated_factors, enrol

    protocol = load_protocol("zuma-2")
    enrolled = enrol(protocol, 1000, 11)
    journey = simulate_journeys(_journey_config(protocol), 1000, 11)
    k = _patient_parameters(protocol, enrolled, journey, dict(calibrated_factors(protocol)), 11)["k_neurovascular_on_per_day"]
    high = CarTPatientModel.parameter_specs()["k_neurovascular_on_per_day"].high
    assert k.max() <= high
    assert k.max() > 50.0  # the tail of the drawn susceptibility is still there (ω² 2.0)


@pytest.mark.slow
def test_zuma2_1000_seed_11_runs(tmp_path):
    from typer.testing import CliRunner

    from cartwin.cli.main import app

    res = CliRunner().invoke(app, ["trial", "zuma-2", "--n", "1000", "--seed", "11", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "endpoints.json").exists()
