"""Virtual trials end to end: structure, reproducibility, sharding, mechanistic consistency."""

import json

import numpy as np
import pandas as pd
import pytest

from cartwin.engine.choice import DEFAULT_RTOL, resolve_solver
from cartwin.foundation.errors import ValidationError
from cartwin.trial.endpoints import PATIENT_COLUMNS
from cartwin.trial.runner import ShardOptions, run_trial

SOLVER = resolve_solver("auto")


@pytest.fixture(scope="module")
def small_zuma():
    return run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER)


def test_patients_table_has_every_endpoint_column(small_zuma):
    p = small_zuma.patients
    assert len(p) == 40 and p["patient_id"].is_unique
    scale = small_zuma.protocol.reporting.crs_scale
    for col in PATIENT_COLUMNS:
        assert col.replace("<scale>", scale) in p.columns, col
    assert set(p.loc[~p["infused"], "best_response"]) <= {"NE"}
    assert p.loc[p["infused"], "cmax_copies_per_ug"].gt(0).all()
    e = small_zuma.endpoints
    assert e["itt"]["enrolled"]["estimate"] == 40
    assert e["infused"]["orr"]["n"] == int(p["infused"].sum())


def test_same_seed_same_trial_and_batching_does_not_matter(small_zuma):
    again = run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER, batch_size=7)
    pd.testing.assert_frame_equal(small_zuma.patients, again.patients)


def test_sharded_run_equals_in_process_and_resumes(small_zuma, tmp_path):
    opts = ShardOptions(out_dir=str(tmp_path / "shards"), shard_size=9, progress=False)
    sharded = run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER, shards=opts)
    pd.testing.assert_frame_equal(small_zuma.patients, sharded.patients, check_dtype=False)
    resumed = run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER,
                        shards=ShardOptions(out_dir=str(tmp_path / "shards"), shard_size=9, progress=False, resume=True))
    pd.testing.assert_frame_equal(sharded.patients, resumed.patients)


def test_sharded_trial_runs_its_journeys_as_shards_and_resumes_them(small_zuma, tmp_path, monkeypatch):
    import shutil

    import cartwin.trial.runner as runner

    monkeypatch.setattr(runner, "JOURNEY_SHARD_SIZE", 7)
    out = tmp_path / "run"
    sharded = run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER,
                        shards=ShardOptions(out_dir=str(out), shard_size=9, progress=False))
    pd.testing.assert_frame_equal(small_zuma.patients, sharded.patients, check_dtype=False)
    manifest = json.loads((out / "journeys" / "manifest.json").read_text())
    assert manifest["n_items"] == 40 and len(manifest["shards"]) == manifest["n_shards"] == 6
    # Stopped during its journeys: one journey shard and every cohort shard missing.
    (out / "journeys" / "shards" / "part-000003.parquet").unlink()
    shutil.rmtree(out / "shards")
    (out / "manifest.json").unlink()
    resumed = run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER,
                        shards=ShardOptions(out_dir=str(out), shard_size=9, progress=False, resume=True))
    pd.testing.assert_frame_equal(sharded.patients, resumed.patients)
    assert (out / "journeys" / "shards" / "part-000003.parquet").exists()
    other = tmp_path / "not-a-trial"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(ValidationError, match="resume"):
        run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER,
                  shards=ShardOptions(out_dir=str(other), shard_size=9, progress=False, resume=True))


def test_trial_on_a_process_cluster_equals_in_process(small_zuma, tmp_path):
    # The real --workers path: the task (holding the cohort) is scattered to worker processes once.
    pytest.importorskip("distributed")
    opts = ShardOptions(out_dir=str(tmp_path / "shards"), shard_size=16, scheduler="local", workers=2, progress=False)
    on_cluster = run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER, shards=opts)
    pd.testing.assert_frame_equal(small_zuma.patients, on_cluster.patients, check_dtype=False)


def test_written_outputs(small_zuma, tmp_path):
    paths = small_zuma.write(tmp_path)
    assert pd.read_parquet(paths["patients"]).shape[0] == 40
    html = paths["report"].read_text()
    assert html.count("data:image/png;base64") >= 4


@pytest.fixture(scope="module")
def zuma_150():
    return run_trial("zuma-1", n=150, seed=5, follow_up_days=120.0, solver=SOLVER)


def test_responders_have_higher_cmax(zuma_150):
    p = zuma_150.patients[zuma_150.patients["infused"]]
    complete = p["best_response"] == "CR"
    assert complete.any() and (~complete).any()
    assert p.loc[complete, "cmax_copies_per_ug"].median() > p.loc[~complete, "cmax_copies_per_ug"].median()


