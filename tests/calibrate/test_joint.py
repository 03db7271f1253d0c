"""The joint calibration: a known answer on synthetic trials, resumable designs, the committed
record and its validation, and the layering (trials never import the calibration)."""

import ast
import importlib.util
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import cartwin.calibrate.joint as joint
from cartwin.calibrate.joint import (
    BOX,
    HANDLES,
    CalibrationTrial,
    FitTarget,
    JointProblem,
    TrialEmulator,
    calibration_trials,
    latin_hypercube,
    run_design,
)

ROOT = Path(__file__).resolve().parents[2]
LOW = np.array([BOX[h][0] for h in HANDLES])
HIGH = np.array([BOX[h][1] for h in HANDLES])
ENDPOINTS = ("orr", "cr_rate", "mrd_neg_rate", "crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus", "tocilizumab_rate", "steroid_rate")


def _synthetic(seed=3):
    """Three trials (two products, two indications, tisa-cel shared) whose nine rates are known
    smooth functions of their six inputs; published values are those rates at a known truth."""
    rng = np.random.default_rng(seed)
    coef = {name: rng.normal(0, 1.5, len(HANDLES)) for name in ENDPOINTS}
    offset = {name: rng.normal(0, 0.3) for name in ENDPOINTS}

    def rates(x):  # x on the fitted scale, scaled to the box's unit cube
        u = (np.atleast_2d(x) - LOW) / (HIGH - LOW) - 0.5
        return {name: expit(u @ coef[name] + offset[name]) for name in ENDPOINTS}

    layout = [("t-eliana", "tisa-cel", "all"), ("t-juliet", "tisa-cel", "lbcl"), ("t-transcend", "liso-cel", "lbcl")]
    truth_tables = {"products": {"tisa-cel": {"k_prolif_per_day": 1.4, "k_kill_cells_per_ul": 0.8, "p_il6_myeloid_pg_per_ml_day": 2.0,
                                              "k_neurovascular_on_per_day": 0.7, "dysfunctional_product_fraction": 0.15},
                                 "liso-cel": {"k_prolif_per_day": 1.1, "k_kill_cells_per_ul": 1.3, "p_il6_myeloid_pg_per_ml_day": 0.6,
                                              "k_neurovascular_on_per_day": 1.5, "dysfunctional_product_fraction": 0.08}},
                    "indications": {"all": {"gamma_kill_per_day": 6.0}, "lbcl": {"gamma_kill_per_day": 1.5}}}
    skeleton = [CalibrationTrial(p, prod, ind, ()) for p, prod, ind in layout]
    problem = JointProblem(skeleton)
    theta_true = problem.vector(truth_tables)
    trials, rows = [], []
    for k, t in enumerate(skeleton):
        published = rates(problem.inputs(theta_true, t))
        targets = tuple(FitTarget(t.preset, e, float(published[e][0]), 100_000, 0.0, 1.0, "synthetic") for e in ENDPOINTS)
        trials.append(CalibrationTrial(t.preset, t.product, t.indication, targets))
        for x in latin_hypercube(120, LOW, HIGH, 100 + k):
            r = rates(x)
            row = {"preset": t.preset, **{f"x:{h}": v for h, v in zip(HANDLES, x, strict=True)}}
            row.update({f"rate:{e}": float(r[e][0]) for e in ENDPOINTS})
            row.update({f"n:{e}": 100_000 for e in ENDPOINTS})
            rows.append(row)
    return trials, pd.DataFrame(rows), rates, truth_tables


def test_emulators_reproduce_known_rates_between_design_points():
    trials, design, rates, _ = _synthetic()
    emulator = TrialEmulator(trials[0], design)
    x = latin_hypercube(50, LOW, HIGH, 999)
    pred = emulator.predict(x)
    truth = rates(x)
    for e in ENDPOINTS:
        assert np.max(np.abs(pred[e][0] - truth[e])) < 0.03, e


