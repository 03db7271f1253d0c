"""SBML import: the three shared BioModels files become cartwin Models that match libRoadRunner
running the same files (1e-6 relative at days 7, 14, 28, 100), run in every engine batched with
per-patient parameters, and refuse what they cannot map by name.

Kimmel 2021 (BIOMD0000001041) imported equals model/library/kimmel2021.py.
"""

from pathlib import Path

import numpy as np
import pytest

from cartwin.engine import SaveAt, ScipyReference, StepController, simulate
from cartwin.engine.sbml import event_schedule
from cartwin.foundation.errors import ValidationError

libsbml = pytest.importorskip("libsbml")
from cartwin.model.sbml_import import from_sbml, sbml_to_source  # noqa: E402

# The project's shared reference folder sits beside the checkout (../shared).
SBML = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "sbml"
FILES = ["BIOMD0000001011.xml", "BIOMD0000001019.xml", "BIOMD0000001041.xml"]
DAYS = (7.0, 14.0, 28.0, 100.0)


def _files():
    if not SBML.exists():
        pytest.skip("shared SBML reference files not present")
    return [SBML / f for f in FILES]


def _cartwin(model, params=None, days=DAYS, solver=None, rtol=1e-11):
    params = params or model.parameters()
    n = params.n_patients or 1
    y0 = model.initial_state(params.broadcast(n), n)
    atol = dict(zip(model.state_names(), 1e-13 * np.maximum(np.abs(y0).max(axis=1), 1.0), strict=True))
    return simulate(model, params, n_patients=n, saveat=SaveAt(days), schedule=event_schedule(model, params),
                    solver=solver or ScipyReference(), controller=StepController(rtol=rtol, atol=atol))


@pytest.mark.parametrize("name", FILES)
def test_imported_file_matches_roadrunner_on_the_same_file(name):
    roadrunner = pytest.importorskip("roadrunner")
    path = next(p for p in _files() if p.name == name)
    model = from_sbml(path)
    sol = _cartwin(model)
    assert sol.ok.all()
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = 1e-12
    rr.integrator.absolute_tolerance = 1e-12
    rr.integrator.maximum_num_steps = 500_000
    res = rr.simulate(times=[0.0, *DAYS])
    for i, s in enumerate(model.state_names()):
        col = f"[{s}]" if f"[{s}]" in res.colnames else s
        got, want = sol.ys[0, :, i], res[1:, res.colnames.index(col)]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * np.abs(want).max(), err_msg=f"{name} {s}")


def test_imported_kimmel_equals_the_library_model():
    from cartwin.model.library import Kimmel2021

    model = from_sbml(next(p for p in _files() if p.name == "BIOMD0000001041.xml"))
    lib = Kimmel2021()
    names = {"r_N": "r_N_per_day", "K_N": "K_N_cells_per_ul", "K_C": "K_C_cells_per_ul", "rho_C": "rho_C_per_day",
             "a": "a", "b": "b_per_day", "r_B": "r_B_per_day", "gamma_B": "gamma_B_per_day", "k_B": "k_B_cells_per_ul"}
    table = model.parameter_specs()
    for sbml_name, lib_name in names.items():
        assert table[sbml_name].value == lib.parameter_specs()[lib_name].value, sbml_name
    assert set(table) == set(names) | {"compartment"}
    p_imp, p_lib = model.parameters(), lib.parameters()
    np.testing.assert_array_equal(model.initial_state(p_imp, 1), lib.initial_state(p_lib, 1))
    rng = np.random.default_rng(0)
    y = np.exp(rng.uniform(-3, 7, size=(3, 500)))
    np.testing.assert_allclose(model.rhs_array(0.0, y, p_imp), lib.rhs_array(0.0, y, p_lib), rtol=1e-12, atol=1e-12)


def test_imported_model_runs_batched_with_iiv_in_every_engine():
    model = from_sbml(next(p for p in _files() if p.name == "BIOMD0000001019.xml"))
    rng = np.random.default_rng(1)
    n = 8
    params = model.parameters(phi=0.265 * np.exp(rng.normal(0, 0.2, n)), rho=0.0565 * np.exp(rng.normal(0, 0.2, n)))
    ref = _cartwin(model, params, rtol=1e-10)
    from cartwin.engine import Rosenbrock4
    from cartwin.engine.compiled import NumbaRosenbrock

    solvers = [Rosenbrock4(), NumbaRosenbrock()]
    try:
        from cartwin.engine.jax_engine import JaxRosenbrock

        solvers.append(JaxRosenbrock())
    except ImportError:  # pragma: no cover - jax is in the test extra
        pass
    for solver in solvers:
        sol = _cartwin(model, params, solver=solver, rtol=1e-8)
        assert sol.ok.all()
        np.testing.assert_allclose(sol.ys, ref.ys, rtol=1e-5, atol=1e-3)
    # patients differ (per-patient parameters reach the rhs), and the day-45 setting happened.
    assert np.ptp(ref.ys[:, -1, 2]) > 0
    assert (ref.ys[:, 0, 1] == 0).all() and (ref.ys[:, -1, 1] > 0).all()


def _write(tmp_path, body, extra=""):
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="m" timeUnits="hour">
<listOfUnitDefinitions><unitDefinition id="hour"><listOfUnits><unit kind="second" exponent="1" scale="0"
 multiplier="3600"/></listOfUnits></unitDefinition></listOfUnitDefinitions>
