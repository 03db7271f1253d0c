"""Choosing an engine by name: what ``solver="auto"`` means in the cohort-level APIs.

Owns the mapping from an engine name (``"auto"``, ``"numba"``, ``"numba-generated"``,
``"numpy"``) to a solver object.
May import the engine's solvers and :mod:`cartwin.foundation`; the compiled engine is imported
only when chosen (numba is an optional dependency, ``pip install "cartwin[fast]"``).

``"auto"`` is the compiled engine (:class:`~cartwin.engine.compiled.NumbaRosenbrock`, Rodas5P)
with the generated rhs (``"numba-generated"``: the model's rhs regenerated with its
parameter-only expressions computed once per patient, ``rhs="generated"``) wherever numba and
SymPy are installed, else the batched NumPy engine (:class:`~cartwin.engine.solvers.Rosenbrock4`).
``"numba"`` compiles the model's rhs as written. The trials' calibration records were fitted
with ``"numba"``; every simulated endpoint of every record is the same with
``"numba-generated"`` (``scripts/calibrate_presets.py --check --engine numba-generated``,
2026-12-03), which is ~1.1x faster (docs/performance.md), so it is the default since then.
Measured 2026-12-02 on the 2-core development machine: ``run_trial("eliana", 100, seed=2)``
took 2.5 s with the compiled engine and 100 s with the NumPy engine, with the same endpoints.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from cartwin.foundation.errors import ValidationError

ENGINE_NAMES = ("auto", "numba", "numba-generated", "numpy")


def compiled_engine_available() -> bool:
    """Whether the compiled engine's dependencies (numba, and SymPy for its exact Jacobian) are installed."""
    return find_spec("numba") is not None and find_spec("sympy") is not None


def resolve_solver(solver: Any = "auto", *, field: str = "solver", objects: bool = True) -> Any:
    """The solver object for ``solver``.

    A solver object (anything with ``advance``) is returned as it is. ``"numpy"`` is
    :class:`~cartwin.engine.solvers.Rosenbrock4`; ``"numba"`` the compiled engine and
    ``"numba-generated"`` the same with the generated rhs (an error naming ``field`` where numba
    is not installed); ``"auto"`` or ``None`` the compiled engine with the generated rhs where
    :func:`compiled_engine_available`, else Rosenbrock4. ``objects=False`` (a command-line
    option, which can only be a name) leaves solver objects out of the error message.
    """
    from cartwin.engine.solvers import Rosenbrock4

    expected = "one of " + ", ".join(ENGINE_NAMES) + (", or a solver object such as Rosenbrock4()" if objects else "")
    if solver is None or isinstance(solver, str):
        name = "auto" if solver is None else solver
        if name not in ENGINE_NAMES:
            raise ValidationError(field, expected, solver)
        if name == "numpy":
            return Rosenbrock4()
        if not compiled_engine_available():
            if name == "auto":
                return Rosenbrock4()
            raise ValidationError(field, f"an installed engine ('{name}' needs pip install 'cartwin[fast]')", solver)
        from cartwin.engine.compiled import NumbaRosenbrock

        return NumbaRosenbrock() if name == "numba" else NumbaRosenbrock(rhs="generated")
    if not callable(getattr(solver, "advance", None)):
        raise ValidationError(field, expected, type(solver).__name__)
    return solver
