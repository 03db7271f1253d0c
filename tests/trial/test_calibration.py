"""Calibration records are reproducible, and docs/validation.md is generated from them."""

import importlib.util
import json
from importlib import resources
from pathlib import Path

import pytest

from cartwin.engine.choice import resolve_solver
from cartwin.trial.calibration import calibrate, calibrated_multipliers, score
from cartwin.trial.protocol import load_protocol

ROOT = Path(__file__).resolve().parents[2]


def _record(name):
    path = resources.files("cartwin.trial").joinpath(f"calibrated/{name}.json")
    if not path.is_file():
        pytest.skip(f"{name} not calibrated")
    return json.loads(path.read_text())


#: Fitted targets that stay outside the published 95 % CI after calibration, with the reason
#: (docs/validation.md says the same). Anything else outside fails the test below.
KNOWN_OUTSIDE: dict[tuple[str, str], str] = {
    # Model v2 refit after the engagement lag, stem reserve and steroid courses (2026-12-07;
    # n 200, seed 1, up to 30 Nelder-Mead evaluations from the previous multipliers, k_prolif
    # multiplier within [0.5, 2]). Re-fit only as far as the presets run sensibly; the joint
    # calibration is the next issue. docs/validation.md has the records.
    **{(name, "crs_grade3plus"): "v2's capillary leak follows systemic endothelium, which no handle scales: "
       "grade >= 3 CRS is ~0 outside ZUMA-1/ELIANA/JULIET" for name in ("cartitude-1", "karmma", "transcend", "zuma-2")},
    ("juliet", "crs_grade3plus"): "0.336 against 0.153-0.313 with CRS any inside",
    ("karmma", "orr"): "ORR 0.63 and CR 0.49: CR/ORR ~0.8 in the model against 0.45 published",
    ("karmma", "cr_rate"): "as karmma orr",
    ("transcend", "orr"): "ORR 0.61 against 0.67-0.78: the fit traded response for ICANS within 30 evaluations",
    ("transcend", "icans_any"): "ICANS any above and ICANS >= 3 below their CIs: the any/severe ratio is off",
    ("transcend", "icans_grade3plus"): "as transcend icans_any",
    ("zuma-1", "cr_rate"): "v2 responses are nearly all complete: CR 0.77 against 0.48-0.68",
    ("zuma-1", "crs_any"): "CRS any 0.78 with grade >= 3 0.23: one IL-6 handle with a wide between-patient spread "
                           "cannot give many mild and few severe (published 0.93 / 0.13)",
    ("zuma-1", "crs_grade3plus"): "as zuma-1 crs_any",
    ("zuma-1", "icans_grade3plus"): "0.45 against 0.219-0.407",
    ("zuma-2", "icans_any"): "ICANS any 0.89 above and ICANS >= 3 0.25 below their CIs",
    ("zuma-2", "icans_grade3plus"): "as zuma-2 icans_any",
}


@pytest.mark.parametrize("name", ["zuma-1", "eliana"])
def test_committed_calibration_reproduces_exactly(name):
    record = _record(name)
    fit = score(name, record["multipliers"], n=record["n_patients"], seed=record["seed"],
                follow_up_days=record["follow_up_days"], solver=resolve_solver("auto"))
    assert set(fit.simulated) == set(record["targets"])
    for target, row in record["targets"].items():
        assert fit.simulated[target] == pytest.approx(row["simulated"], abs=1e-12), target
        assert fit.within_ci[target] == row["within_ci"], target
    assert fit.objective == pytest.approx(record["objective"], rel=1e-9)


def _calibrated_presets():
    return sorted(p.stem for p in (ROOT / "src" / "cartwin" / "trial" / "calibrated").glob("*.json"))


@pytest.mark.parametrize("name", _calibrated_presets())
def test_record_covers_every_fitted_target_and_lands_in_the_ci(name):
    """Each record fits exactly the protocol's current fitted targets (ICANS included where the
    CSV publishes them), and every one is inside its published 95 % CI unless listed above."""
    from cartwin.trial.calibration import _targets

    record = _record(name)
    assert set(record["targets"]) == set(_targets(load_protocol(name))), "recalibrate: scripts/calibrate_presets.py"
    for target, row in record["targets"].items():
        if (name, target) in KNOWN_OUTSIDE:
            continue
        assert row["within_ci"], f"{name} {target}: simulated {row['simulated']} outside {row['ci_low']}-{row['ci_high']}"


@pytest.mark.parametrize("name", ["zuma-1", "eliana", "juliet", "transcend", "zuma-2", "karmma"])
def test_icans_any_and_grade3_are_fitted_where_published(name):
    targets = load_protocol(name).targets
    assert targets["icans_any"].fitted and targets["icans_grade3plus"].fitted


