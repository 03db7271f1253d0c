"""Dose rows are the fitted model's doses: a fit simulates the regimen the patients received.

A dataset simulated at dose D1 is fitted back: with the doses the parameters are recovered; a
fit that ignores them (the model's default initial state, or no lymphodepletion) is biased.
The composite model's data come from the therapy layer (``simulate_course``: lymphodepletion
from day -5, infusion at day 0), an independent path from the fit's dose plan.
"""

import numpy as np
import pytest

from cartwin.fit import fit_individual, make_problem, read_nonmem, simulate_dataset
from cartwin.fit.dataset import NonmemDataset
from cartwin.fit.simulate import timecourse_to_nonmem
from cartwin.foundation.errors import DataError, ValidationError
from cartwin.model import CarTPatientModel
from cartwin.model.library import Kimmel2021, Stein2019

KIMMEL_OMEGA2 = {"rho_C_per_day": 0.3, "b_per_day": 0.3}
DAYS = (3.0, 7.0, 10.0, 14.0, 21.0, 28.0, 60.0, 90.0)


def _without_doses(ds: NonmemDataset) -> NonmemDataset:
    return NonmemDataset(ds.frame[ds.frame["EVID"] == 0].reset_index(drop=True), ds.dv_unit, ds.time_unit,
                         ds.covariates, ds.source)


def _log_errors(fit, truth, names):
    est = fit.estimates()
    return {k: np.abs(np.log(est[k].to_numpy() / truth[k])) for k in names}


def test_kimmel_fit_recovers_parameters_with_the_doses_and_not_without():
    # D1 = 9e8 cells, five times the 1.8e8-cell dose the model's initial state holds
    m = Kimmel2021()
    ds, truth = simulate_dataset(m, 8, omega2=KIMMEL_OMEGA2, sigma=0.05, seed=2, observable="car_t_per_ul",
                                 sample_days=DAYS, dose_amount=9e8)
    seen = make_problem(m, ds, estimate=list(KIMMEL_OMEGA2), observable="car_t_per_ul", amt_unit="cells")
    assert seen.dosing["amt_units"] == {"car_t": "cells"} and seen.unapplied_doses == 0
    err = _log_errors(fit_individual(seen, omega2=KIMMEL_OMEGA2, sigma=0.05), truth, KIMMEL_OMEGA2)
    assert all(e.max() < 0.1 for e in err.values()), err
    ignored = make_problem(m, _without_doses(ds), estimate=list(KIMMEL_OMEGA2), observable="car_t_per_ul")
    err_ignored = _log_errors(fit_individual(ignored, omega2=KIMMEL_OMEGA2, sigma=0.05), truth, KIMMEL_OMEGA2)
    assert np.median(err_ignored["rho_C_per_day"]) > 0.2 and np.median(err_ignored["b_per_day"]) > 0.1, err_ignored
    # the same dose as 10^6 cells, or per kg with a WT column, is the same dose
    frame = ds.frame.copy()
    frame.loc[frame["EVID"] == 1, "AMT"] = 900.0
    in_millions = NonmemDataset(frame, ds.dv_unit, ds.time_unit, ds.covariates, ds.source)
    other = make_problem(m, in_millions, estimate=list(KIMMEL_OMEGA2), observable="car_t_per_ul", amt_unit="10^6 cells")
    phi = seen.to_phi({k: v for k, v in truth.items() if k in KIMMEL_OMEGA2})
    np.testing.assert_allclose(other.predict(phi), seen.predict(phi), rtol=1e-12)


