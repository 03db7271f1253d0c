"""Events: scheduled doses and decision points where a policy may act."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.errors import ValidationError


@dataclass(frozen=True)
class Dose:
    """A bolus added to ``state`` at ``time_day``; ``amount`` in the state's unit.

    ``amount`` is a scalar (every patient) or an array with one value per patient (zero means
    no dose for that patient).
    """

    time_day: float
    state: str
    amount: Any
    label: str = ""

    def __post_init__(self) -> None:
        check("dose.time_day", self.time_day, Interval())
        arr = np.asarray(self.amount, dtype=float)
        if arr.ndim > 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValidationError(f"dose[{self.label or self.state}].amount", "non-negative finite amount(s)", self.amount)


@dataclass(frozen=True)
class Setting:
    """``state`` set to ``value`` at ``time_day`` (an SBML event assignment that is not a bolus).

    ``value``: a number, one per patient, or ``value(y, p)`` computed from the state-major state
    just before the time's doses and settings and the parameters. Settings at one time are all
    computed first, then the doses added, then the settings applied.
    """

    time_day: float
    state: str
    value: Any
    label: str = ""

    def __post_init__(self) -> None:
        check("setting.time_day", self.time_day, Interval())
        if not callable(self.value):
            arr = np.asarray(self.value, dtype=float)
            if arr.ndim > 1 or not np.all(np.isfinite(arr)):
                raise ValidationError(f"setting[{self.label or self.state}].value", "finite value(s)", self.value)


@dataclass(frozen=True)
class Schedule:
    """All scheduled doses of a run (infusion, lymphodepletion, pre-planned drugs), and settings."""

    doses: tuple[Dose | Setting, ...] = ()

    def __init__(self, doses: Sequence[Dose | Setting] = ()):
        object.__setattr__(self, "doses", tuple(sorted(doses, key=lambda d: d.time_day)))

    def times(self) -> np.ndarray:
        return np.unique([d.time_day for d in self.doses]) if self.doses else np.zeros(0)

    def at(self, time_day: float) -> list[Dose]:
        return [d for d in self.doses if d.time_day == time_day]

    def __add__(self, other: Schedule) -> Schedule:
        return Schedule(self.doses + other.doses)


#: A policy sees the decision time, the observables (each an array over patients) and the
#: state (state-major array), and returns the doses to give now.
Policy = Callable[[float, dict[str, np.ndarray], np.ndarray], Sequence[Dose]]


@dataclass(frozen=True)
class DecisionPoints:
    """Times at which ``policy`` is consulted (and tumours below one cell are extinguished).

    Either regular (``every_days`` from ``start_day``) or explicit (``at_days``), e.g. every
    6 hours while in hospital and daily afterwards.
    """

    every_days: float = 1.0
    policy: Policy | None = None
    start_day: float | None = None
    at_days: tuple[float, ...] | None = None
    extra: Any = field(default=None)

    def __post_init__(self) -> None:
        check("decisions.every_days", self.every_days, Interval(0.0, 1e4, low_open=True))
        if self.at_days is not None:
            arr = np.asarray(self.at_days, dtype=float)
            if arr.ndim != 1 or not np.all(np.isfinite(arr)):
                raise ValidationError("decisions.at_days", "a list of finite times in days", self.at_days)
            object.__setattr__(self, "at_days", tuple(np.unique(np.round(arr, 10)).tolist()))

    def times(self, t0: float, t1: float) -> np.ndarray:
        if self.at_days is not None:
            times = np.asarray(self.at_days, dtype=float)
        else:
            start = t0 if self.start_day is None else self.start_day
            n = int(np.floor((t1 - start) / self.every_days + 1e-9))
            times = start + self.every_days * np.arange(n + 1)
        return np.round(times[(times >= t0) & (times <= t1)], 10)
