"""SAEM population fit: a small fast case, the outputs' shapes and meanings, BLQ by M3 against
dropping (slow), and the recovery study of Stein 2019 over 20 replicate datasets (slow; the
same study as scripts/fit_recovery.py, docs/fitting.md)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cartwin.fit import fit_population, make_problem, read_nonmem, simulate_dataset
from cartwin.fit.simulate import STEIN2019_OMEGA2, STEIN2019_SIGMA_LOG
from cartwin.model.library import Stein2019


@pytest.fixture(scope="module")
def small_fit():
    model = Stein2019()
    ds, truth = simulate_dataset(model, 40, omega2=STEIN2019_OMEGA2, sigma=STEIN2019_SIGMA_LOG, seed=5,
                                 missing=0.25, lloq=50.0, dose_amount=1e8)
    return fit_population(make_problem(model, ds), n_burn=60, n_smooth=40, n_is=30, seed=5), truth


def test_small_population_fit_finds_the_typical_values(small_fit):
    fit, _ = small_fit
    specs = Stein2019.parameter_specs()
    typical = fit.typical()
    for name, value in typical.items():
        # 40 patients, short chains: within a factor 1.6 of the generating typical value
        assert abs(np.log(value / specs[name].value)) < np.log(1.6), (name, value)
    assert 0.4 < fit.sigma < 0.75
    assert np.all(fit.omega2 > 0.05) and np.all(fit.omega2 < 6)


def test_outputs_tidy_table_shrinkage_ofv_individuals_and_a_population(small_fit):
    fit, _ = small_fit
    t = fit.table()
    assert list(t["Parameter"][:6]) == [f"log {n}" for n in Stein2019.parameter_specs()]
    assert (t["SE"].iloc[:7] > 0).all() and np.isfinite(t["%RSE"].iloc[:7]).all()
    assert np.all((fit.shrinkage > -0.2) & (fit.shrinkage < 1))
    assert np.isfinite(fit.ofv)
    ind = fit.individual()
    assert len(ind) == 40 and {"ID", "foldx", "eta_foldx"} <= set(ind.columns)
    pred = fit.predictions
    ok = pred["CENS"] == 0
    assert abs(pred.loc[ok, "CWRES"].mean()) < 0.3 and 0.6 < pred.loc[ok, "CWRES"].std() < 1.5
    # individual predictions fit better than population ones
    dv = np.log(pred.loc[ok, "DV"])
    assert np.std(dv - np.log(pred.loc[ok, "IPRED"])) < np.std(dv - np.log(pred.loc[ok, "PRED"]))
    pop = fit.sample_parameters(500, seed=1)
    assert pop.n_patients == 500
    iv = fit.intervals(0.9)
    assert (iv["low"] < iv["estimate"]).all() and (iv["estimate"] < iv["high"]).all()


def test_report_writes_tables_figures_and_html(small_fit, tmp_path):
    from cartwin.fit.report import write_population_outputs

    fit, _ = small_fit
    paths = write_population_outputs(fit, tmp_path, n_vpc=30)
    html = paths["report"].read_text()
    assert html.count("data:image/png;base64,") == 3 and "Visual predictive check" in html
    assert paths["estimates"].stat().st_size > 0 and paths["vpc"].stat().st_size > 0
    # the population file holds the estimates with units, the model and the residual error
    from cartwin.population.fitted import load_population

    pop = load_population(tmp_path)
    assert pop.model == "stein2019" and pop.n_patients == 40
    by_name = {p.name: p for p in pop.parameters}
    for k, (name, value) in enumerate(fit.typical().items()):
        assert by_name[name].typical == pytest.approx(value) and by_name[name].omega2 == pytest.approx(fit.omega2[k])
        assert by_name[name].unit == Stein2019.parameter_specs()[name].unit and by_name[name].scale == "log"
    assert pop.residual_error["sigma"] == pytest.approx(fit.sigma) and pop.residual_error["model"] == "log"


@pytest.mark.slow
def test_m3_is_less_biased_than_dropping_blq_rows():
    # ~30 % of observations below LLOQ; bias = mean |log(estimate / truth)| of the typical values.
    model = Stein2019()
    specs = model.parameter_specs()
    ds, _ = simulate_dataset(model, 60, omega2=STEIN2019_OMEGA2, sigma=STEIN2019_SIGMA_LOG, seed=22,
                             missing=0.25, lloq=90.0)
    assert 0.25 < ds.blq_fraction < 0.35
    dropped = read_nonmem(ds.frame[ds.frame["CENS"] == 0].drop(columns=["TIME_DAY", "ROW"]), dv_unit=ds.dv_unit)
    bias = {}
    for label, data in (("m3", ds), ("drop", dropped)):
        fit = fit_population(make_problem(model, data), n_burn=100, n_smooth=60, n_is=20, seed=22)
        bias[label] = np.mean([abs(np.log(v / specs[k].value)) for k, v in fit.typical().items()])
    assert bias["m3"] < bias["drop"], bias


@pytest.mark.slow
def test_recovery_of_stein2019_over_20_replicates():
    path = Path(__file__).resolve().parents[2] / "scripts" / "fit_recovery.py"
    spec = importlib.util.spec_from_file_location("fit_recovery", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import pandas as pd

    rows = pd.concat([mod.one(r, 100, 0.25, 50.0, 150, 100) for r in range(20)], ignore_index=True)
    s = mod.summary(rows).set_index("quantity")
    fixed = [q for q in s.index if not q.startswith("omega2") and q != "sigma"]
    variances = [q for q in s.index if q.startswith("omega2")]
    assert (s.loc[fixed, "bias of mean %"].abs() <= 15).all(), s
    assert (s.loc[variances, "bias of mean %"].abs() <= 35).all(), s
    assert (s["90% CI coverage %"] >= 70).all(), s


def test_a_covariate_effect_is_estimated_with_its_uncertainty():
    # C_max proportional to weight (power 1): the fitted exponent's 95 % interval holds 1, not 0.
    model = Stein2019()
    rng = np.random.default_rng(108)  # not the dataset's seed: weights independent of the etas
    wt = np.exp(rng.normal(np.log(40.0), 0.4, 60))
    typical = {"C_max_copies_per_ug": 24000.0 * wt / np.median(wt)}
    omega2 = {"C_max_copies_per_ug": 0.2, "T_max_day": 0.2, "alpha_per_day": 0.2}
    ds, _ = simulate_dataset(model, 60, omega2=omega2, typical=typical, sigma=0.3, seed=8, covariates={"WT": wt})
    problem = make_problem(model, ds, estimate=list(omega2), covariates={"C_max_copies_per_ug": ["WT"]})
    fit = fit_population(problem, n_burn=60, n_smooth=40, n_is=10, seed=8)
    row = fit.table().set_index("Parameter").loc["beta WT on C_max_copies_per_ug"]
    assert row["CI Lower"] < 1.0 < row["CI Upper"] and row["CI Lower"] > 0.3, row