def test_joint_fit_recovers_known_shared_parameters():
    """The data of three trials identify two products and two indications; the fit finds them."""
    trials, design, _, truth = _synthetic()
    problem = JointProblem(trials)
    emulators = {t.preset: TrialEmulator(t, design) for t in trials}
    theta, value = problem.fit(emulators, starts=3)
    fitted = problem.tables(theta)
    for section in ("products", "indications"):
        for key, factors in truth[section].items():
            for name, v in factors.items():
                got = fitted[section][key][name]
                # Within 20 %: the objective's 0.01 discrepancy floor on each rate leaves the least
                # informative direction of six inputs partly to the prior (the truth sits ~1 prior
                # SD from its centre).
                assert abs(math.log(got / v)) < 0.2, (section, key, name, got, v)
    # tisa-cel is one parameter set in both of its trials
    assert problem.factors_for(theta, trials[0])["k_prolif_per_day"] == problem.factors_for(theta, trials[1])["k_prolif_per_day"]


def test_leaving_a_trial_out_predicts_it_from_the_others():
    """Without t-juliet, tisa-cel comes from t-eliana and LBCL from t-transcend: its rates are still predicted."""
    trials, design, rates, _ = _synthetic()
    problem = JointProblem(trials)
    emulators = {t.preset: TrialEmulator(t, design) for t in trials}
    theta, _ = problem.fit(emulators, starts=3, exclude=["t-juliet"])
    predicted = rates(problem.inputs(theta, trials[1]))
    for t in trials[1].targets:
        assert abs(predicted[t.endpoint][0] - t.value) < 0.05, t.endpoint


def test_a_design_resumes_without_rerunning_finished_points(tmp_path, monkeypatch):
    calls = []

    def fake(preset, factors, n, seed, follow_up_days=365.0, solver="auto"):
        calls.append(preset)
        return {"orr": (0.5, n)}

    monkeypatch.setattr(joint, "simulate_rates", fake)
    store = tmp_path / "design.csv"
    points = [("zuma-1", dict(zip(HANDLES, x, strict=True)), 0) for x in latin_hypercube(4, LOW, HIGH, 1)]
    run_design(points[:2], store, n=10, seed=1, follow_up_days=30.0)
    design = run_design(points, store, n=10, seed=1, follow_up_days=30.0)
    assert len(calls) == 4 and len(design) == 4  # the first two were not simulated again


# ---------------------------------------------------------------------------------------------
# The committed record


def _committed():
    from cartwin.model.calibrated import committed_record_path

    return json.loads(Path(str(committed_record_path())).read_text())


def test_the_record_fits_exactly_the_protocols_fitted_targets():
    record = _committed()
    fitted = {(t.preset, t.endpoint) for trial in calibration_trials() for t in trial.targets}
    assert {(t["preset"], t["endpoint"]) for t in record["targets"]} == fitted, "rerun scripts/calibrate_joint.py"
    assert record["settings"]["n"] >= 1000  # Monte-Carlo error small against the published CIs
    for key in ("date", "objective_value", "method", "prior", "box", "design_points", "seconds", "draws"):
        assert key in record


def test_recorded_factors_lie_in_the_box_and_inside_their_intervals():
    record = _committed()
    for section in ("products", "indications"):
        for key, factors in record[section].items():
            for name, v in factors.items():
                scaled = joint.logit(v) if name == joint.SHARE else math.log(v)
                assert BOX[name][0] - 1e-9 <= scaled <= BOX[name][1] + 1e-9, (key, name)
                lo, hi = record["intervals_95"][section][key][name]
                assert lo <= hi


def test_the_design_table_is_the_one_the_record_was_fitted_on():
    from cartwin.model.calibrated import committed_record_path

    record = _committed()
    design = pd.read_csv(Path(str(committed_record_path())).with_name("calibration_design.csv"))
    assert len(design) == record["design_points"]
    assert set(design["n"]) == {record["settings"]["n"]} and set(design["seed"]) == {record["settings"]["seed"]}