@pytest.fixture(scope="module")
def cart_data():
    """Six tisa-cel ALL patients at D1 = 1e8 cells, simulated by the therapy layer."""
    from cartwin.therapy import Covariates, Regimen, simulate_course
    from cartwin.therapy.course import build_course

    rng = np.random.default_rng(1)
    n = 6
    regimen = Regimen("tisa-cel", "all")
    _, params, *_ = build_course(regimen, Covariates(), dose_cells=np.ones(1))
    truth = {"k_prolif_per_day": float(params["k_prolif_per_day"]) * np.exp(rng.normal(0, 0.3, n)),
             "d_effector_per_day": float(params["d_effector_per_day"]) * np.exp(rng.normal(0, 0.4, n))}
    days = (1.0, 4.0, 7.0, 10.0, 14.0, 21.0, 28.0, 56.0, 84.0)
    weight, height = np.linspace(40.0, 90.0, n), np.linspace(150.0, 185.0, n)
    result = simulate_course(regimen, Covariates(weight_kg=weight, height_cm=height), days=84, param_overrides=truth,
                             dose_cells=np.full(n, 1e8), save_days=np.array(days))
    exact = timecourse_to_nonmem(result.timecourse(), dose_cells=np.full(n, 1e8), days=days,
                                 covariates={"WT": weight, "HT": height})
    noisy = exact.frame.copy()
    obs = noisy["EVID"] == 0
    noisy.loc[obs, "DV"] *= np.exp(rng.normal(0, 0.1, int(obs.sum())))
    return exact, NonmemDataset(noisy, exact.dv_unit, exact.time_unit, exact.covariates, exact.source), truth


def _cart_problem(ds, **kw):
    options = {"amt_unit": "cells", "product": "tisa-cel", "indication": "all"} | kw
    return make_problem(CarTPatientModel(), ds, estimate=["k_prolif_per_day", "d_effector_per_day"],
                        observable="transgene_copies_per_ug", **options)


def test_composite_fit_simulates_the_regimen_the_therapy_layer_gives(cart_data):
    exact, _, truth = cart_data
    p = _cart_problem(exact)
    assert p.t0 == -5.0 and p.dosing["lymphodepletion"]["from"] == "regimen"
    assert p.dosing["lymphodepletion"]["fludarabine_mg_per_m2"] == 25.0  # tisa-cel's Flu/Cy (Kymriah label)
    np.testing.assert_allclose(p.predict(p.to_phi(truth)), p.obs_dv, rtol=1e-5)
    # without lymphodepletion the same patients expand less: the fit would see another course
    none = _cart_problem(exact, lymphodepletion="none")
    assert np.median(np.abs(np.log(none.predict(none.to_phi(truth)) / none.obs_dv))) > 0.2
    # the lymphodepletion as dataset rows (mg/m2 with WT and HT) is the regimen's
    frame = exact.frame
    rows = []
    for pid in exact.ids():
        for day in (-5.0, -4.0, -3.0):
            rows.append({"ID": pid, "TIME": day, "DV": ".", "AMT": 25.0, "EVID": 1, "MDV": 1, "CMT": "fludarabine"})
            rows.append({"ID": pid, "TIME": day, "DV": ".", "AMT": 250.0, "EVID": 1, "MDV": 1, "CMT": "cyclophosphamide"})
    import pandas as pd

    ld = pd.DataFrame(rows)
    rest = frame.assign(TIME=frame["TIME_DAY"])[["ID", "TIME", "DV", "AMT", "EVID", "MDV", "CMT", "CENS", "LLOQ", "WT", "HT"]]
    table = pd.concat([ld, rest], ignore_index=True)
    table["order"] = table["ID"].map({pid: i for i, pid in enumerate(exact.ids())})
    table = table.sort_values(["order", "TIME"], kind="stable").drop(columns="order")
    with_rows = read_nonmem(table.fillna("."), dv_unit=exact.dv_unit)
    q = _cart_problem(with_rows, amt_unit={"car_t": "cells", "fludarabine": "mg/m2", "cyclophosphamide": "mg/m2"})
    assert q.dosing["lymphodepletion"] == "dataset rows"
    np.testing.assert_allclose(q.predict(q.to_phi(truth)), p.predict(p.to_phi(truth)), rtol=1e-6)


def test_composite_fit_recovers_parameters_with_the_doses_and_not_without_lymphodepletion(cart_data):
    _, noisy, truth = cart_data
    err = _log_errors(fit_individual(_cart_problem(noisy), sigma=0.1), truth, truth)
    # measured 2026-12-06: max 0.037 and 0.048; without lymphodepletion medians 0.44 and 1.18
    assert err["k_prolif_per_day"].max() < 0.1 and err["d_effector_per_day"].max() < 0.15, err
    biased = _log_errors(fit_individual(_cart_problem(noisy, lymphodepletion="none"), sigma=0.1), truth, truth)
    assert np.median(biased["k_prolif_per_day"]) > 0.2 and np.median(biased["d_effector_per_day"]) > 0.5, biased


