"""The JAX engine (same model source, exact Jacobian) agrees with the scipy reference."""

import numpy as np
import pytest

pytest.importorskip("jax")

from cartwin.engine import ScipyReference  # noqa: E402
from cartwin.engine.jax_engine import JaxRosenbrock, run_on_device  # noqa: E402
from cartwin.therapy import Covariates, Regimen, simulate_course  # noqa: E402
from cartwin.therapy.course import DEFAULT_ATOL, build_course  # noqa: E402

COV = Covariates(weight_kg=np.array([70.0, 90.0]), tumour_baseline_cells=np.array([9.5e10, 3e11]),
                 antigen_negative_fraction=np.array([0.0, 1e-5]))


@pytest.mark.parametrize("method", ["rodas5p", "shampine4"])
def test_jax_engine_matches_reference_on_every_observable(matches_reference, method):
    ref = simulate_course(Regimen("axi-cel", "lbcl"), COV, rtol=1e-10, solver=ScipyReference())
    fast = simulate_course(Regimen("axi-cel", "lbcl"), COV, rtol=1e-6, solver=JaxRosenbrock(method=method))
    matches_reference(ref, fast)


def test_jax_shampine4_takes_the_numpy_engines_steps():
    numpy = simulate_course(Regimen("axi-cel", "lbcl"), COV, days=30)
    jax_run = simulate_course(Regimen("axi-cel", "lbcl"), COV, days=30, solver=JaxRosenbrock(method="shampine4"))
    np.testing.assert_array_equal(jax_run.solution.steps, numpy.solution.steps)
    rodas = simulate_course(Regimen("axi-cel", "lbcl"), COV, days=30, solver=JaxRosenbrock())
    assert rodas.solution.steps.sum() < 0.6 * numpy.solution.steps.sum()


def test_device_path_peak_matches_batched_engine():
    from cartwin.engine.control import StepController

    model, params, y0, schedule, _ = build_course(Regimen("axi-cel", "lbcl"), COV)
    n = y0.shape[1]
    doses = {}
    for d in schedule.doses:
        doses.setdefault(float(d.time_day), []).append((model.state_index(d.state), np.broadcast_to(np.asarray(d.amount, float), (n,)).copy()))
    decision = np.arange(-5.0, 29.0, 1.0)
    bounds = np.unique(np.concatenate([decision, list(doses)]))
    atol = StepController(atol=DEFAULT_ATOL).atol_vector(model.state_names())
    out = run_on_device(model, params.broadcast(n), y0, t0=-5.0, t_end=28.0, boundaries=bounds, doses=doses,
                        decision_days=decision, rtol=1e-6, atol=atol, summary_state="car_effector",
                        method="shampine4")  # the batched NumPy engine's method
    ref = simulate_course(Regimen("axi-cel", "lbcl"), COV, days=28)
    peak = ref.solution.state("car_effector")[:, ref.solution.ts >= 0].max(axis=1)
    np.testing.assert_allclose(out["max"], peak, rtol=1e-6)
    assert (out["status"] == 0).all()