def test_higher_burden_gives_more_severe_crs(zuma_150):
    p = zuma_150.patients[zuma_150.patients["infused"]].copy()
    burden = p["tumour_baseline_cells"] * p["tumour_burden_factor_at_infusion"]
    low, high = burden <= burden.quantile(1 / 3), burden >= burden.quantile(2 / 3)
    grade = p["crs_max_grade_astct"]
    assert grade[high].mean() > grade[low].mean()
    assert (grade[high] >= 2).mean() >= (grade[low] >= 2).mean()


def test_antigen_negative_relapses_in_all_preset():
    trial = run_trial("eliana", n=80, seed=2, follow_up_days=365.0, solver=SOLVER)
    p = trial.patients[trial.patients["infused"]]
    relapsed_negative = (p["tumor_cells_end"] > 1e6) & (p["tumor_antigen_neg_cells_end"] > 0.5 * p["tumor_cells_end"])
    assert relapsed_negative.sum() >= 1


def test_car_nk_has_less_crs_than_autologous(zuma_150):
    nk = run_trial("liu2020-car-nk", n=60, seed=5, follow_up_days=60.0, solver=SOLVER)
    assert nk.endpoints["infused"]["crs_any"]["estimate"] < zuma_150.endpoints["infused"]["crs_any"]["estimate"]


def test_bad_trial_inputs_are_named():
    from cartwin.foundation import ValidationError

    with pytest.raises(ValidationError, match="n"):
        run_trial("zuma-1", n=0)
    with pytest.raises(ValidationError, match="overrides"):
        run_trial("zuma-1", n=5, overrides={"not_a_parameter": 2.0})
    with pytest.raises(ValidationError):
        run_trial("no-such-trial", n=5)


def test_default_engine_is_auto_as_on_the_command_line():
    # From Python as from the CLI: "auto", the compiled engine where numba is installed (with
    # the generated rhs; test_calibration checks it reproduces the calibration records).
    result = run_trial("zuma-1", n=4, seed=1, follow_up_days=28.0)
    from cartwin.engine.choice import compiled_engine_available

    assert result.engine == ("rodas5p-numba-generated" if compiled_engine_available() else "rosenbrock4-numpy")
    with pytest.raises(ValidationError, match="^solver: "):
        run_trial("zuma-1", n=4, solver="gpu9")


def test_solid_tumour_preset_runs_with_recist():
    trial = run_trial("ct041", n=20, seed=1, follow_up_days=120.0, solver=SOLVER)
    p = trial.patients[trial.patients["infused"]]
    assert set(p["best_response"]) <= {"CR", "PR", "SD", "PD"}
    assert trial.endpoints["infused"]["icans_any"]["estimate"] <= 0.2


def test_replicates_give_spread():
    from cartwin.trial.runner import run_replicates

    results, spread = run_replicates("zuma-1", 20, 1, 2, follow_up_days=60.0, solver=SOLVER)
    assert len(results) == 2
    assert not results[0].patients.equals(results[1].patients)
    assert spread
    assert np.isfinite(results[0].endpoints["infused"]["crs_any"]["estimate"])


def test_population_multiplier_on_a_parameter_without_variability():
    base = run_trial("zuma-1", n=12, seed=4, follow_up_days=40.0, solver=SOLVER)
    damped = run_trial("zuma-1", n=12, seed=4, follow_up_days=40.0, solver=SOLVER,
                       overrides={"p_ifng_pg_per_ml_per_cell_ul_day": 0.2})
    infused = base.patients["infused"]
    # The multiplier reaches every patient exactly (a parameter without variability is not redrawn) ...
    from cartwin.journey import simulate_journeys
    from cartwin.trial.protocol import load_protocol
    from cartwin.trial.runner import _journey_config, _patient_parameters, calibrated_factors, enrol

    protocol = load_protocol("zuma-1")
    enrolled, journey = enrol(protocol, 12, 4), simulate_journeys(_journey_config(protocol), 12, 4)
    calibrated = dict(calibrated_factors(protocol))
    plain = _patient_parameters(protocol, enrolled, journey, dict(calibrated), 4)
    scaled = _patient_parameters(protocol, enrolled, journey, {**calibrated, "p_ifng_pg_per_ml_per_cell_ul_day": 0.2}, 4)
    np.testing.assert_allclose(scaled["p_ifng_pg_per_ml_per_cell_ul_day"], 0.2 * plain["p_ifng_pg_per_ml_per_cell_ul_day"])
    assert all(np.array_equal(scaled[k], plain[k]) for k in plain if k != "p_ifng_pg_per_ml_per_cell_ul_day")
    # ... and damps IL-6 over the cohort. Not in every patient: with ZUMA-1's protocol bridging
    # (none) one of 11 patients at this seed peaks at 55 instead of 45 pg/mL (less IFN-g, less
    # early kill, a later and larger low peak), a property of the model, reported to its owner.
    assert damped.patients.loc[infused, "il6_max_pg_per_ml"].sum() < base.patients.loc[infused, "il6_max_pg_per_ml"].sum()
    assert (damped.patients.loc[infused, "il6_max_pg_per_ml"] <= base.patients.loc[infused, "il6_max_pg_per_ml"] + 1e-9).mean() >= 0.8


