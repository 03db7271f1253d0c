"""Constraints as data, and the one validator that checks them.

A constraint is a small immutable object that knows how to test a value and how to describe
what it accepts. The same objects feed error messages, CLI help and the web schema
(DESIGN.md practice 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cartwin.foundation.errors import ValidationError


class Constraint:
    """Base class: ``accepts(value)`` and a human description."""

    def accepts(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


def _is_real_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float, np.integer, np.floating))


@dataclass(frozen=True)
class Interval(Constraint):
    """A finite real number in [low, high] (bounds may be open or infinite)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def accepts(self, value: Any) -> bool:
        if not _is_real_number(value):
            return False
        # Integers compare exactly: float(2**63 - 1) rounds up to 2**63, past a bound of 2**63 - 1.
        v = int(value) if isinstance(value, (int, np.integer)) else float(value)
        if not math.isfinite(v):
            return False
        if self.integer and isinstance(v, float) and not v.is_integer():
            return False
        if self.low_open and not v > self.low:
            return False
        if not self.low_open and not v >= self.low:
            return False
        if self.high_open and not v < self.high:
            return False
        return self.high_open or v <= self.high

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        if self.low == -math.inf and self.high == math.inf:
            return kind
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low == -math.inf else f"{self.low:g}"
        high = "inf" if self.high == math.inf else f"{self.high:g}"
        return f"{kind} in {lo}{low}, {high}{hi}"


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of options (case-sensitive)."""

    options: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        try:
            return value in self.options
        except TypeError:
            return False

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


PROBABILITY = Interval(0.0, 1.0)
NONNEGATIVE = Interval(0.0)
POSITIVE = Interval(0.0, low_open=True)


def check(field: str, value: Any, constraint: Constraint, hint: str | None = None) -> Any:
    """Return ``value`` if ``constraint`` accepts it, else raise :class:`ValidationError`."""
    if not constraint.accepts(value):
        raise ValidationError(field, constraint.describe(), value, hint)
    return value


def check_all(values: Mapping[str, Any], constraints: Mapping[str, Constraint], where: str = "") -> None:
    """Check every named value; unknown names are errors too (typos must not pass silently)."""
    prefix = f"{where}." if where else ""
    for name in values:
        if name not in constraints:
            raise ValidationError(
                f"{prefix}{name}", "one of the known fields " + ", ".join(sorted(constraints)), name
            )
    for name, constraint in constraints.items():
        if name in values:
            check(f"{prefix}{name}", values[name], constraint)


def check_array(field: str, values: Iterable[float], constraint: Interval) -> np.ndarray:
    """Check every element of an array-like; the message names the first bad index."""
    arr = np.asarray(values, dtype=float)
    flat = arr.reshape(-1)
    ok = np.isfinite(flat)
    ok &= (flat > constraint.low) if constraint.low_open else (flat >= constraint.low)
    ok &= (flat < constraint.high) if constraint.high_open else (flat <= constraint.high)
    if not ok.all():
        bad = int(np.argmin(ok))
        raise ValidationError(f"{field}[{bad}]", constraint.describe(), float(flat[bad]))
    return arr
