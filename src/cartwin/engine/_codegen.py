"""Exact Jacobian of a model's ``rhs``, generated as source code with SymPy.

``rhs`` is run once on SymPy symbols (states ``y0..y{n-1}``, parameters ``p_<name>``, time
``t``; ``xp`` maps ``maximum``/``minimum``/``where``/``log``/... onto SymPy), each structurally
non-zero entry of the Jacobian is differentiated symbolically, common subexpressions are
shared (``sympy.cse``) and the result is printed as a plain Python function

    def jacobian_values(t, y, p, out): ...

that writes the entries in the compressed-column order of the traced pattern (see
:mod:`cartwin.engine._sparsity`). :mod:`cartwin.engine.compiled` compiles it with numba next to
the model's own ``rhs``, so the equations still have one source: the model class. For the
composite CAR-T model the 109 entries cost about as many operations as one ``rhs`` call, instead
of the 9 grouped ``rhs`` calls of forward differences, and carry no truncation error.

Derivatives of ``maximum``/``minimum`` are one-sided (0 or 1, Heaviside), as in automatic
differentiation. A model whose ``rhs`` cannot be traced (branches on a state, calls a function
SymPy does not know) gets ``None`` and the engine keeps forward differences.

Owns: source generation only. May import NumPy and (optionally) SymPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FUNCTION_NAME = "jacobian_values"


class _SymbolParams:
    def __init__(self, sp):
        self._sp = sp
        self.used: dict[str, Any] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        sym = self.used.get(name)
        if sym is None:
            sym = self._sp.Symbol(f"p_{name}", real=True)
            self.used[name] = sym
        return sym


def _namespace(sp):
    class XP:
        pi = sp.pi
        e = sp.E
        inf = sp.oo

        @staticmethod
        def maximum(a, b):
            return sp.Max(a, b)

        @staticmethod
        def minimum(a, b):
            return sp.Min(a, b)

        @staticmethod
        def where(condition, a, b):
            return sp.Piecewise((a, condition), (b, True))

        @staticmethod
        def clip(a, low, high):
            return sp.Min(sp.Max(a, low), high)

        log = staticmethod(sp.log)
        exp = staticmethod(sp.exp)
        sqrt = staticmethod(sp.sqrt)
        abs = staticmethod(sp.Abs)
        tanh = staticmethod(sp.tanh)
        sin = staticmethod(sp.sin)
        cos = staticmethod(sp.cos)

        @staticmethod
        def log10(a):
            return sp.log(a) / sp.log(10)

        @staticmethod
        def log1p(a):
            return sp.log(1 + a)

        @staticmethod
        def expm1(a):
            return sp.exp(a) - 1

        @staticmethod
        def power(a, b):
            return a**b

    return XP()


def jacobian_source(model_cls: type, pattern: np.ndarray) -> str | None:
    """Source of ``jacobian_values(t, y, p, out)`` for the rhs of ``model_cls``, or ``None``.

    ``rhs`` is called with ``self=None``, as the compiled engine calls it.

    ``out[r]`` receives d rhs_i / d y_j for the r-th True entry of ``pattern`` in column-major
    order (column j ascending, then row i ascending).
    """
    try:
        import sympy as sp
        from sympy.printing.pycode import PythonCodePrinter
    except ModuleNotFoundError:
        return None
    n = pattern.shape[0]
    ys = sp.symbols(f"y0:{n}", real=True)
    t = sp.Symbol("t", real=True)
    params = _SymbolParams(sp)
    try:
        rhs = getattr(model_cls.rhs, "__func__", model_cls.rhs)
        f = rhs(None, t, list(ys), params, _namespace(sp))
        if len(f) != n:
            return None
        entries = []
        for j in range(n):
            for i in np.flatnonzero(pattern[:, j]):
                entries.append(sp.diff(sp.sympify(f[i]), ys[j]))
        heaviside = sp.Heaviside
        entries = [e.replace(heaviside, lambda z, *rest: sp.Piecewise((1.0, z > 0), (0.0, True))) for e in entries]
        replacements, reduced = sp.cse(entries, optimizations="basic")
    except Exception:  # noqa: BLE001 - not traceable: the caller keeps finite differences
        return None

    printer = PythonCodePrinter({"standard": "python3", "fully_qualified_modules": True})

    def code(expr) -> str | None:
        text = printer.doprint(expr)
        return None if "Not supported" in text or "\n" in text else text

    lines = [f"def {FUNCTION_NAME}(t, y, p, out):"]
    free = set().union(*(e.free_symbols for e in entries)) if entries else set()
    for k, sym in enumerate(ys):
        if sym in free:
            lines.append(f"    y{k} = y[{k}]")
    for name, sym in sorted(params.used.items()):
        if sym in free:
            lines.append(f"    {sym.name} = p.{name}")
    for sym, expr in replacements:
        text = code(expr)
        if text is None:
            return None
        lines.append(f"    {sym} = {text}")
    for r, expr in enumerate(reduced):
        text = code(expr)
        if text is None:
            return None
        lines.append(f"    out[{r}] = {text}")
    lines.append("    return 0")
    return "\n".join(lines) + "\n"
