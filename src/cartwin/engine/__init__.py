"""Engine layer: solves any :class:`~cartwin.model.base.Model` for a batch of patients.

Owns numerical integration, events (doses, decision points) and per-patient solve status.
May import :mod:`cartwin.foundation` and :mod:`cartwin.model`.

The pieces are separate, small and swappable, joined by one call (diffrax style)::

    solution = simulate(model, params, solver=Rosenbrock4(), saveat=SaveAt(days=...),
                        controller=StepController(rtol=1e-6), schedule=Schedule(doses=...),
                        decisions=DecisionPoints(every_days=1.0, policy=...))
"""

from cartwin.engine.control import SaveAt, StepController
from cartwin.engine.events import DecisionPoints, Dose, Schedule, Setting
from cartwin.engine.simulate import Solution, simulate
from cartwin.engine.solvers import Rosenbrock4, ScipyReference


def __getattr__(name):
    # numba is optional: the compiled engine is imported on first use.
    if name == "NumbaRosenbrock":
        from cartwin.engine.compiled import NumbaRosenbrock

        return NumbaRosenbrock
    raise AttributeError(name)


__all__ = [
    "DecisionPoints",
    "NumbaRosenbrock",
    "Dose",
    "Rosenbrock4",
    "SaveAt",
    "Schedule",
    "Setting",
    "ScipyReference",
    "Solution",
    "StepController",
    "simulate",
]
