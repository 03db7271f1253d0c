"""Small trials of three presets reproduce pinned values: every endpoint (estimate and CI) and,
per patient, grades, drug counts and categories exactly, times and kinetics to 1e-9 relative.

The values in ``data/trial_fingerprint.json`` were computed before the trial path was batched
(issue #25: speed-ups outside the engine must not change a result at the default settings); on
this machine they are reproduced bit for bit. A deliberate change of results (the model, its
calibration, the engine defaults) rewrites them with
``PYTHONPATH=src python benchmarks/trial_fingerprint.py --pin tests/trial/data/trial_fingerprint.json``
and says so in its commit."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINNED = json.loads((Path(__file__).parent / "data" / "trial_fingerprint.json").read_text())


def _fingerprint_module():
    spec = importlib.util.spec_from_file_location("trial_fingerprint", ROOT / "benchmarks" / "trial_fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same(got, want, where: str) -> None:
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {got!r} != pinned {want!r}"
    else:
        assert got == want, f"{where}: {got!r} != pinned {want!r}"


@pytest.mark.parametrize("case", PINNED, ids=[c["protocol"] for c in PINNED])
def test_small_trials_reproduce_the_pinned_values(case):
    got = _fingerprint_module().pinned_values(case["protocol"], case["n"], case["seed"])
    assert sorted(got["endpoints"]) == sorted(case["endpoints"])
    for name, values in case["endpoints"].items():
        for label, g, w in zip(("estimate", "ci_low", "ci_high"), got["endpoints"][name], values, strict=True):
            _same(g, w, f"{case['protocol']} {name} {label}")
    assert sorted(got["patients"]) == sorted(case["patients"])
    for column, values in case["patients"].items():
        assert len(got["patients"][column]) == len(values), column
        for i, (g, w) in enumerate(zip(got["patients"][column], values, strict=True)):
            _same(g, w, f"{case['protocol']} patient row {i} {column}")
