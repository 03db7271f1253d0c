"""Engine choice by name: "auto" is the compiled engine where it is installed, else NumPy."""

import pytest

from cartwin.engine import Rosenbrock4, ScipyReference, choice
from cartwin.engine.choice import (
    LEGACY_ENGINE_NAMES,
    compiled_engine_available,
    resolve_solver,
    solver_for_engine_name,
)
from cartwin.foundation.errors import ValidationError


def test_a_solver_object_passes_through_and_numpy_is_rosenbrock4():
    reference = ScipyReference()
    assert resolve_solver(reference) is reference
    assert isinstance(resolve_solver("numpy"), Rosenbrock4)


@pytest.mark.skipif(not compiled_engine_available(), reason="numba or SymPy not installed")
def test_auto_and_none_are_the_compiled_engine_where_installed():
    from cartwin.engine.compiled import NumbaRosenbrock

    for name in ("auto", None, "numba", "numba-generated"):
        solver = resolve_solver(name)
        assert isinstance(solver, NumbaRosenbrock) and solver.method == "rodas5p"
    assert resolve_solver("auto").rhs == resolve_solver(None).rhs == "generated"


def test_without_numba_auto_falls_back_and_numba_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(choice, "compiled_engine_available", lambda: False)
    assert isinstance(resolve_solver("auto"), Rosenbrock4)
    assert isinstance(resolve_solver(None), Rosenbrock4)
    with pytest.raises(ValidationError, match=r"--engine.*cartwin\[fast\]"):
        resolve_solver("numba", field="--engine")


@pytest.mark.parametrize("bad", ["gpu9", "Numba", 3, object()])
def test_unknown_engines_are_refused_naming_the_field(bad):
    with pytest.raises(ValidationError, match=r"^solver: expected one of auto, numba, numba-generated, numpy, an engine "
                       r"name a result records \(<method>-numpy, .*\), or a solver object"):
        resolve_solver(bad)


def test_a_command_line_option_is_not_offered_solver_objects():
    with pytest.raises(ValidationError) as info:
        resolve_solver("gpu9", field="--engine", objects=False)
    assert str(info.value).startswith("--engine: expected one of auto, numba, numba-generated, numpy")
    assert "solver object" not in str(info.value)


@pytest.mark.skipif(not compiled_engine_available(), reason="numba or SymPy not installed")
def test_numba_generated_is_the_compiled_engine_with_the_generated_rhs():
    solver = resolve_solver("numba-generated")
    assert solver.rhs == "generated" and solver.name == "rodas5p-numba-generated"
    assert resolve_solver("numba").name == "rodas5p-numba"


def _solvers_with_names():
    from cartwin.engine.solvers import Rosenbrock4

    solvers = [Rosenbrock4(), Rosenbrock4(method="rodas5p"), Rosenbrock4(method="rodas4")]
    if compiled_engine_available():
        from cartwin.engine.compiled import NumbaRosenbrock

        solvers += [NumbaRosenbrock(), NumbaRosenbrock(rhs="generated"), NumbaRosenbrock(method="shampine4"),
                    NumbaRosenbrock(method="rodas4", rhs="generated")]
    return solvers


@pytest.mark.parametrize("solver", _solvers_with_names(), ids=lambda s: s.name)
def test_a_recorded_engine_name_gives_back_that_engine(solver):
    again = solver_for_engine_name(solver.name)
    assert type(again) is type(solver) and again == solver
    assert resolve_solver(solver.name) == solver  # the cohort-level APIs take it too


@pytest.mark.skipif(not compiled_engine_available(), reason="numba or SymPy not installed")
def test_names_of_earlier_releases_give_the_engine_they_named():
    assert solver_for_engine_name("rosenbrock4-numba").name == "shampine4-numba"
    assert solver_for_engine_name("rosenbrock4") == Rosenbrock4()
    assert set(LEGACY_ENGINE_NAMES) == {"rosenbrock4", "rosenbrock4-numba"}


@pytest.mark.parametrize("bad", ["numba", "rodas9-numba", "rodas5p-cuda", "rodas5p-numba-", 3])
def test_an_unknown_recorded_engine_name_is_refused_naming_the_field(bad):
    with pytest.raises(ValidationError, match=r"^provenance.engine: expected an engine name: <method>-numpy, .*"
                       r"with <method> one of shampine4, rodas4, rodas5p"):
        solver_for_engine_name(bad, field="provenance.engine")


def test_a_recorded_engine_that_is_not_installed_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(choice, "compiled_engine_available", lambda: False)
    with pytest.raises(ValidationError, match=r"engine.*'rodas5p-numba' needs pip install 'cartwin\[fast\]'"):
        solver_for_engine_name("rodas5p-numba")