def test_composite_fit_refusals_name_the_field(cart_data):
    exact, _, _ = cart_data
    with pytest.raises(ValidationError, match="amt_unit"):
        _cart_problem(exact, amt_unit=None)
    with pytest.raises(ValidationError, match="amt_unit"):
        _cart_problem(exact, amt_unit="mg")
    with pytest.raises(ValidationError, match="product"):
        _cart_problem(exact, product=None)
    with pytest.raises(ValidationError, match="CAR-T dose"):
        _cart_problem(_without_doses(exact))
    with pytest.raises(ValidationError, match="lymphodepletion"):
        _cart_problem(exact, lymphodepletion="flu only")
    with pytest.raises(DataError, match="WT"):
        frame = exact.frame.drop(columns=["WT"])
        _cart_problem(NonmemDataset(frame, exact.dv_unit, exact.time_unit, ("HT",), exact.source), amt_unit="cells/kg")


def test_models_without_a_dose_input_record_dose_rows_without_applying_them():
    ds, _ = simulate_dataset(Stein2019(), 3, omega2={"foldx": 0.1}, sigma=0.1, seed=1, dose_amount=1e8)
    p = make_problem(Stein2019(), ds)
    assert p.unapplied_doses == 3 and not p.schedule.doses
    with pytest.raises(ValidationError, match="product"):
        make_problem(Stein2019(), ds, product="tisa-cel")


@pytest.mark.slow
def test_composite_population_fit_with_doses_feeds_a_virtual_trial(tmp_path):
    # ~60 s: SAEM on 24 patients of the composite model, then a 30-patient ELIANA trial with it
    import warnings

    from cartwin.fit import fit
    from cartwin.foundation.errors import CartwinWarning
    from cartwin.therapy import Covariates, Regimen, simulate_course
    from cartwin.therapy.course import build_course
    from cartwin.trial.runner import run_trial

    rng = np.random.default_rng(7)
    n = 24
    regimen = Regimen("tisa-cel", "all")
    _, params, *_ = build_course(regimen, Covariates(), dose_cells=np.ones(1))
    typical = {k: float(params[k]) for k in ("k_prolif_per_day", "d_effector_per_day")}
    omega2 = {"k_prolif_per_day": 0.09, "d_effector_per_day": 0.16}
    truth = {k: typical[k] * np.exp(rng.normal(0, np.sqrt(omega2[k]), n)) for k in typical}
    days = (1.0, 4.0, 7.0, 10.0, 14.0, 21.0, 28.0, 56.0, 84.0)
    w, h = rng.uniform(40, 90, n), rng.uniform(150, 185, n)
    course = simulate_course(regimen, Covariates(weight_kg=w, height_cm=h), days=84, param_overrides=truth,
                             dose_cells=np.full(n, 1e8), save_days=np.array(days))
    ds = timecourse_to_nonmem(course.timecourse(), dose_cells=np.full(n, 1e8), days=days, covariates={"WT": w, "HT": h})
    frame = ds.frame.copy()
    obs = frame["EVID"] == 0
    frame.loc[obs, "DV"] *= np.exp(rng.normal(0, 0.2, int(obs.sum())))
    ds = NonmemDataset(frame, ds.dv_unit, ds.time_unit, ds.covariates, ds.source)
    result = fit(ds, "cart", estimate=list(typical), observable="transgene_copies_per_ug", amt_unit="cells",
                 product="tisa-cel", indication="all", n_burn=40, n_smooth=30, n_is=30, out=tmp_path / "fit")
    sample_typical = {k: float(np.exp(np.mean(np.log(v)))) for k, v in truth.items()}  # this cohort's
    for k, v in result.typical().items():
        assert abs(np.log(v / sample_typical[k])) < np.log(1.3), (k, v, sample_typical[k])
    with warnings.catch_warnings():
        warnings.simplefilter("error", CartwinWarning)  # same product: no warning
        trial = run_trial("eliana", 30, 1, population=tmp_path / "fit", follow_up_days=60.0)
    assert trial.fitted_population["context"]["product"] == "tisa-cel"
    assert set(trial.fitted_population["mapping"].values()) == set(typical)
    assert "k_prolif_per_day" in trial.fitted_population["superseded_calibration"]
    with pytest.warns(CartwinWarning, match="fitted to tisa-cel"):
        run_trial("zuma-1", 5, 1, population=tmp_path / "fit", follow_up_days=30.0)
