"""libRoadRunner (CVODE) on SBML generated from the model's rhs: the benchmark's comparison engine.

Skipped without ``libroadrunner`` (``pip install "cartwin[bench]"``), except the check that the
benchmark reports it as not installed.
"""

import sys

import numpy as np
import pytest

from cartwin.engine import bench
from cartwin.engine.control import SaveAt, StepController
from cartwin.engine.events import DecisionPoints
from cartwin.engine.simulate import simulate
from cartwin.engine.solvers import ScipyReference
from cartwin.therapy.course import DEFAULT_ATOL


@pytest.fixture(scope="module")
def two_patients():
    model, params, y0, schedule = bench.cohort(2, seed=1)
    return model, *bench._take(2, model, params, y0, schedule)


def test_benchmark_reports_roadrunner_not_installed(monkeypatch, two_patients):
    monkeypatch.setitem(sys.modules, "roadrunner", None)  # import raises ModuleNotFoundError
    model, params, y0, schedule = two_patients
    rows = bench._roadrunner_rows(model, params, y0, schedule, 2, None, None, None, 14.0, print)
    assert [r.engine for r in rows] == ["roadrunner"]
    assert rows[0].patients == 0 and "not installed" in rows[0].note


def test_sbml_rates_equal_rhs(two_patients):
    pytest.importorskip("roadrunner")
    model, params, y0, _ = two_patients
    rr = bench.load_roadrunner(model)
    rr.resetAll()
    for k, v in params.items():
        rr[k] = float(np.broadcast_to(np.asarray(v, float), (2,))[0])
    # A state with every sub-model active: CAR-T, drugs on board, cytokines above baseline.
    y = y0[:, 0].copy()
    for name, value in {"car_effector": 20.0, "car_memory": 3.0, "car_exhausted": 1.0, "toci_central": 500.0,
                        "dex_central": 8.0, "flu_central": 30.0, "cyclophosphamide": 900.0, "il6": 400.0,
                        "ifng": 90.0, "myeloid_activation": 0.3, "neutrophils": 200.0, "tumour_neg": 1e6}.items():
        y[model.state_index(name)] = value
    for name, value in zip(model.state_names(), y, strict=True):
        rr[name] = float(value)
    got = [rr[f"{name}'"] for name in model.state_names()]  # roadrunner's d(name)/dt
    want = model.rhs_array(0.0, y[:, None], params.take(np.array([0])))[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_per_state_absolute_tolerances_survive_small_values(two_patients):
    # A scalar atol is scaled by libRoadRunner by each state's value (the day-292 failure);
    # the vector is the course's per-state tolerances, whatever the state.
    pytest.importorskip("roadrunner")
    model = two_patients[0]
    rr = bench.load_roadrunner(model, atol_factor=0.1)
    rr["cyclophosphamide"] = 1e-305
    order = [rr.model.getStateVectorId(i) for i in range(len(model.states))]
    want = StepController(atol=DEFAULT_ATOL).atol_vector(tuple(order)) * 0.1
    np.testing.assert_allclose(rr.integrator.getAbsoluteToleranceVector(), want, rtol=1e-12)


def test_roadrunner_course_matches_reference(two_patients):
    pytest.importorskip("roadrunner")
    model, params, y0, schedule = two_patients
    ref = simulate(model, params, y0=y0, t0=-5.0, solver=ScipyReference(), saveat=SaveAt((7.0, 14.0)),
                   controller=StepController(rtol=1e-8, atol=DEFAULT_ATOL), schedule=schedule,
                   decisions=DecisionPoints(every_days=1.0, start_day=-5.0)).ys
    same = bench.run_roadrunner(model, params, y0, schedule, days=14.0)
    factor = bench.MATCH_LADDER[5]
    tight = bench.run_roadrunner(model, params, y0, schedule, days=14.0, rtol=1e-6 * factor, atol_factor=factor)
    assert np.isnan(same[:, 2:]).all()  # check days after the horizon are not simulated
    err_same, err_tight = bench._error(same[:, :2], ref), bench._error(tight[:, :2], ref)
    assert err_same < 1e-3
    assert err_tight < 1e-5 and err_tight < err_same / 30