def test_dysfunctional_products_are_drawn_per_patient_and_blunt_response():
    from cartwin.trial.runner import _dysfunctional_products

    ids = np.arange(200)
    some = _dysfunctional_products(0.3, ids, seed=9)
    assert np.array_equal(some, _dysfunctional_products(0.3, ids, seed=9))
    assert np.array_equal(some[50:80], _dysfunctional_products(0.3, ids[50:80], seed=9))
    assert 0.2 < some.mean() < 0.4
    assert not _dysfunctional_products(0.0, ids, 9).any() and _dysfunctional_products(1.0, ids, 9).all()
    none = run_trial("zuma-1", n=30, seed=6, follow_up_days=90.0, solver=SOLVER,
                     overrides={"dysfunctional_product_fraction": 0.0})
    half = run_trial("zuma-1", n=30, seed=6, follow_up_days=90.0, solver=SOLVER,
                     overrides={"dysfunctional_product_fraction": 0.6})
    p0, p1 = none.patients[none.patients["infused"]], half.patients[half.patients["infused"]]
    assert p1["cmax_car_t_per_ul"].median() < p0["cmax_car_t_per_ul"].median()
    assert half.endpoints["infused"]["orr"]["estimate"] <= none.endpoints["infused"]["orr"]["estimate"]


def test_journey_is_independent_of_the_patients_covariates():
    # ELIANA enrols every candidate, so patient k is candidate k. Until 2026-12-02 the journey
    # drew from the covariates' stream: ECOG against enrolment-to-infusion time had a Spearman
    # correlation of -0.64, tumour burden against manufacturing end -0.20, CRP against
    # manufacturing start -0.38 (3,000 patients). The journey model takes no covariate.
    from scipy.stats import spearmanr

    from cartwin.journey import simulate_journeys
    from cartwin.trial.runner import _journey_config, enrol, load_protocol

    protocol = load_protocol("eliana")
    patients = enrol(protocol, 1500, seed=1).merge(simulate_journeys(_journey_config(protocol), 1500, 1), on="patient_id")
    for covariate in ("ecog", "age_years", "crp_mg_per_l", "ldh_u_per_l", "tumour_baseline_cells"):
        for step in ("apheresis_day", "manufacturing_start_day", "manufacturing_end_day", "release_day"):
            rho = spearmanr(patients[covariate], patients[step], nan_policy="omit").statistic
            assert abs(rho) < 0.1, (covariate, step, rho)


def test_enrolment_in_capped_chunks_enrols_the_same_patients(monkeypatch):
    # Candidates come from per-patient streams: drawing them 7 at a time (the cap bounds memory
    # at 10^6 patients) must give the same first eligible patients.
    import cartwin.trial.runner as runner

    protocol = runner.load_protocol("zuma-1")
    whole = runner.enrol(protocol, 60, seed=5)
    monkeypatch.setattr(runner, "ENROLMENT_CHUNK", 7)
    pd.testing.assert_frame_equal(runner.enrol(protocol, 60, seed=5), whole)


#: Median relative Cmax difference allowed between the default rtol and 1e-5 (measured 1.9e-4, max 4.5e-4; 40 patients, model v2.2).
LOOSE_CMAX_AGREEMENT = 1e-3


def test_looser_tolerance_is_validated_recorded_and_converges(small_zuma, tmp_path):
    from cartwin.foundation.errors import ValidationError

    with pytest.raises(ValidationError, match="rtol"):
        run_trial("zuma-1", n=4, seed=3, rtol=0.0)
    tight = run_trial("zuma-1", n=40, seed=3, follow_up_days=120.0, solver=SOLVER, rtol=1e-5)
    assert (tight.engine, tight.rtol) == (small_zuma.engine, 1e-5) and small_zuma.rtol == DEFAULT_RTOL == 1e-3
    assert small_zuma.engine == (SOLVER.name if SOLVER is not None else "rosenbrock4-numpy")
    infused = small_zuma.patients["infused"].to_numpy()
    loose_cmax = small_zuma.patients["cmax_car_t_per_ul"].to_numpy()[infused]
    tight_cmax = tight.patients["cmax_car_t_per_ul"].to_numpy()[infused]
    # The same patients at the default (100x the tolerance): peaks agree to a fraction of a percent.
    assert np.median(np.abs(loose_cmax / tight_cmax - 1.0)) < LOOSE_CMAX_AGREEMENT
    assert not np.array_equal(loose_cmax, tight_cmax)  # the tolerance did reach the engine
    tight.write(tmp_path)
    assert json.loads((tmp_path / "endpoints.json").read_text())["provenance"]["rtol"] == 1e-5
