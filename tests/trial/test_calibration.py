"""Calibration records are reproducible, and docs/validation.md is generated from them."""

import importlib.util
import json
from importlib import resources
from pathlib import Path

import pytest

from cartwin.trial.calibration import calibrate, calibrated_multipliers
from cartwin.trial.protocol import load_protocol
from cartwin.trial.runner import run_trial

ROOT = Path(__file__).resolve().parents[2]


def _solver():
    try:
        from cartwin.engine import NumbaRosenbrock

        return NumbaRosenbrock()
    except Exception:
        return None


def _record(name):
    path = resources.files("cartwin.trial").joinpath(f"calibrated/{name}.json")
    if not path.is_file():
        pytest.skip(f"{name} not calibrated")
    return json.loads(path.read_text())


def test_committed_zuma1_calibration_reproduces_exactly():
    record = _record("zuma-1")
    result = run_trial("zuma-1", record["n_patients"], record["seed"], follow_up_days=record["follow_up_days"],
                       solver=_solver(), overrides=record["multipliers"], calibrated=False)
    for name, row in record["targets"].items():
        assert result.endpoints[row["set"]][name]["estimate"] == pytest.approx(row["simulated"], abs=1e-12), name


def test_presets_use_their_calibration():
    protocol = load_protocol("zuma-1")
    assert calibrated_multipliers(protocol) == _record("zuma-1")["multipliers"]


def test_calibrate_runs_and_records_targets():
    record = calibrate("zuma-1", n=20, seed=2, max_evaluations=2, follow_up_days=60.0, solver=_solver())
    assert record["evaluations"] == 2
    assert set(record["targets"]) >= {"orr", "cr_rate"}
    for row in record["targets"].values():
        assert {"published", "ci_low", "ci_high", "simulated", "within_ci", "source"} <= set(row)


def test_validation_doc_is_current():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "generate_validation.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = (ROOT / "docs" / "validation.md").read_text()
    assert gen.updated(text) == text, "run scripts/generate_validation.py"
