"""The batched Rosenbrock engine agrees with scipy's Radau at tight tolerance."""

import numpy as np
import pytest

from cartwin.engine import Dose, Rosenbrock4, SaveAt, ScipyReference, StepController, simulate
from cartwin.model.library import Kimmel2021, Stein2019
from cartwin.therapy import Covariates, Regimen, simulate_course

CHECK_DAYS = [7, 14, 28, 90, 365]
# Below these levels a quantity is numerically absent (far under any assay's limit of
# quantification: tocilizumab ~0.1 ug/mL, dexamethasone ~0.1 ng/mL); relative error is
# checked above them, and below them both engines must agree the quantity is negligible.
NEGLIGIBLE = {"dexamethasone_ng_per_ml": 1e-6, "tocilizumab_ug_per_ml": 1e-6, "tumor_cells": 1e-3,
              "tumor_antigen_neg_cells": 1e-3}


def _toci_and_dex(t, obs, y):
    # Exercise the drug compartments: tocilizumab on day 2, dexamethasone on days 5-6.
    doses = []
    if t == 2.0:
        doses.append(Dose(t, "toci_central", np.array([560.0, 0.0, 720.0]), "tocilizumab"))
    if t in (5.0, 6.0):
        doses.append(Dose(t, "dex_central", np.array([0.0, 10.0, 10.0]), "dexamethasone"))
    return doses


@pytest.fixture(scope="module")
def composite_pair():
    cov = Covariates(
        weight_kg=np.array([70.0, 55.0, 90.0]),
        tumour_baseline_cells=np.array([9.5e10, 1e9, 3e11]),
        antigen_negative_fraction=np.array([0.0, 0.0, 1e-5]),
    )
    regimen = Regimen("axi-cel", "lbcl")
    ref = simulate_course(regimen, cov, rtol=1e-10, solver=ScipyReference(), policy=_toci_and_dex)
    fast = simulate_course(regimen, cov, rtol=1e-6, policy=_toci_and_dex)
    return ref, fast


def test_composite_model_every_observable_within_1e4(composite_pair):
    ref, fast = composite_pair
    a = ref.timecourse().set_index(["patient_id", "day"])
    b = fast.timecourse().set_index(["patient_id", "day"])
    assert (ref.solution.ok & fast.solution.ok).all()
    for column in a.columns.drop("status"):
        x = a[column].unstack().loc[:, CHECK_DAYS].to_numpy()
        y = b[column].unstack().loc[:, CHECK_DAYS].to_numpy()
        floor = NEGLIGIBLE.get(column, 0.0)
        present = np.abs(x) > floor
        rel = np.abs(x - y)[present] / np.abs(x)[present]
        assert rel.size == 0 or rel.max() <= 1e-4, (column, rel.max())
        assert np.all(np.abs(y[~present]) <= 10 * floor), column


def test_tighter_tolerance_is_more_accurate(composite_pair):
    ref, _ = composite_pair
    cov = Covariates(weight_kg=np.array([70.0, 55.0, 90.0]), tumour_baseline_cells=np.array([9.5e10, 1e9, 3e11]),
                     antigen_negative_fraction=np.array([0.0, 0.0, 1e-5]))
    errors = []
    for rtol in (1e-4, 1e-6):
        fast = simulate_course(Regimen("axi-cel", "lbcl"), cov, rtol=rtol, policy=_toci_and_dex, days=365)
        x = ref.timecourse()["car_t_per_ul"].to_numpy()
        y = fast.timecourse()["car_t_per_ul"].to_numpy()
        errors.append(np.max(np.abs(x - y) / np.abs(x)))
    assert errors[1] < errors[0] / 10


@pytest.mark.parametrize("model_cls", [Kimmel2021, Stein2019])
def test_library_models_agree_with_reference(model_cls):
    model = model_cls()
    params = model.parameters()
    save = SaveAt([0.0, 5.0, 9.3, 14.0, 28.0, 90.0, 365.0])
    ref = simulate(model, params, solver=ScipyReference(), saveat=save, controller=StepController(rtol=1e-11, atol=1e-12))
    fast = simulate(model, params, solver=Rosenbrock4(), saveat=save, controller=StepController(rtol=1e-8, atol=1e-12))
    np.testing.assert_allclose(fast.ys, ref.ys, rtol=1e-5, atol=1e-12)
