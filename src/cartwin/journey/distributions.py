"""Durations of journey steps as right-skewed distributions described by median and range.

Published vein-to-vein data come as "median (range)", e.g. ELIANA+ENSIGN enrolment-to-infusion
43 (24-133) days. :class:`Duration` turns such a triple into a lognormal distribution:

    T = clip(median_day * exp(sigma * Z), low_day, high_day),  Z ~ N(0, 1)
    sigma = ln(high_day / median_day) / 2.326

so ``high_day`` sits at the 99th percentile before clipping (the right tail is what drives waiting
times and dropouts; ``low_day`` only truncates). ``low_day == median_day == high_day`` gives a fixed
duration, including zero (no such step, e.g. manufacturing for an off-the-shelf product).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cartwin.foundation.constraints import NONNEGATIVE, check
from cartwin.foundation.errors import ValidationError

_Z99 = 2.326  # standard-normal 99th percentile


@dataclass(frozen=True)
class Duration:
    """A step duration in days: lognormal with the given median, clipped to [low_day, high_day].

    >>> Duration(10.0, 8.0, 14.0).sigma > 0
    True
    >>> float(Duration.fixed(2.0).sample(np.random.default_rng(0)))
    2.0
    """

    median_day: float
    low_day: float
    high_day: float

    def __post_init__(self) -> None:
        self.validate("duration")

    def validate(self, field: str) -> None:
        for name in ("median_day", "low_day", "high_day"):
            check(f"{field}.{name}", getattr(self, name), NONNEGATIVE)
        if not self.low_day <= self.median_day:
            raise ValidationError(f"{field}.low_day", f"a number <= median_day ({self.median_day:g})", self.low_day)
        if not self.median_day <= self.high_day:
            raise ValidationError(f"{field}.high_day", f"a number >= median_day ({self.median_day:g})", self.high_day)

    @classmethod
    def fixed(cls, days: float) -> Duration:
        return cls(days, days, days)

    @property
    def sigma(self) -> float:
        if self.high_day <= self.median_day or self.median_day <= 0:
            return 0.0
        return math.log(self.high_day / self.median_day) / _Z99

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """Draw durations (days). Always consumes one normal per value, even if fixed, so a
        patient's random stream does not shift when a step becomes fixed."""
        z = rng.standard_normal(size)
        if size is None:  # one patient in the SimPy process: scalar maths, ~5x cheaper than NumPy's
            return min(max(self.median_day * math.exp(self.sigma * z), self.low_day), self.high_day)
        value = self.median_day * np.exp(self.sigma * z)
        return np.clip(value, self.low_day, self.high_day)

    def to_dict(self) -> dict[str, float]:
        return {"median_day": self.median_day, "low_day": self.low_day, "high_day": self.high_day}


def parse_duration(field: str, value: Any) -> Duration:
    """Build a :class:`Duration` from a number (fixed), ``[median, low, high]`` or a mapping
    with ``median_day``/``low_day``/``high_day`` (``low_day``/``high_day`` default to the median).
    Errors name the field, e.g. ``manufacturing.median_day``."""
    if isinstance(value, Duration):
        value.validate(field)
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"median_day", "low_day", "high_day"}
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(f"{field}.{name}", "one of median_day, low_day, high_day", name)
        if "median_day" not in value:
            raise ValidationError(f"{field}.median_day", "a number of days (required)", None)
        median = value["median_day"]
        check(f"{field}.median_day", median, NONNEGATIVE)
        low = value.get("low_day", median)
        high = value.get("high_day", median)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 3:
            raise ValidationError(field, "[median_day, low_day, high_day]", value)
        median, low, high = value
    else:
        check(f"{field}.median_day", value, NONNEGATIVE)
        median = low = high = value
    for name, v in (("median_day", median), ("low_day", low), ("high_day", high)):
        check(f"{field}.{name}", v, NONNEGATIVE)
    d = Duration.__new__(Duration)
    object.__setattr__(d, "median_day", float(median))
    object.__setattr__(d, "low_day", float(low))
    object.__setattr__(d, "high_day", float(high))
    d.validate(field)
    return d
