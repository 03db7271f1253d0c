"""Parameters belong to the product and indication a protocol names, never to its file name
(issue "Calibration v2": a byte-identical copy of zuma-1.toml under another name ran uncalibrated)."""

import json
import shutil
import warnings
from importlib import resources

import pandas as pd
import pytest

from cartwin.model.calibrated import load_calibrated
from cartwin.trial.protocol import list_protocols, load_protocol
from cartwin.trial.runner import calibrated_factors, run_trial

CALIBRATED = [p for p in list_protocols() if not load_protocol(p).is_placeholder
              and any(t.fitted for t in load_protocol(p).targets.values())]


def _copy(name, tmp_path, new_name="my-trial.toml"):
    source = resources.files("cartwin.trial").joinpath(f"protocols/{name}.toml")
    target = tmp_path / new_name
    shutil.copyfile(str(source), target)
    return target


@pytest.mark.parametrize("name", CALIBRATED)
def test_a_renamed_copy_of_a_preset_runs_as_the_preset(name, tmp_path):
    copy = _copy(name, tmp_path)
    assert calibrated_factors(load_protocol(copy)) == calibrated_factors(load_protocol(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = run_trial(name, 24, 3, follow_up_days=60.0)
        b = run_trial(copy, 24, 3, follow_up_days=60.0)
    pd.testing.assert_frame_equal(a.patients, b.patients)


def test_a_preset_file_of_another_content_under_a_preset_name_gets_its_own_products(tmp_path):
    """A file called zuma-1.toml that names tisa-cel in ALL gets tisa-cel's and ALL's factors."""
    text = resources.files("cartwin.trial").joinpath("protocols/eliana.toml").read_text()
    (tmp_path / "zuma-1.toml").write_text(text)
    assert calibrated_factors(load_protocol(tmp_path / "zuma-1.toml")) == calibrated_factors(load_protocol("eliana"))
    assert calibrated_factors(load_protocol(tmp_path / "zuma-1.toml")) != calibrated_factors(load_protocol("zuma-1"))


def test_one_parameter_set_per_product():
    """Every preset of a product gets the same product factors (tisa-cel: ELIANA and JULIET), and
    every preset of an indication the same indication factors (LBCL: ZUMA-1, JULIET, TRANSCEND...)."""
    params = load_calibrated()
    by_product: dict[str, set] = {}
    by_indication: dict[str, set] = {}
    for name in CALIBRATED:
        p = load_protocol(name)
        f = calibrated_factors(p)
        product = tuple(sorted((k, f[k]) for k in params.products[p.product.key]))
        indication = tuple(sorted((k, f[k]) for k in params.indications[p.trial.indication]))
        by_product.setdefault(p.product.key, set()).add(product)
        by_indication.setdefault(p.trial.indication, set()).add(indication)
    assert all(len(v) == 1 for v in by_product.values()), by_product
    assert all(len(v) == 1 for v in by_indication.values()), by_indication
    assert len({load_protocol(n).product.key for n in CALIBRATED if load_protocol(n).product.key == "tisa-cel"}) == 1
    assert {"eliana", "juliet"} <= set(CALIBRATED)


def test_parameters_can_be_named_explicitly(tmp_path):
    copy = _copy("juliet", tmp_path)
    text = copy.read_text()
    (tmp_path / "plain.toml").write_text(text + '\n[calibration]\nparameters = "uncalibrated"\n')
    assert calibrated_factors(load_protocol(tmp_path / "plain.toml")) == {}
    record = {"schema": "cartwin calibrated parameters v1", "products": {"tisa-cel": {"k_prolif_per_day": 1.25}},
              "indications": {"lbcl": {"gamma_kill_per_day": 3.0}}}
    (tmp_path / "fit.json").write_text(json.dumps(record))
    (tmp_path / "mine.toml").write_text(text + '\n[calibration]\nparameters = "fit.json"\n')
    assert calibrated_factors(load_protocol(tmp_path / "mine.toml")) == {"k_prolif_per_day": 1.25, "gamma_kill_per_day": 3.0}
