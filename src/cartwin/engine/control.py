"""What to save and how to control the step size: two small value objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.errors import ValidationError


@dataclass(frozen=True)
class SaveAt:
    """Times (days) at which the solution is recorded: after scheduled doses at that time and
    before a policy's doses (the record is what was seen when the decision was made)."""

    days: tuple[float, ...]

    def __init__(self, days):
        arr = np.asarray(days, dtype=float).reshape(-1)
        if arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValidationError("saveat.days", "a non-empty list of finite times in days", days)
        if np.any(np.diff(arr) <= 0):
            raise ValidationError("saveat.days", "strictly increasing times", days)
        object.__setattr__(self, "days", tuple(float(d) for d in arr))

    @classmethod
    def daily(cls, start: float, stop: float, every: float = 1.0) -> SaveAt:
        n = int(round((stop - start) / every))
        return cls(np.round(start + every * np.arange(n + 1), 10))


@dataclass(frozen=True)
class StepController:
    """Adaptive step-size control: mixed error test ``|err_i| <= atol_i + rtol |y_i|``.

    ``atol`` is a scalar or a mapping from state name to absolute tolerance (in the state's
    unit); states not named get ``atol_default``.
    """

    rtol: float = 1e-6
    atol: float | dict = 1e-9
    max_steps: int = 100_000
    min_step_day: float = 1e-12
    first_step_day: float = 1e-3

    def __post_init__(self) -> None:
        check("controller.rtol", self.rtol, Interval(1e-14, 1.0))
        check("controller.max_steps", self.max_steps, Interval(1, 1e9, integer=True))
        check("controller.min_step_day", self.min_step_day, Interval(0.0, 1.0))
        check("controller.first_step_day", self.first_step_day, Interval(0.0, 100.0, low_open=True))
        if not isinstance(self.atol, dict):
            check("controller.atol", self.atol, Interval(0.0, low_open=True))

    def atol_vector(self, state_names: tuple[str, ...]) -> np.ndarray:
        if isinstance(self.atol, dict):
            unknown = set(self.atol) - set(state_names) - {"default"}
            if unknown:
                raise ValidationError("controller.atol", "state names of the model", sorted(unknown))
            default = float(self.atol.get("default", 1e-9))
            return np.array([float(self.atol.get(n, default)) for n in state_names])
        return np.full(len(state_names), float(self.atol))
