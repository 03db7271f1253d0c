"""Calibrated parameters are looked up by product and indication, and a bad record is named."""

import json

import pytest

from cartwin.foundation.errors import CartwinWarning, ValidationError
from cartwin.model.calibrated import SCHEMA, from_record, load_calibrated


def _record(**changes):
    record = {"schema": SCHEMA,
              "products": {"tisa-cel": {"k_prolif_per_day": 1.5, "dysfunctional_product_fraction": 0.2}},
              "indications": {"lbcl": {"gamma_kill_per_day": 2.0}, "all": {"gamma_kill_per_day": 8.0}},
              "draws": [{"products": {"tisa-cel": {"k_prolif_per_day": 1.4}}, "indications": {"lbcl": {"gamma_kill_per_day": 2.5}}}]}
    record.update(changes)
    return record


def test_factors_come_from_the_product_and_the_indication():
    params = from_record(_record(), "test")
    assert params.factors("tisa-cel", "lbcl") == {"k_prolif_per_day": 1.5, "dysfunctional_product_fraction": 0.2,
                                                  "gamma_kill_per_day": 2.0}
    assert params.factors("tisa-cel", "all")["gamma_kill_per_day"] == 8.0
    assert params.draw(0).factors("tisa-cel", "lbcl") == {"k_prolif_per_day": 1.4, "gamma_kill_per_day": 2.5}


def test_a_product_the_fit_did_not_include_is_said():
    params = from_record(_record(), "test")
    with pytest.warns(CartwinWarning, match="product 'axi-cel' not in the calibrated parameters"):
        assert params.factors("axi-cel", "lbcl") == {"gamma_kill_per_day": 2.0}


@pytest.mark.parametrize(("changes", "field"), [
    ({"schema": "other"}, "calibration.parameters"),
    ({"products": {"tisa-cel": {"k_prolif_per_day": -1.0}}}, "calibration.parameters.products.tisa-cel.k_prolif_per_day"),
    ({"products": {"tisa-cel": {"dysfunctional_product_fraction": 1.5}}},
     "calibration.parameters.products.tisa-cel.dysfunctional_product_fraction"),
    ({"indications": []}, "calibration.parameters.indications"),
    ({"indications": {"lbcl": {"gamma_kill_per_day": "fast"}}}, "calibration.parameters.indications.lbcl.gamma_kill_per_day"),
])
def test_a_bad_record_names_the_field(changes, field):
    with pytest.raises(ValidationError) as exc:
        from_record(_record(**changes), "test")
    assert exc.value.field == field


def test_a_record_is_read_from_a_path_relative_to_the_protocol(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps(_record()))
    assert load_calibrated("mine.json", tmp_path).factors("tisa-cel", "lbcl")["gamma_kill_per_day"] == 2.0
    assert load_calibrated("uncalibrated") is None
    with pytest.raises(ValidationError, match="calibration.parameters"):
        load_calibrated("nothing-here.json", tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValidationError, match="readable JSON"):
        load_calibrated("broken.json", tmp_path)


def test_the_committed_record_covers_every_calibrated_preset():
    from cartwin.trial.protocol import list_protocols, load_protocol

    params = load_calibrated()
    assert params is not None, "run scripts/calibrate_joint.py"
    for name in list_protocols():
        protocol = load_protocol(name)
        if protocol.is_placeholder or not any(t.fitted for t in protocol.targets.values()):
            continue
        assert protocol.product.key in params.products, name
        assert protocol.trial.indication in params.indications, name