<listOfCompartments><compartment id="c" size="2" constant="true" spatialDimensions="3"/></listOfCompartments>
<listOfSpecies><species id="X" compartment="c" initialConcentration="3" hasOnlySubstanceUnits="false"
 boundaryCondition="false" constant="false"/></listOfSpecies>
<listOfParameters><parameter id="k" value="0.5" constant="true"/>{extra}</listOfParameters>
{body}
</model></sbml>"""
    path = tmp_path / "m.xml"
    path.write_text(text)
    return path


def test_units_to_days_local_parameters_and_an_initial_assignment(tmp_path):
    body = """<listOfInitialAssignments><initialAssignment symbol="X"><math xmlns="http://www.w3.org/1998/Math/MathML">
<apply><times/><cn>2</cn><ci>k</ci></apply></math></initialAssignment></listOfInitialAssignments>
<listOfReactions><reaction id="deg" reversible="false"><listOfReactants><speciesReference species="X" stoichiometry="1"
 constant="true"/></listOfReactants><kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>c</ci>
<ci>kd</ci><ci>X</ci></apply></math><listOfLocalParameters><localParameter id="kd" value="0.1"/></listOfLocalParameters>
</kineticLaw></reaction></listOfReactions>"""
    model = from_sbml(_write(tmp_path, body))
    assert "deg_kd" in model.parameter_specs()
    p = model.parameters(k=np.array([0.5, 1.0]))
    np.testing.assert_allclose(model.initial_state(p, 2)[0], [1.0, 2.0])  # X(0) = 2k per patient
    sol = simulate(model, p, saveat=SaveAt([1.0]), solver=ScipyReference(), controller=StepController(rtol=1e-10))
    # the file's time is in hours: one day is 24 hours of dX/dt = -0.1 X.
    np.testing.assert_allclose(sol.ys[:, 0, 0], np.array([1.0, 2.0]) * np.exp(-0.1 * 24), rtol=1e-7)


@pytest.mark.parametrize("body, named", [
    ("""<listOfRules><algebraicRule><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><minus/><ci>X</ci><cn>1</cn>
</apply></math></algebraicRule></listOfRules>""", "algebraic rule"),
    ("""<listOfEvents><event id="e1" useValuesFromTriggerTime="true"><trigger initialValue="true" persistent="true">
<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><ci>X</ci><cn>5</cn></apply></math></trigger>
<listOfEventAssignments><eventAssignment variable="X"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>0</cn></math>
</eventAssignment></listOfEventAssignments></event></listOfEvents>""", "event e1"),
    ("""<listOfRules><rateRule variable="X"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><arcsin/><ci>k</ci>
</apply></math></rateRule></listOfRules>""", "arcsin"),
])
def test_unmappable_features_are_refused_by_name(tmp_path, body, named):
    with pytest.raises(ValidationError, match=named):
        from_sbml(_write(tmp_path, body))


def test_generated_source_is_readable_python():
    text = sbml_to_source(next(p for p in _files() if p.name == "BIOMD0000001011.xml"))
    compile(text, "generated", "exec")
    assert "def rhs(self, t, y, p, xp=np):" in text


def test_time_switch_is_a_breakpoint_and_an_additive_event_a_dose(tmp_path):
    body = """<listOfRules><rateRule variable="R"><math xmlns="http://www.w3.org/1998/Math/MathML"><piecewise><piece>
<ci>k</ci><apply><lt/><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>
<ci>tau</ci></apply></piece><otherwise><apply><times/><cn>-0.1</cn><ci>R</ci></apply></otherwise></piecewise></math>
</rateRule></listOfRules>
<listOfEvents><event id="bolus" useValuesFromTriggerTime="true"><trigger initialValue="true" persistent="true">
<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><geq/><csymbol encoding="text"
 definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol><cn>36</cn></apply></math></trigger>
<listOfEventAssignments><eventAssignment variable="X"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><plus/>
<ci>X</ci><apply><times/><cn>2</cn><ci>k</ci></apply></apply></math></eventAssignment></listOfEventAssignments></event>
</listOfEvents>"""
    extra = '<parameter id="tau" value="30" constant="true"/><parameter id="R" value="1" constant="false"/>'
    model = from_sbml(_write(tmp_path, body, extra))  # time in hours
    p = model.parameters()
    np.testing.assert_allclose(model.breakpoints(p, 1), [[30.0 / 24.0]])  # tau = 30 h, in days
    (ev,) = model.timed_events
    assert (ev.kind, ev.state, ev.time_day) == ("dose", "X", 1.5)
    schedule = event_schedule(model, p)
    assert schedule.doses[0].amount.tolist() == [1.0]  # 2 k
    sol = simulate(model, p, saveat=SaveAt([1.0, 2.0]), schedule=schedule, solver=ScipyReference(),
                   controller=StepController(rtol=1e-10, atol=1e-12))
    x, r = sol.ys[0, :, model.state_index("X")], sol.ys[0, :, model.state_index("R")]
    np.testing.assert_allclose(x, [3.0, 3.0 + 1.0], rtol=1e-9)
    np.testing.assert_allclose(r, [1 + 0.5 * 24, (1 + 0.5 * 30) * np.exp(-0.1 * 18)], rtol=1e-7)


def test_a_file_without_a_time_unit_needs_one(tmp_path):
    path = _write(tmp_path, "")
    path.write_text(path.read_text().replace(' timeUnits="hour"', ""))
    with pytest.raises(ValidationError, match="time_unit"):
        from_sbml(path)
    assert from_sbml(path, time_unit="day").sbml_time_unit == "day (given)"
