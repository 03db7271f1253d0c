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


#: Above this many update operations the LU is not unrolled (compile time grows with the text);
#: the kernel's index-list loops are used instead.
MAX_UNROLLED_UPDATES = 3000

def _generic_lu_source(plan: dict[str, np.ndarray]) -> str:
    """The LU of :func:`lu_source` as loops over the plan's index lists, bound as module globals
    (constants to numba and numba-cuda) so the functions take no index arrays."""
    lines = []
    for name in ("perm", "lower_ptr", "lower_pos", "lower_row", "update_ptr", "update_target", "update_l",
                 "update_u", "upper_ptr", "upper_pos", "upper_row", "pivot_pos"):
        lines.append(f"_lu_{name} = np.array({np.asarray(plan[name]).tolist()!r}, dtype=np.int64)")
    lines += [
        "",
        "",
        "def lu_factor_gen(v, scale, max_multiplier):",
        "    return sparse_factor_inverse(v, _lu_lower_ptr, _lu_lower_pos, _lu_lower_row, _lu_update_ptr,",
        "                                 _lu_update_target, _lu_update_l, _lu_update_u, _lu_pivot_pos, scale,",
        "                                 max_multiplier)",
        "",
        "",
        "def lu_solve_gen(v, b, work):",
        "    sparse_solve_inverse(v, _lu_perm, _lu_lower_ptr, _lu_lower_pos, _lu_lower_row, _lu_upper_ptr,",
        "                         _lu_upper_pos, _lu_upper_row, _lu_pivot_pos, b, work)",
    ]
    return "\n".join(lines) + "\n"


def lu_source(plan: dict[str, np.ndarray]) -> str:
    """Straight-line source of the static sparse LU of ``plan`` (:func:`_sparsity.lu_plan`).

    ``lu_factor_gen(v, scale, max_multiplier)`` factors the value array in place (the
    pivot positions receive the *inverse* pivots) and returns False when a multiplier fails the
    threshold test on the matrix scaled by ``scale`` (permuted order);
    ``lu_solve_gen(v, b, work)`` overwrites ``b`` with the solution. Neither takes the plan's
    index arrays: on the CPU every array passed to a compiled function costs an atomic
    reference-count increment and decrement per call, and the solve is called once per stage.
    Unrolling removes the index loads and keeps the solve's unknowns in registers; plans with more than
    :data:`MAX_UNROLLED_UPDATES` updates get loops over the index lists instead (same results).
    """
    if int(plan["update_target"].size) > MAX_UNROLLED_UPDATES:
        return _generic_lu_source(plan)
    n = int(plan["perm"].size)
    lines = ["def lu_factor_gen(v, scale, max_multiplier):"]
    for k in range(n):
        pk = int(plan["pivot_pos"][k])
        lines.append(f"    piv = v[{pk}]")
        lines.append("    if not (abs(piv) > 0.0):")
        lines.append("        return False")
        lines.append("    inv = 1.0 / piv")
        lines.append(f"    v[{pk}] = inv")
        lo, hi = int(plan["lower_ptr"][k]), int(plan["lower_ptr"][k + 1])
        for q in range(lo, hi):
            pos, row = int(plan["lower_pos"][q]), int(plan["lower_row"][q])
            lines.append(f"    m = v[{pos}] * inv")
            lines.append(f"    if not (abs(m) * scale[{k}] <= max_multiplier * scale[{row}]):")
            lines.append("        return False")
            lines.append(f"    v[{pos}] = m")
        for q in range(int(plan["update_ptr"][k]), int(plan["update_ptr"][k + 1])):
            target, lower, upper = int(plan["update_target"][q]), int(plan["update_l"][q]), int(plan["update_u"][q])
            lines.append(f"    v[{target}] -= v[{lower}] * v[{upper}]")
    lines.append("    return True")
    lines.append("")
    lines.append("")
    lines.append("def lu_solve_gen(v, b, work):")
    perm = [int(x) for x in plan["perm"]]
    for k in range(n):
        lines.append(f"    w{k} = b[{perm[k]}]")
    for k in range(n):
        for q in range(int(plan["lower_ptr"][k]), int(plan["lower_ptr"][k + 1])):
            lines.append(f"    w{int(plan['lower_row'][q])} -= v[{int(plan['lower_pos'][q])}] * w{k}")
    for k in range(n - 1, -1, -1):
        lines.append(f"    w{k} *= v[{int(plan['pivot_pos'][k])}]")
        for q in range(int(plan["upper_ptr"][k]), int(plan["upper_ptr"][k + 1])):
            lines.append(f"    w{int(plan['upper_row'][q])} -= v[{int(plan['upper_pos'][q])}] * w{k}")
    for k in range(n):
        lines.append(f"    b[{perm[k]}] = w{k}")
    return "\n".join(lines) + "\n"
