"""The batched Rosenbrock engine agrees with scipy's Radau at tight tolerance."""

import numpy as np
import pytest

from cartwin.engine import Dose, Rosenbrock4, SaveAt, ScipyReference, StepController, simulate
from cartwin.model.library import Kimmel2021, Stein2019
from cartwin.therapy import Covariates, Regimen, simulate_course


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


def test_composite_model_every_observable_within_1e4(composite_pair, matches_reference):
    ref, fast = composite_pair
    matches_reference(ref, fast)


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