#: Published efficacy and toxicity rates fitted by each preset beyond ORR/CRS/ICANS (issue
#: "virtual trials": fit ORR, CR, CRS/ICANS any and grade >= 3 on the trial's own scale).
FITTED_BEYOND_ICANS = [
    ("eliana", "orr"), ("eliana", "cr_rate"), ("eliana", "mrd_neg_rate"),  # ELIANA primary endpoint: CR+CRi
    ("juliet", "cr_rate"),
    ("liu2020-car-nk", "cr_rate"), ("liu2020-car-nk", "icans_any"),
    ("alpha-allo501", "crs_grade3plus"), ("alpha-allo501", "icans_any"),
    ("karmma", "crs_grade3plus"), ("karmma", "mrd_neg_rate"),
    ("cartitude-1", "crs_grade3plus"),
    ("transcend", "cr_rate"),
    ("zuma-2", "crs_grade3plus"),
]


@pytest.mark.parametrize(("name", "target"), FITTED_BEYOND_ICANS)
def test_published_efficacy_and_toxicity_rates_are_fitted(name, target):
    assert load_protocol(name).targets[target].fitted


def test_presets_use_their_calibration():
    protocol = load_protocol("zuma-1")
    assert calibrated_multipliers(protocol) == _record("zuma-1")["multipliers"]


def test_calibrate_runs_and_records_targets():
    record = calibrate("zuma-1", n=20, seed=2, max_evaluations=2, follow_up_days=60.0, solver=resolve_solver("auto"),
                       stop_when_inside=False)
    assert record["evaluations"] == 2
    assert record["multipliers"]["k_neurovascular_on_per_day"] > 0
    assert set(record["targets"]) >= {"orr", "cr_rate"}
    for row in record["targets"].values():
        assert {"published", "ci_low", "ci_high", "simulated", "within_ci", "source"} <= set(row)


def test_calibrate_keeps_an_evaluation_with_every_target_inside(monkeypatch):
    """An evaluation with every target inside its CI beats a lower objective with one outside
    (ELIANA's first refit kept CRS any 0.86 > 0.859 because ORR, CR and MRD were closer)."""
    import types

    import cartwin.trial.runner as runner

    # ZUMA-1 orr published 0.83 (CI 0.74-0.90), cr_rate 0.58 (0.48-0.68), the other targets
    # hit exactly: the first evaluation is close on both but cr_rate is outside, the later
    # ones are inside but farther from the centre.
    published = {k: t.value for k, t in load_protocol("zuma-1").targets.items()}
    values = iter([(0.83, 0.69)] + [(0.75, 0.49)] * 50)

    def fake_run_trial(*args, **kwargs):
        orr, cr = next(values)
        rates = {**published, "orr": orr, "cr_rate": cr}
        entries = {k: {"estimate": v, "n": 10_000} for k, v in rates.items()}
        return types.SimpleNamespace(endpoints={"infused": entries, "itt": entries})

    monkeypatch.setattr(runner, "run_trial", fake_run_trial)
    record = calibrate("zuma-1", n=20, seed=1, max_evaluations=3, stop_when_inside=False)
    assert record["targets"]["orr"]["simulated"] == 0.75
    assert record["all_within_ci"]


def test_validation_doc_is_current():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "generate_validation.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = (ROOT / "docs" / "validation.md").read_text()
    assert gen.updated(text) == text, "run scripts/generate_validation.py"


def test_records_carry_the_settings_of_their_fit_and_a_rerun_gives_the_same_record():
    import importlib.util

    for name in _calibrated_presets():
        settings = _record(name)["settings"]
        assert {"start", "max_evaluations", "stop_when_inside", "solver"} <= set(settings), name
    spec = importlib.util.spec_from_file_location("calibrate_presets", ROOT / "scripts" / "calibrate_presets.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    # ALPHA-ALLO501: 13 Nelder-Mead evaluations from its recorded start (~15 s), with the
    # engine the record names (shampine4 for records fitted before Rodas5P became the default).
    assert script.reproduce("alpha-allo501")
    # Its multipliers with the default engine still put every target inside its CI.
    assert script.check_engine("alpha-allo501", resolve_solver("auto"))


def test_a_new_record_keeps_its_settings():
    record = calibrate("zuma-1", n=20, seed=2, max_evaluations=1, follow_up_days=30.0, solver=resolve_solver("auto"),
                       start={"k_prolif_per_day": 1.5}, stop_when_inside=False)
    assert record["settings"]["start"]["k_prolif_per_day"] == 1.5
    assert record["settings"]["max_evaluations"] == 1 and record["settings"]["stop_when_inside"] is False


@pytest.mark.parametrize("multiplier", [-2.0, 0.0, float("nan")])
def test_score_names_a_multiplier_that_is_not_positive(multiplier):
    from cartwin.foundation.errors import ValidationError

    with pytest.raises(ValidationError, match="overrides.k_prolif_per_day"):
        score("zuma-1", {"k_prolif_per_day": multiplier}, n=10, follow_up_days=30.0)
