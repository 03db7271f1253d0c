"""Scalar array namespace for compiled per-patient engines (the ``xp`` a model's ``rhs`` sees).

A model's ``rhs`` uses only element-wise functions from ``xp`` (see :mod:`cartwin.model.base`).
:mod:`cartwin.engine.compiled` compiles that same ``rhs`` with numba and passes this module as
``xp``; each entry here is the scalar version of the NumPy function of the same name. Numba
resolves ``xp.name`` on a module argument at compile time, so nothing is looked up at run time.

Add a function here when a model needs one that is missing; keep NumPy's semantics (e.g.
``log(0) = -inf``, ``where`` picks by a boolean).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_opts = {"inline": "always", "cache": True, "error_model": "numpy"}

pi = math.pi
e = math.e
inf = math.inf


@njit(**_opts)
def maximum(a, b):
    # NaN propagates as in numpy.maximum.
    if a != a:
        return a
    return a if a >= b else b


@njit(**_opts)
def minimum(a, b):
    if a != a:
        return a
    return a if a <= b else b


@njit(**_opts)
def where(condition, a, b):
    return a if condition else b


@njit(**_opts)
def clip(a, low, high):
    return minimum(maximum(a, low), high)


@njit(**_opts)
def log(a):
    return np.log(a)


@njit(**_opts)
def log10(a):
    return np.log10(a)


@njit(**_opts)
def log1p(a):
    return np.log1p(a)


@njit(**_opts)
def exp(a):
    return np.exp(a)


@njit(**_opts)
def expm1(a):
    return np.expm1(a)


@njit(**_opts)
def sqrt(a):
    return np.sqrt(a)


@njit(**_opts)
def abs(a):  # noqa: A001 - mirrors numpy.abs
    return np.abs(a)


@njit(**_opts)
def power(a, b):
    return np.power(a, b)


@njit(**_opts)
def tanh(a):
    return np.tanh(a)


@njit(**_opts)
def sin(a):
    return np.sin(a)


@njit(**_opts)
def cos(a):
    return np.cos(a)


@njit(**_opts)
def floor(a):
    return np.floor(a)


@njit(**_opts)
def ceil(a):
    return np.ceil(a)


@njit(**_opts)
def sign(a):
    return np.sign(a)


@njit(**_opts)
def isfinite(a):
    return np.isfinite(a)


@njit(**_opts)
def heaviside(a, at_zero):
    if a != a:
        return a
    if a > 0:
        return 1.0
    if a < 0:
        return 0.0
    return at_zero
