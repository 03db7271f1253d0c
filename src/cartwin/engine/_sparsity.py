"""Structural sparsity of a model's Jacobian, traced from its own ``rhs``.

``rhs`` is run once in Python on *dependency sets*: each state is a :class:`_Dep` holding the
indices of the states it depends on, every arithmetic operation and every ``xp`` function takes
the union of its arguments' sets, and parameters are plain numbers. The result is the exact
structural pattern of the Jacobian (an entry is marked whenever the computation touches the
state, even if the derivative happens to vanish, e.g. on the flat side of ``maximum``).

The compiled engine uses it to take forward differences of several Jacobian columns with one
``rhs`` call (Curtis, Powell & Reid 1974, J Inst Math Appl 13:117): columns in one group share
no row, so every entry equals the one-column difference bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class _Dep:
    __slots__ = ("deps",)
    __array_ufunc__ = None  # make NumPy scalars defer to the reflected operators below

    def __init__(self, deps=frozenset()):
        self.deps = frozenset(deps)

    @staticmethod
    def of(*args: Any) -> _Dep:
        out: frozenset = frozenset()
        for a in args:
            if isinstance(a, _Dep):
                out = out | a.deps
        return _Dep(out)

    def _op(self, other):
        return _Dep.of(self, other)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _op
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __floordiv__ = __rfloordiv__ = _op
    __mod__ = __rmod__ = __lt__ = __le__ = __gt__ = __ge__ = __and__ = __or__ = __rand__ = __ror__ = _op

    def __neg__(self):
        return self

    __pos__ = __abs__ = __invert__ = __neg__

    def __bool__(self):
        raise TypeError("rhs branches on a state value; use xp.where")


class _DepNamespace:
    """Every attribute is a function returning the union of its arguments' dependencies."""

    pi = np.pi
    e = np.e
    inf = np.inf

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: _Dep.of(*args, *kwargs.values())


class _Params:
    def __init__(self, values):
        self._values = values

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def jacobian_pattern(model, params) -> np.ndarray | None:
    """Boolean (n_states, n_states): entry (i, j) is True if d rhs_i / d y_j may be non-zero.

    ``None`` when the rhs cannot be traced (the caller then uses dense differences).
    """
    n = len(model.states)
    values = {k: float(np.asarray(v, dtype=float).reshape(-1)[0]) for k, v in params.items()}
    y = [_Dep({i}) for i in range(n)]
    try:
        out = model.rhs(0.0, y, _Params(values), _DepNamespace())
    except Exception:  # noqa: BLE001 - any failure means "not traceable"; dense is always correct
        return None
    if len(out) != n:
        return None
    pattern = np.zeros((n, n), dtype=bool)
    for i, d in enumerate(out):
        for j in getattr(d, "deps", ()):
            pattern[i, j] = True
    return pattern


def column_groups(pattern: np.ndarray) -> np.ndarray:
    """Greedy colouring of columns so that no two columns of a group share a row.

    Returns ``group[j]`` for every column (groups numbered 0..k-1).
    """
    n = pattern.shape[1]
    group = np.full(n, -1, dtype=np.int64)
    # Densest columns first (Welsh-Powell order) gives few groups.
    order = sorted(range(n), key=lambda j: -int(pattern[:, j].sum()))
    rows_used: list[np.ndarray] = []
    for j in order:
        col = pattern[:, j]
        for g, used in enumerate(rows_used):
            if not np.any(used & col):
                group[j] = g
                rows_used[g] = used | col
                break
        else:
            group[j] = len(rows_used)
            rows_used.append(col.copy())
    return group
