"""Foundation: errors, units, constraints (validation), tidy results with provenance, seeded streams.

Owns the vocabulary every other layer speaks. Imports nothing from cartwin except itself.
"""

from cartwin.foundation.constraints import (
    Constraint,
    Interval,
    OneOf,
    check,
    check_all,
)
from cartwin.foundation.errors import CartwinError, DataError, SolveStatus, ValidationError
from cartwin.foundation.results import Provenance, read_parquet, write_parquet

__all__ = [
    "CartwinError",
    "Constraint",
    "DataError",
    "Interval",
    "OneOf",
    "Provenance",
    "SolveStatus",
    "ValidationError",
    "check",
    "check_all",
    "read_parquet",
    "write_parquet",
]