def test_a_design_row_is_reproduced_by_simulating_it_again():
    """The emulators' data are simulations anyone can rerun: one CT041 row (~3 s) exactly."""
    from cartwin.model.calibrated import committed_record_path

    design = pd.read_csv(Path(str(committed_record_path())).with_name("calibration_design.csv"))
    row = design[design.preset == "ct041"].iloc[5]
    x = {h: row[f"x:{h}"] for h in HANDLES}
    got = joint.simulate_rates("ct041", joint.to_factors(x), int(row.n), int(row.seed), float(row.follow_up_days))
    for name, (rate, n) in got.items():
        assert rate == pytest.approx(row[f"rate:{name}"], abs=1e-12) and n == row[f"n:{name}"], name


def test_a_validation_row_is_reproduced_by_simulating_it():
    """docs/calibration_validation.csv holds simulations, not emulations: rerun one fresh-seed row."""
    from cartwin.calibrate.validate import FRESH_SEED

    table = pd.read_csv(ROOT / "docs" / "calibration_validation.csv")
    row = table[(table.preset == "liu2020-car-nk") & (table.endpoint == "orr")].iloc[0]
    trial = next(t for t in calibration_trials(["liu2020-car-nk"]))
    record = _committed()
    problem = JointProblem([trial])
    theta = problem.vector({"products": record["products"], "indications": record["indications"],
                            "families": record["family_means"]})
    got = joint.simulate_rates("liu2020-car-nk", problem.factors_for(theta, trial), 2000, FRESH_SEED,
                               record["settings"]["follow_up_days"])
    assert got["orr"][0] == pytest.approx(row.fresh_seed, abs=1e-12)


def test_validation_doc_is_current():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "generate_validation.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = (ROOT / "docs" / "validation.md").read_text()
    assert gen.updated(text) == text, "run scripts/generate_validation.py"


def test_trials_never_import_the_calibration():
    """Fitting lives in calibrate/; the trial layer (and everything below it) does not import it back."""
    src = ROOT / "src" / "cartwin"
    for layer in ("trial", "model", "engine", "clinic", "therapy", "population", "journey", "foundation", "dispatch"):
        for path in (src / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n.startswith("cartwin.calibrate") for n in names), path


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CARTWIN_REPRODUCE_CALIBRATION"),
                    reason="about an hour on 2 cores: CARTWIN_REPRODUCE_CALIBRATION=1 pytest -k reruns (docs/calibration.md)")
def test_the_joint_fit_reruns_to_its_record():
    """`python scripts/calibrate_joint.py --reproduce`: the whole fit from nothing, compared with the record."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "calibrate_joint.py"), "--reproduce", "--workers", "1"])
    assert done.returncode == 0


@pytest.mark.parametrize("name", ["zuma-1", "eliana", "juliet", "transcend", "zuma-2", "karmma"])
def test_icans_any_and_grade3_are_fitted_where_published(name):
    from cartwin.trial.protocol import load_protocol

    targets = load_protocol(name).targets
    assert targets["icans_any"].fitted and targets["icans_grade3plus"].fitted


#: Published efficacy and toxicity rates fitted beyond ORR/CRS/ICANS (issue "virtual trials":
#: fit ORR, CR, CRS/ICANS any and grade >= 3 on the trial's own scale).
FITTED_BEYOND_ICANS = [
    ("eliana", "orr"), ("eliana", "cr_rate"), ("eliana", "mrd_neg_rate"),  # ELIANA primary endpoint: CR+CRi
    ("juliet", "cr_rate"), ("liu2020-car-nk", "cr_rate"), ("liu2020-car-nk", "icans_any"),
    ("alpha-allo501", "crs_grade3plus"), ("alpha-allo501", "icans_any"), ("karmma", "crs_grade3plus"),
    ("karmma", "mrd_neg_rate"), ("cartitude-1", "crs_grade3plus"), ("transcend", "cr_rate"), ("zuma-2", "crs_grade3plus"),
]


@pytest.mark.parametrize(("name", "target"), FITTED_BEYOND_ICANS)
def test_published_efficacy_and_toxicity_rates_are_fitted(name, target):
    assert (name, target) in {(t.preset, t.endpoint) for trial in calibration_trials([name]) for t in trial.targets}
