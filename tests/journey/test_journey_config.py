"""Journey and network configs: every field rejects a bad value with an error naming it."""

import math

import pytest

from cartwin.foundation.constraints import Interval, OneOf
from cartwin.foundation.errors import ValidationError
from cartwin.journey import (
    JOURNEY_CONSTRAINTS,
    NETWORK_CONSTRAINTS,
    Duration,
    JourneyConfig,
    NetworkConfig,
    load_config,
)
from cartwin.journey.config import _DurationC


def _bad_value(constraint):
    if isinstance(constraint, _DurationC):
        return {"median_day": -2.0}
    if isinstance(constraint, OneOf):
        return "no-such-option"
    assert isinstance(constraint, Interval)
    return constraint.low - 1 if math.isfinite(constraint.low) else constraint.high + 1


@pytest.mark.parametrize("field", list(JOURNEY_CONSTRAINTS))
def test_every_journey_field_rejects_bad_value(field):
    with pytest.raises(ValidationError) as err:
        JourneyConfig.from_dict({field: _bad_value(JOURNEY_CONSTRAINTS[field])})
    assert err.value.field == field or err.value.field.startswith(field + ".")
    assert field in str(err.value)


@pytest.mark.parametrize("field", list(NETWORK_CONSTRAINTS))
def test_every_network_field_rejects_bad_value(field):
    with pytest.raises(ValidationError) as err:
        NetworkConfig.from_dict({field: _bad_value(NETWORK_CONSTRAINTS[field])})
    assert err.value.field == field


@pytest.mark.parametrize(
    "values, field",
    [
        ({"manufacturing": {"median_day": 10, "low_day": 12, "high_day": 20}}, "manufacturing.low_day"),
        ({"shipping_to_site": {"median_day": 3, "high_day": 1}}, "shipping_to_site.high_day"),
        ({"shipping_to_site": {"median": 3}}, "shipping_to_site.median"),
        ({"release_testing": -1}, "release_testing.median_day"),
        ({"release_testing": [1, 2]}, "release_testing"),
        ({"bridging_probability": 1.5}, "bridging_probability"),
        ({"death_hazard_per_day": float("nan")}, "death_hazard_per_day"),
        ({"manufacturing_failure_probability": -0.1}, "manufacturing_failure_probability"),
        ({"product": "allo-cd20"}, "product"),
        ({"manufacturing_days": 3}, "manufacturing_days"),
        ({"bridging_probability": True}, "bridging_probability"),
    ],
)
def test_specific_bad_configs(values, field):
    with pytest.raises(ValidationError) as err:
        JourneyConfig.from_dict(values)
    assert err.value.field == field


def test_duration_forms_and_sampling():
    import numpy as np

    assert JourneyConfig.from_dict({"manufacturing": 7}).manufacturing == Duration.fixed(7.0)
    assert JourneyConfig.from_dict({"manufacturing": [7, 5, 12]}).manufacturing == Duration(7, 5, 12)
    d = Duration(10.0, 8.0, 30.0)
    x = d.sample(np.random.default_rng(0), 20_000)
    assert x.min() >= 8 and x.max() <= 30
    assert np.median(x) == pytest.approx(10.0, rel=0.03)


def test_load_yaml_and_toml(tmp_path):
    y = tmp_path / "j.yaml"
    y.write_text("preset: eliana\nproduct: axi-cel\nnetwork:\n  manufacturing_suites: 3\n")
    journey, network = load_config(y)
    assert journey.product == "axi-cel" and network.manufacturing_suites == 3
    assert journey.tumour_growth_rate_per_day == 0.05  # from the eliana preset
    t = tmp_path / "j.toml"
    t.write_text('product = "liso-cel"\ndeath_hazard_per_day = 0.01\n[network]\nbeds = 5\n')
    journey, network = load_config(t)
    assert journey.death_hazard_per_day == 0.01 and network.beds == 5
    bad = tmp_path / "bad.toml"
    bad.write_text("bridging_probability = 3\n")
    with pytest.raises(ValidationError) as err:
        load_config(bad)
    assert err.value.field == "bridging_probability"
    with pytest.raises(ValidationError) as err:
        load_config({"network": {"suites": 2}})
    assert err.value.field == "network.suites"
    with pytest.raises(ValidationError) as err:
        load_config({"preset": "kymriah-dlbcl"})  # not a preset (karmma is one since 2026-12-07)
    assert err.value.field == "preset"


def test_configs_are_immutable_and_replace_returns_new():
    c = JourneyConfig()
    with pytest.raises(AttributeError):
        c.product = "axi-cel"  # type: ignore[misc]
    c2 = c.replace(product="axi-cel")
    assert c.product == "tisa-cel" and c2.product == "axi-cel"
    assert JourneyConfig.from_dict(c2.to_dict()) == c2


def test_dropout_time_inverts_cumulative_hazard():
    c = JourneyConfig(death_hazard_per_day=0.01, progression_hazard_per_day=0.0,
                      ineligibility_hazard_per_day=0.0, hazard_increase_per_week=0.5)
    for e in (0.01, 0.5, 3.0):
        assert c.cumulative_hazard(c.dropout_time(e)) == pytest.approx(e)
    assert JourneyConfig(death_hazard_per_day=0, progression_hazard_per_day=0,
                         ineligibility_hazard_per_day=0).dropout_time(1.0) == math.inf
