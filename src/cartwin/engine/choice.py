"""Choosing an engine by name: what ``solver="auto"`` means in the cohort-level APIs.

Owns the mapping from an engine name (``"auto"``, ``"numba"``, ``"numba-generated"``,
``"numpy"``) to a solver object, and back from the engine name a result records in its
provenance (a solver's ``name``, e.g. ``"rodas5p-numba-generated"``) to that solver
(:func:`solver_for_engine_name`), so a result can be rerun with the engine that made it.
May import the engine's solvers and :mod:`cartwin.foundation`; the compiled engine is imported
only when chosen (numba is an optional dependency, ``pip install "cartwin[fast]"``).

``"auto"`` is the compiled engine (:class:`~cartwin.engine.compiled.NumbaRosenbrock`, Rodas5P)
with the generated rhs (``"numba-generated"``: the model's rhs regenerated with its
parameter-only expressions computed once per patient, ``rhs="generated"``) wherever numba and
SymPy are installed, else the batched NumPy engine (:class:`~cartwin.engine.solvers.Rosenbrock4`).
``"numba"`` compiles the model's rhs as written. The per-trial calibration records of
2026-12-03 gave the same simulated endpoints with ``"numba"`` and ``"numba-generated"``,
which is ~1.1x faster (docs/performance.md), so it is the default since then; the joint
calibration (docs/calibration.md) is fitted with it.
Measured 2026-12-02 on the 2-core development machine: ``run_trial("eliana", 100, seed=2)``
took 2.5 s with the compiled engine and 100 s with the NumPy engine, with the same endpoints.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from cartwin.foundation.errors import ValidationError

#: The engine's relative tolerance for trials: the loosest whose endpoints are equivalent to
#: rtol 1e-6 on a 10,000-patient ZUMA-1 (trial.equivalence criteria; docs/performance.md), and
#: the tolerance the joint calibration is fitted at. Single courses (``cartwin simulate``) keep 1e-6.
DEFAULT_RTOL = 1e-3

ENGINE_NAMES = ("auto", "numba", "numba-generated", "numpy")
#: What the user-facing names (other than "auto") stand for, as recorded engine names.
_ENGINE_FOR_NAME = {"numba": "rodas5p-numba", "numba-generated": "rodas5p-numba-generated", "numpy": "rosenbrock4-numpy"}
#: Engine names of earlier releases, still found in results and calibration records.
LEGACY_ENGINE_NAMES = {"rosenbrock4": "rosenbrock4-numpy", "rosenbrock4-numba": "shampine4-numba"}
_RECORDED_FORMS = "<method>-numpy, <method>-numba, <method>-numba-generated or <method>-jax"


def _parse_engine_name(name: Any) -> tuple[str, str] | None:
    """``(method, engine)`` of a recorded engine name, or None."""
    from cartwin.engine.tableaus import METHODS

    if not isinstance(name, str):
        return None
    full = LEGACY_ENGINE_NAMES.get(name, name)
    method, _, engine = full.partition("-")
    if full == "rosenbrock4-numpy":
        method = "shampine4"
    if method not in METHODS or engine not in ("numpy", "numba", "numba-generated", "jax"):
        return None
    return method, engine


def solver_for_engine_name(name: str, *, field: str = "engine") -> Any:
    """The solver a result's provenance names (``Provenance.engine``, a solver's ``name``).

    ``<method>-numpy`` is :class:`~cartwin.engine.solvers.Rosenbrock4` (``rosenbrock4-numpy``:
    its default method, Shampine's), ``<method>-numba`` and ``<method>-numba-generated`` the
    compiled engine (``rhs="generated"``), ``<method>-jax`` the JAX engine; ``<method>`` is a
    tableau of :mod:`cartwin.engine.tableaus`. Names of earlier releases
    (:data:`LEGACY_ENGINE_NAMES`) map to the engine they named. The name records the method, the
    engine and the ``rhs``, not the other kernel options: a solver built with non-default
    ``jacobian``, ``sparse_lu`` or ``dense_output`` comes back with the defaults. An unknown name,
    or an engine that is not installed, is a :class:`ValidationError` naming ``field``.
    """
    from cartwin.engine.tableaus import METHODS

    parsed = _parse_engine_name(name)
    if parsed is None:
        raise ValidationError(field, "an engine name: " + _RECORDED_FORMS + ", with <method> one of "
                              + ", ".join(METHODS), name)
    return _solver(*parsed, field=field, name=name)


def _solver(method: str, engine: str, *, field: str, name: str) -> Any:
    """The solver of ``engine`` with ``method``; ``name`` (as the user gave it) in the error
    where that engine is not installed."""
    if engine == "numpy":
        from cartwin.engine.solvers import Rosenbrock4

        return Rosenbrock4(method=method)
    if engine == "jax":
        if find_spec("jax") is None:
            raise ValidationError(field, f"an installed engine ('{name}' needs pip install 'cartwin[gpu]')", name)
        from cartwin.engine.jax_engine import JaxRosenbrock

        return JaxRosenbrock(method=method)
    if not compiled_engine_available():
        raise ValidationError(field, f"an installed engine ('{name}' needs pip install 'cartwin[fast]')", name)
    from cartwin.engine.compiled import NumbaRosenbrock

    return NumbaRosenbrock(method=method, rhs="generated" if engine == "numba-generated" else "model")


def compiled_engine_available() -> bool:
    """Whether the compiled engine's dependencies (numba, and SymPy for its exact Jacobian) are installed."""
    return find_spec("numba") is not None and find_spec("sympy") is not None


def resolve_solver(solver: Any = "auto", *, field: str = "solver", objects: bool = True) -> Any:
    """The solver object for ``solver``.

    A solver object (anything with ``advance``) is returned as it is. ``"numpy"`` is
    :class:`~cartwin.engine.solvers.Rosenbrock4`; ``"numba"`` the compiled engine and
    ``"numba-generated"`` the same with the generated rhs (an error naming ``field`` where numba
    is not installed); ``"auto"`` or ``None`` the compiled engine with the generated rhs where
    :func:`compiled_engine_available`, else Rosenbrock4. An engine name a result records in its
    provenance (``"rodas5p-numba-generated"``, ...) is that engine
    (:func:`solver_for_engine_name`). ``objects=False`` (a command-line option, which can only be
    a name) leaves solver objects out of the error message.
    """
    expected = ("one of " + ", ".join(ENGINE_NAMES) + ", an engine name a result records (" + _RECORDED_FORMS + ")"
                + (", or a solver object such as Rosenbrock4()" if objects else ""))
    if solver is None or isinstance(solver, str):
        name = "auto" if solver is None else solver
        if name == "auto":
            name = "numba-generated" if compiled_engine_available() else "numpy"
        parsed = _parse_engine_name(_ENGINE_FOR_NAME.get(name, name))
        if parsed is None:
            raise ValidationError(field, expected, solver)
        return _solver(*parsed, field=field, name=name)
    if not callable(getattr(solver, "advance", None)):
        raise ValidationError(field, expected, type(solver).__name__)
    return solver
