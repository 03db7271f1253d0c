"""Error types of cartwin and the per-patient solve status.

One error type per kind of failure, each carrying enough to tell the user *which* field was
wrong, *what* was expected and *what* was received (sklearn's ``_param_validation`` style).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class CartwinError(Exception):
    """Base class of every error cartwin raises on purpose."""


class CartwinWarning(UserWarning):
    """Something a run did that changes how its result reads (e.g. no patient infused); the
    run goes on and says so."""


class ValidationError(CartwinError, ValueError):
    """A value given to cartwin is outside what the field accepts.

    Parameters
    ----------
    field:
        Dotted name of the offending field, e.g. ``"dose_cells_per_kg"`` or
        ``"protocol.arms[0].dose"``.
    expected:
        Human-readable description of what is accepted, e.g. ``"a number in [0, 1]"``.
    received:
        The value that was given.
    """

    def __init__(self, field: str, expected: str, received: Any, hint: str | None = None):
        self.field = field
        self.expected = expected
        self.received = received
        self.hint = hint
        shown = repr(received)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        message = f"{field}: expected {expected}, got {shown}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class DataError(CartwinError, ValueError):
    """A data file (CSV, JSON, Parquet) has a bad value; names the file, row and column."""

    def __init__(
        self,
        source: str,
        message: str,
        row: int | None = None,
        column: str | None = None,
    ):
        self.source = source
        self.row = row
        self.column = column
        where = source
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")


class SolveStatus(IntEnum):
    """Outcome of one patient's solve (diffrax's RESULTS): failure is per patient, not global."""

    SUCCESS = 0
    MAX_STEPS_REACHED = 1
    STEP_SIZE_TOO_SMALL = 2
    NONFINITE_STATE = 3

    @property
    def message(self) -> str:
        return {
            SolveStatus.SUCCESS: "solved",
            SolveStatus.MAX_STEPS_REACHED: "the solver took more steps than max_steps",
            SolveStatus.STEP_SIZE_TOO_SMALL: "the step size fell below the minimum",
            SolveStatus.NONFINITE_STATE: "a state became NaN or infinite",
        }[self]
