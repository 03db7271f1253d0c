"""The model contract: states with units, a parameter table with sources, one right-hand side.

Adding a published model means subclassing :class:`Model` and declaring three things
(DESIGN.md practice 3): ``states`` (each with a unit), ``parameters`` (value, unit, bounds,
citation) and ``rhs``. Engines never change for a new model.

Conventions that every engine relies on
---------------------------------------
* ``y`` is *state-major*: ``y[i]`` is state ``i`` for every patient (a vector over patients in
  the batched engines, a scalar in per-patient engines). ``rhs`` must therefore use only
  element-wise operations from the array namespace ``xp`` it is given, so the same function
  runs on NumPy batches, per-patient compiled loops and JAX.
* ``p`` gives parameters by attribute (``p.k_kill_per_day``); each is a scalar or a vector
  over patients.
* Time is in days.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from cartwin.foundation.constraints import Interval
from cartwin.foundation.errors import ValidationError


@dataclass(frozen=True)
class State:
    """One state variable.

    ``extinction_below`` makes the engine set the state to exactly zero at a decision point
    when it has fallen below that value (e.g. a tumour of fewer than one cell is gone).
    ``extinguishes`` names further states set to zero with it (a tumour whose surviving
    lineages have died out is gone, however many cells the mean-field state still holds).
    """

    name: str
    unit: str
    description: str
    initial: float = 0.0
    extinction_below: float | None = None
    nonnegative: bool = True
    extinguishes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parameter:
    """One parameter: typical value, unit, admissible bounds and where the value comes from."""

    name: str
    value: float
    unit: str
    low: float
    high: float
    source: str
    description: str = ""

    def __post_init__(self) -> None:
        if not (self.low <= self.value <= self.high):
            raise ValueError(
                f"parameter table error: {self.name}={self.value} outside [{self.low}, {self.high}]"
            )

    @property
    def constraint(self) -> Interval:
        return Interval(self.low, self.high)


class ParameterSet(Mapping[str, Any]):
    """Immutable, validated parameter values for one or many patients.

    Values are floats (shared by all patients) or 1-D arrays (one value per patient).
    Build it with :meth:`Model.parameters`; change it with :meth:`replace`.
    """

    __slots__ = ("_model_name", "_table", "_values", "n_patients")

    def __init__(self, table: Mapping[str, Parameter], values: Mapping[str, Any], model_name: str):
        self._model_name = model_name
        self._table = table
        checked: dict[str, Any] = {}
        sizes = set()
        for name, value in values.items():
            if name not in table:
                raise ValidationError(
                    name,
                    f"a parameter of model {model_name!r} (see `cartwin presets --parameters`)",
                    value,
                )
            spec = table[name]
            arr = np.asarray(value, dtype=float) if not isinstance(value, str) else None
            if arr is None or arr.ndim > 1:
                raise ValidationError(name, f"a number or a 1-D array ({spec.unit})", value)
            bad = ~np.isfinite(arr) | (arr < spec.low) | (arr > spec.high)
            if np.any(bad):
                shown = float(arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
                raise ValidationError(
                    name, f"a value in [{spec.low:g}, {spec.high:g}] {spec.unit}", shown
                )
            if arr.ndim == 1:
                sizes.add(arr.shape[0])
                checked[name] = arr
            else:
                checked[name] = float(arr)
        if len(sizes) > 1:
            raise ValidationError(
                "parameters", "per-patient arrays of one common length", sorted(sizes)
            )
        self.n_patients = sizes.pop() if sizes else None
        self._values = MappingProxyType(checked)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __reduce__(self):
        # Rebuilt through the constructor, as replace() does: slots and mappingproxies do not
        # pickle as they are, and Dask ships solvers and tasks holding a ParameterSet to workers.
        return ParameterSet, (dict(self._table), dict(self._values), self._model_name)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ParameterSet({self._model_name}, n_patients={self.n_patients})"

    def replace(self, **changes: Any) -> ParameterSet:
        """A new set with some values changed (validated like the original)."""
        merged = dict(self._values)
        merged.update(changes)
        return ParameterSet(self._table, merged, self._model_name)

    def broadcast(self, n_patients: int) -> ParameterSet:
        """Every value as an array of length ``n_patients``."""
        if self.n_patients not in (None, n_patients):
            raise ValidationError("n_patients", f"{self.n_patients} (the parameter arrays' length)", n_patients)
        values = {k: np.broadcast_to(np.asarray(v, dtype=float), (n_patients,)).copy() for k, v in self._values.items()}
        return ParameterSet(self._table, values, self._model_name)

    def take(self, index: np.ndarray) -> ParameterSet:
        """The parameters of a subset of patients."""
        values = {k: (v[index] if isinstance(v, np.ndarray) else v) for k, v in self._values.items()}
        return ParameterSet(self._table, values, self._model_name)

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self._values.items()}


@dataclass(frozen=True)
class Observable:
    """A derived quantity reported in results: name (with unit suffix), unit, meaning."""

    name: str
    unit: str
    description: str


class Model:
    """Base class of every cartwin model (see module docstring for the contract)."""

    name: ClassVar[str] = "model"
    version: ClassVar[str] = "0"
    citation: ClassVar[str] = ""
    states: ClassVar[tuple[State, ...]] = ()
    parameter_table: ClassVar[tuple[Parameter, ...]] = ()
    observables_spec: ClassVar[tuple[Observable, ...]] = ()

    # ---- derived lookups -------------------------------------------------------------
    @classmethod
    def state_names(cls) -> tuple[str, ...]:
        return tuple(s.name for s in cls.states)

    @classmethod
    def state_index(cls, name: str) -> int:
        for i, s in enumerate(cls.states):
            if s.name == name:
                return i
        raise ValidationError("state", "one of " + ", ".join(cls.state_names()), name)

    @classmethod
    def extinction_rules(cls) -> tuple[tuple[int, float, tuple[int, ...]], ...]:
        """``(state index, floor, indices zeroed with it)`` for every state with an extinction floor."""
        return tuple((i, float(s.extinction_below), (i, *(cls.state_index(n) for n in s.extinguishes)))
                     for i, s in enumerate(cls.states) if s.extinction_below is not None)

    @classmethod
    def parameter_specs(cls) -> Mapping[str, Parameter]:
        return MappingProxyType({p.name: p for p in cls.parameter_table})

    @classmethod
    def parameters(cls, **overrides: Any) -> ParameterSet:
        """Typical values, with ``overrides`` (validated against each parameter's bounds)."""
        values = {p.name: p.value for p in cls.parameter_table}
        specs = cls.parameter_specs()
        for name in overrides:
            if name not in specs:
                raise ValidationError(
                    name, f"a parameter of model {cls.name!r}", overrides[name],
                    hint="list them with `cartwin presets --parameters`",
                )
        values.update(overrides)
        return ParameterSet(specs, values, cls.name)

    def initial_state(self, p: ParameterSet, n_patients: int) -> np.ndarray:
        """State-major initial conditions, shape (n_states, n_patients)."""
        return np.tile(np.array([s.initial for s in self.states], dtype=float)[:, None], (1, n_patients))

    # ---- the science ---------------------------------------------------------------------
    def breakpoints(self, p: ParameterSet, n_patients: int) -> np.ndarray | None:
        """Times (days) where ``rhs`` is discontinuous, shape (k, n_patients); engines stop there."""
        return None

    def rhs(self, t: float, y: Sequence[Any], p: Any, xp: Any = np) -> Sequence[Any]:
        """Time derivatives, one per state, in the states' units per day."""
        raise NotImplementedError

    def observables(self, t: Any, y: np.ndarray, p: ParameterSet) -> dict[str, np.ndarray]:
        """Derived quantities (see ``observables_spec``) from state-major ``y``."""
        return {s.name: y[i] for i, s in enumerate(self.states)}

    # ---- helpers -----------------------------------------------------------------------
    def rhs_array(self, t: float, y: np.ndarray, p: Any) -> np.ndarray:
        """``rhs`` stacked to an array shaped like ``y`` (NumPy namespace)."""
        out = self.rhs(t, y, p, np)
        return np.stack([np.broadcast_to(np.asarray(d, dtype=float), y.shape[1:]) for d in out])

    @classmethod
    def parameter_table_markdown(cls) -> str:
        """The parameter table as Markdown (docs/model_parameters.md is generated from it)."""
        lines = [
            f"### {cls.name} v{cls.version}",
            "",
            "| state | unit | meaning |",
            "| --- | --- | --- |",
        ]
        lines += [f"| `{s.name}` | {s.unit} | {s.description} |" for s in cls.states]
        lines += ["", "| parameter | value | unit | bounds | meaning | source |", "| --- | --- | --- | --- | --- | --- |"]
        for q in cls.parameter_table:
            lines.append(
                f"| `{q.name}` | {q.value:.4g} | {q.unit} | [{q.low:g}, {q.high:g}] | {q.description} | {q.source} |"
            )
        return "\n".join(lines) + "\n"

    @classmethod
    def parameter_table_frame(cls):
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "parameter": q.name,
                    "value": q.value,
                    "unit": q.unit,
                    "low": q.low,
                    "high": q.high,
                    "description": q.description,
                    "source": q.source,
                }
                for q in cls.parameter_table
            ]
        )


def half_life_to_rate(half_life: float) -> float:
    """First-order rate constant for a half-life, in the inverse of the half-life's unit."""
    return math.log(2.0) / half_life


def params_from_rows(rows: Iterable[tuple]) -> tuple[Parameter, ...]:
    """Build a parameter table from compact rows (name, value, unit, low, high, source, description)."""
    return tuple(Parameter(*row) for row in rows)


@dataclass(frozen=True)
class DoseSpec:
    """A bolus into a state: ``amount`` in the state's unit (scalar or per patient)."""

    time_day: float
    state: str
    amount: Any
    label: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
