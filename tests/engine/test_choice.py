"""Engine choice by name: "auto" is the compiled engine where it is installed, else NumPy."""

import pytest

from cartwin.engine import Rosenbrock4, ScipyReference, choice
from cartwin.engine.choice import compiled_engine_available, resolve_solver
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
    with pytest.raises(ValidationError, match=r"^solver: expected one of auto, numba, numba-generated, numpy, or a solver"):
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
