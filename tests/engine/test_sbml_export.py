"""SBML export of one patient, run alone in libRoadRunner, reproduces cartwin's simulate().

Generic over any Model: the library models and the composite model (whatever its current
equations), each with its own initial state, parameters (one patient of a batch) and doses.
Skipped without libroadrunner (``pip install "cartwin[bench]"``), except the unit parser.
"""

import numpy as np
import pytest

from cartwin.engine import Dose, SaveAt, Schedule, ScipyReference, StepController, simulate
from cartwin.engine.sbml import model_sbml, parse_unit
from cartwin.model.library import Kimmel2021, Stein2019

DAYS = (1.0, 3.0, 7.0, 9.0, 14.0, 28.0, 60.0)


def _roadrunner_run(text, times, atol: dict, rtol=1e-10):
    roadrunner = pytest.importorskip("roadrunner")
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = rtol
    order = [rr.model.getStateVectorId(i) for i in range(rr.model.getNumFloatingSpecies() + rr.model.getNumRateRules())]
    rr.integrator.absolute_tolerance = [atol.get(s, 1e-12) for s in order]
    rr.integrator.maximum_num_steps = 200_000
    grid = np.concatenate([[0.0], np.asarray(times)])
    return rr, rr.simulate(times=grid.tolist())


def _match(model, params, schedule, t0=0.0, y0=None, patient=0, days=DAYS, tol=1e-4):
    names = model.state_names()
    # Absolute tolerances scaled by each state's size along the course (states span 1e-3..1e9).
    rough = simulate(model, params, y0=y0, t0=t0, saveat=SaveAt(days), schedule=schedule, solver=ScipyReference())
    size = np.maximum(np.nanmax(np.abs(rough.ys), axis=(0, 1)), 1e-3)
    atol = dict(zip(names, 1e-12 * size, strict=True))
    sol = simulate(model, params, y0=y0, t0=t0, saveat=SaveAt(days), schedule=schedule,
                   solver=ScipyReference(), controller=StepController(rtol=1e-10, atol=atol))
    text = model_sbml(model, params, y0=y0, schedule=schedule, t0=t0, patient=patient)
    rr, res = _roadrunner_run(text, np.asarray(days) - t0, atol)
    got = np.column_stack([res[:, res.colnames.index(f"[{s}]")] if f"[{s}]" in res.colnames else
                           res[:, res.colnames.index(s)] for s in names])[1:]
    want = sol.ys[patient]
    scale = np.maximum(np.abs(want), 1e-6 * np.abs(want).max(axis=0, keepdims=True) + 1e-12)
    err = np.max(np.abs(got - want) / scale)
    assert err < tol, err
    print(f"{model.name}: max relative difference {err:.2e}")
    return err


def test_unit_text_parses_to_sbml_units():
    assert parse_unit("1/day") == [("second", -1, 0, 86400.0)]
    assert parse_unit("cells/uL") == [("item", 1, 0, 1.0), ("litre", -1, -6, 1.0)]
    assert parse_unit("10^9/L") == [("litre", -1, 0, 1.0), ("dimensionless", 1, 0, 1e9)]
    assert parse_unit("1") == []
    assert parse_unit("1 per unit LD exposure") is None


def test_export_states_initial_values_units_and_doses():
    libsbml = pytest.importorskip("libsbml")
    schedule = Schedule([Dose(2.0, "car_t", 0.5, "second infusion")])
    p = Kimmel2021.parameters(r_N_per_day=np.array([0.1, 0.2]))
    doc = libsbml.readSBMLFromString(model_sbml(Kimmel2021(), p, schedule=schedule, patient=1))
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0, doc.getErrorLog().toString()
    m = doc.getModel()
    assert m.getParameter("normal_t").getValue() == 6.0
    assert m.getParameter("r_N_per_day").getValue() == 0.2
    assert m.getUnitDefinition(m.getParameter("K_N_cells_per_ul").getUnits()) is not None
    assert m.getNumEvents() == 1


def test_library_models_run_alone_in_roadrunner_match_cartwin():
    # Stein: E(0) from C_max/foldx and a breakpoint at T_max; two patients, the second exported.
    p = Stein2019.parameters(T_max_day=np.array([9.3, 6.1]), alpha_per_day=np.array([0.16, 0.3]))
    _match(Stein2019(), p, None, patient=1, days=(1.0, 6.0, 6.1, 7.0, 14.0, 28.0, 100.0, 300.0))
    # Kimmel with a second infusion on day 5 (a dose event) and a start at day -2.
    sched = Schedule([Dose(-2.0, "car_t", 0.2), Dose(5.0, "car_t", 1.0), Dose(5.0, "car_t", 0.5)])
    _match(Kimmel2021(), Kimmel2021.parameters(), sched, t0=-2.0)


def test_main_model_patient_runs_alone_in_roadrunner():
    # The composite model as it stands (model/cart.py), a typical course: lymphodepletion from
    # day -5 and the infusion at day 0, exported with its doses; no policy.
    pytest.importorskip("roadrunner")
    from cartwin.therapy import Covariates, Regimen
    from cartwin.therapy.course import build_course

    model, params, y0, schedule, _ = build_course(Regimen("axi-cel", "lbcl"), Covariates())
    _match(model, params, schedule, t0=-5.0, y0=y0, days=(0.0, 7.0, 14.0, 28.0))
