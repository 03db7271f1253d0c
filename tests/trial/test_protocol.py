"""Protocols: every shipped preset loads; every field rejects a bad value naming its path."""

import copy
import tomllib

import pytest
import yaml

from cartwin.foundation.errors import ValidationError
from cartwin.trial.protocol import (
    SCHEMA,
    TARGET_SCHEMA,
    list_protocols,
    load_protocol,
    protocol_from_dict,
)

REQUIRED_PRESETS = {"eliana", "juliet", "zuma-1", "transcend", "zuma-2", "karmma", "cartitude-1",
                    "liu2020-car-nk", "alpha-allo501", "ct041"}


def _base() -> dict:
    with open(load_protocol("zuma-1").path.replace("cartwin:", "src/cartwin/"), "rb") as fh:
        return tomllib.load(fh)


def test_presets_listed():
    assert REQUIRED_PRESETS <= set(list_protocols())


@pytest.mark.parametrize("name", sorted(REQUIRED_PRESETS))
def test_every_shipped_protocol_loads(name):
    p = load_protocol(name)
    assert p.targets, name
    for key, t in p.targets.items():
        assert t.source, key
        if t.ci_low is not None:
            assert t.ci_low <= t.value <= t.ci_high
    if not p.is_placeholder:
        p.regimen()  # a simulable regimen
    else:
        assert "product.key" in p.assumed and "trial.indication" in p.assumed
        with pytest.raises(ValidationError, match="protocol.product.key"):
            p.regimen()


def test_clopper_pearson_filled_when_only_rate_and_n():
    t = load_protocol("zuma-1").targets["crs_any"]
    assert t.ci_method.startswith("Clopper-Pearson")
    assert t.ci_low < 0.93 < t.ci_high
    j = load_protocol("juliet").targets["orr"]
    assert (j.ci_low, j.ci_high, j.ci_method) == (0.435, 0.624, "published")


# One bad value per field: (section, field, bad value).
BAD = {
    "trial": {"name": "", "indication": "lymphoma", "phase": "4", "n_enrolled": 0, "follow_up_days": 5,
              "source": 3, "description": 7},
    "eligibility": {"age_min_years": -1, "age_max_years": 200, "prior_lines_min": 1.5, "alc_min_per_ul": -5,
                    "ecog_max": 7},
    "product": {"key": "kymriah", "label": 5},
    "dose": {"value": -3, "per_kg": "yes", "max_cells": 0, "infusions": 0, "interval_days": -1},
    "lymphodepletion": {"fludarabine_mg_per_m2": 500, "cyclophosphamide_mg_per_m2": -1, "days": 9, "note": 1},
    "bridging": {"probability": 1.5, "tumour_reduction_factor": 0},
    "journey": {"name": ""},
    "management": {"policy": "tocilizumab-always"},
    "assessment": {"days": [90, 28], "criteria": "who"},
    "reporting": {"crs_scale": "cars", "icans_scale": "lee"},
    "population": {"covariates": "zuma-9", "iiv": "huge"},
    "calibration": {"parameters": ""},
}


def test_bad_table_covers_schema():
    assert {s: set(f) for s, f in BAD.items()} == {s: set(f) for s, f in SCHEMA.items()}


@pytest.mark.parametrize(("section", "field", "bad"), [(s, f, v) for s, fs in BAD.items() for f, v in fs.items()])
def test_every_field_rejects_a_bad_value(section, field, bad):
    data = copy.deepcopy(_base())
    data.setdefault(section, {})[field] = bad
    with pytest.raises(ValidationError) as err:
        protocol_from_dict(data)
    assert err.value.field == f"protocol.{section}.{field}"
    assert str(err.value).startswith(f"protocol.{section}.{field}: expected ")


BAD_TARGET = {"value": -1, "ci_low": "x", "ci_high": -2, "n": 0, "set": "everyone", "scale": 4, "source": "",
              "fitted": "no", "note": 5}


def test_bad_target_table_covers_schema():
    assert set(BAD_TARGET) == set(TARGET_SCHEMA)


@pytest.mark.parametrize(("field", "bad"), list(BAD_TARGET.items()))
def test_every_target_field_rejects_a_bad_value(field, bad):
    data = copy.deepcopy(_base())
    data["targets"]["orr"][field] = bad
    with pytest.raises(ValidationError) as err:
        protocol_from_dict(data)
    assert err.value.field == f"protocol.targets.orr.{field}"


def test_message_format():
    data = _base()
    data["dose"]["value"] = -3
    with pytest.raises(ValidationError, match=r"^protocol\.dose\.value: expected a finite number in \(0, 1e\+11\], got -3$"):
        protocol_from_dict(data)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["dose"].update(valu=3), "protocol.dose.valu"),
        (lambda d: d.update(dosing={}), "protocol.dosing"),
        (lambda d: d["trial"].pop("name"), "protocol.trial.name"),
        (lambda d: d.pop("assessment"), "protocol.assessment"),
        (lambda d: d["targets"].update(orr_rate={"value": 0.5, "source": "x"}), "protocol.targets.orr_rate"),
        (lambda d: d["targets"]["orr"].update(value=83.0), "protocol.targets.orr.value"),
        (lambda d: d["trial"].update(indication="mm"), "protocol.trial.indication"),
        (lambda d: d["trial"].update(indication="solid"), "protocol.trial.indication"),
        (lambda d: d["assessment"].update(criteria="imwg", days=[28, 5000]), "protocol.assessment.days"),
        (lambda d: d["eligibility"].update(age_min_years=80.0, age_max_years=70.0), "protocol.eligibility.age_max_years"),
        (lambda d: d["assumed"].update(x=""), "protocol.assumed.x"),
    ],
)
def test_unknown_keys_and_cross_field_checks(mutate, where):
    data = copy.deepcopy(_base())
    mutate(data)
    with pytest.raises(ValidationError) as err:
        protocol_from_dict(data)
    assert err.value.field == where


def test_yaml_and_toml_files_load_the_same(tmp_path):
    data = _base()
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    p_yaml = load_protocol(tmp_path / "p.yaml")
    p_toml = load_protocol("zuma-1")
    assert p_yaml.to_dict() == p_toml.to_dict()
    with pytest.raises(ValidationError, match="protocol"):
        load_protocol("zuma-99")
    (tmp_path / "bad.toml").write_text("[trial\nname=")
    with pytest.raises(ValidationError, match="valid TOML"):
        load_protocol(tmp_path / "bad.toml")


def test_replace_revalidates_and_regimen():
    p = load_protocol("eliana")
    q = p.replace(dose={"value": 1.0e6})
    assert q.dose.value == 1.0e6 and p.dose.value == 3.1e6
    with pytest.raises(ValidationError, match="protocol.dose.value"):
        p.replace(dose={"value": -1})
    r = p.regimen()
    assert r.ld().days == (-6.0, -5.0, -4.0, -3.0)
    assert list(p.dose_cells([30.0, 100.0])) == [9.3e7, 2.5e8]


def test_protocol_population_and_eligibility():
    p = load_protocol("karmma")
    draw = p.virtual_population().sample(50, seed=2)
    mask = p.eligible(draw.table)
    assert mask.dtype == bool and mask.shape == (50,)
    assert (draw.table["prior_lines"][mask] >= 3).all()


def test_docs_example_loads(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "protocols.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "mine.toml").write_text(block)
    p = load_protocol(tmp_path / "mine.toml")
    assert p.management.policy == "prophylactic-tocilizumab"
    assert p.targets["orr"].ci_method.startswith("Clopper-Pearson")
