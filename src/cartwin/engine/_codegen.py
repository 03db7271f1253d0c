"""Code generated from a model's ``rhs`` with SymPy: its exact Jacobian, and ``rhs`` itself with
its parameter-only subexpressions hoisted (:func:`hoisted_source`).

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


def _trace(sp, rhs, n: int):
    """``rhs`` run on SymPy symbols: ``(ys, t, params, f)``; raises if it cannot be traced."""
    ys = sp.symbols(f"y0:{n}", real=True)
    t = sp.Symbol("t", real=True)
    params = _SymbolParams(sp)
    f = rhs(None, t, list(ys), params, _namespace(sp))
    if len(f) != n:
        raise ValueError(f"rhs returned {len(f)} derivatives for {n} states")
    return ys, t, params, [sp.sympify(e) for e in f]


def _python_printer():
    from sympy.printing.pycode import PythonCodePrinter

    return PythonCodePrinter({"standard": "python3", "fully_qualified_modules": True})


def _printed(printer, expr) -> str:
    text = printer.doprint(expr)
    if "Not supported" in text or "\n" in text:
        raise ValueError(f"cannot print {expr}")
    return text


def _jacobian_lines(sp, ys, loads: dict, f, pattern: np.ndarray, printer) -> list[str]:
    """Body of ``jacobian_values`` for the traced ``f``; ``loads`` maps a parameter symbol to the
    line that binds it (only those the entries use are written)."""
    entries = []
    for j in range(pattern.shape[1]):
        for i in np.flatnonzero(pattern[:, j]):
            entries.append(sp.diff(f[i], ys[j]))
    heaviside = sp.Heaviside
    entries = [e.replace(heaviside, lambda z, *rest: sp.Piecewise((1.0, z > 0), (0.0, True))) for e in entries]
    replacements, reduced = sp.cse(entries, optimizations="basic")
    lines = [f"def {FUNCTION_NAME}(t, y, p, out):"]
    free = set().union(*(e.free_symbols for e in entries)) if entries else set()
    lines += [f"    y{k} = y[{k}]" for k, sym in enumerate(ys) if sym in free]
    lines += [f"    {line}" for sym, line in loads.items() if sym in free]
    lines += [f"    {sym} = {_printed(printer, expr)}" for sym, expr in replacements]
    lines += [f"    out[{r}] = {_printed(printer, expr)}" for r, expr in enumerate(reduced)]
    lines.append("    return 0")
    return lines


def _parameter_loads(params: _SymbolParams) -> dict:
    return {sym: f"{sym.name} = p.{name}" for name, sym in sorted(params.used.items())}


def jacobian_source(model_cls: type, pattern: np.ndarray) -> str | None:
    """Source of ``jacobian_values(t, y, p, out)`` for the rhs of ``model_cls``, or ``None``.

    ``rhs`` is called with ``self=None``, as the compiled engine calls it.

    ``out[r]`` receives d rhs_i / d y_j for the r-th True entry of ``pattern`` in column-major
    order (column j ascending, then row i ascending).
    """
    try:
        import sympy as sp
    except ModuleNotFoundError:
        return None
    try:
        ys, _, params, f = _trace(sp, getattr(model_cls.rhs, "__func__", model_cls.rhs), pattern.shape[0])
        lines = _jacobian_lines(sp, ys, _parameter_loads(params), f, pattern, _python_printer())
    except Exception:  # noqa: BLE001 - not traceable: the caller keeps finite differences
        return None
    return "\n".join(lines) + "\n"


# --- rhs with its parameter-only subexpressions hoisted ------------------------------------------

#: Name of the generated rhs, of the function that computes the hoisted values per patient, and
#: of the tuple of their record field names, in :func:`hoisted_source`'s text.
HOISTED_RHS = "rhs_generated"
DERIVED_FUNCTION = "derived_parameters"
DERIVED_NAMES = "DERIVED_NAMES"


def _xp_printer():
    """A Python printer whose functions go through ``xp`` (NumPy arrays, or the compiled
    engines' scalar namespaces), so the text runs wherever the model's ``rhs`` runs."""
    from sympy.printing.pycode import PythonCodePrinter

    functions = {"log": "log", "exp": "exp", "sqrt": "sqrt", "Abs": "abs", "tanh": "tanh", "sin": "sin",
                 "cos": "cos"}

    class XPPrinter(PythonCodePrinter):
        def _print_Function(self, expr):
            name = functions.get(type(expr).__name__)
            if name is None:
                raise ValueError(f"no xp function for {type(expr).__name__}")
            return f"xp.{name}(" + ", ".join(self._print(a) for a in expr.args) + ")"

        _print_log = _print_exp = _print_Abs = _print_tanh = _print_sin = _print_cos = _print_Function

        def _print_Pow(self, expr, rational=False):
            return self._hprint_Pow(expr, rational=rational, sqrt="xp.sqrt")

        def _print_NumberSymbol(self, expr):  # pi, E: plain numbers (no math module needed)
            return repr(float(expr))

        _print_Pi = _print_Exp1 = _print_NumberSymbol

        def _pairwise(self, name, args):
            text = self._print(args[-1])
            for a in reversed(args[:-1]):
                text = f"xp.{name}({self._print(a)}, {text})"
            return text

        def _print_Max(self, expr):
            return self._pairwise("maximum", list(expr.args))

        def _print_Min(self, expr):
            return self._pairwise("minimum", list(expr.args))

        def _print_Piecewise(self, expr):
            *cases, (last, last_cond) = expr.args
            if last_cond is not True and last_cond != True:  # noqa: E712 - SymPy's true
                raise ValueError("Piecewise without an otherwise branch")
            text = self._print(last)
            for value, cond in reversed(cases):
                text = f"xp.where({self._print(cond)}, {self._print(value)}, {text})"
            return text

        def _print_And(self, expr):
            raise ValueError("logical And in a condition")

        _print_Or = _print_Not = _print_And

    return XPPrinter({"standard": "python3", "fully_qualified_modules": True})


def derived_prefix(parameter_names) -> str:
    """Prefix of the derived parameters' record fields: ``derived_``, or ``derived1_``,
    ``derived2_``, ... if a parameter name starts with it (a field must not shadow a parameter)."""
    names = tuple(parameter_names)
    prefix, k = "derived_", 0
    while any(name.startswith(prefix) for name in names):
        k += 1
        prefix = f"derived{k}_"
    return prefix


def _hoist(sp, f: list, parameter_symbols: set, prefix: str = "derived_") -> tuple[list, dict]:
    """``f`` with every maximal parameter-only subexpression replaced by a symbol ``p_<prefix><k>``.

    Returns ``(g, derived)``, ``derived`` mapping each new symbol to its expression in the
    parameters. Within a sum or product the parameter-only terms or factors are gathered into one
    (``k * y / V`` reads ``p_derived_0 * y`` with ``p_derived_0 = k / V``)."""
    derived: dict = {}  # expression -> symbol

    def parameter_only(e) -> bool:
        free = e.free_symbols
        return bool(free) and free <= parameter_symbols

    def symbol_for(e):
        if e.is_Symbol:
            return e
        sym = derived.get(e)
        if sym is None:
            sym = derived[e] = sp.Symbol(f"p_{prefix}{len(derived)}", real=True)
        return sym

    def walk(e):
        if e.is_Atom:
            return e
        if parameter_only(e):
            return symbol_for(e)
        if isinstance(e, (sp.Add, sp.Mul)):
            # Numbers join the parameter-only terms (4 k y: one product k' = 4 k, not 4 * k').
            if any(parameter_only(a) for a in e.args):
                constant = [a for a in e.args if parameter_only(a) or a.is_Number]
                rest = [walk(a) for a in e.args if not (parameter_only(a) or a.is_Number)]
                rest.append(symbol_for(e.func(*constant)))
                return e.func(*rest, evaluate=False)
            return e.func(*[walk(a) for a in e.args], evaluate=False)
        if isinstance(e, sp.Piecewise):
            return sp.Piecewise(*[(walk(v), walk(c)) for v, c in e.args], evaluate=False)
        return e.func(*[walk(a) for a in e.args], evaluate=False)

    g = [walk(e) for e in f]
    return g, {sym: expr for expr, sym in derived.items()}


def hoisted_source(model_cls: type, pattern: np.ndarray | None) -> str | None:
    """Source of the model's ``rhs`` with its parameter-only subexpressions computed once per patient.

    A model's ``rhs`` recomputes rate constants such as ``(CL + Q) / V`` or ``LN2 / half_life``
    at every call: a compiled engine calls it at every stage of every step, with the same
    parameters. Here ``rhs`` is traced once with SymPy (as for the Jacobian), every maximal
    subexpression of the parameters alone becomes a *derived parameter*, common subexpressions
    are shared (``sympy.cse``), and these are printed:

    * ``derived_parameters(p, xp)``: the derived parameters from a parameter mapping (``p[name]``;
      NumPy arrays over patients, ``xp = numpy``), as a dict ``{field name: value}``;
    * ``DERIVED_NAMES``: their record field names, ``derived_0``, ``derived_1``, ... (another
      prefix where a parameter's name starts with that one, :func:`derived_prefix`);
    * ``rhs_generated(self, t, y, p, xp)``: the derivatives as a tuple, reading parameters and
      derived parameters by attribute from a per-patient record (what the compiled engines pass);
    * with ``pattern``, ``jacobian_values(t, y, p, out)`` (as :func:`jacobian_source`) of the
      generated rhs, so the Jacobian reads the derived parameters too.

    The equations still have one source, the model class; results differ from the model's own
    ``rhs`` by round-off only (tested). ``None`` when ``rhs`` cannot be traced or printed.
    """
    try:
        import sympy as sp
    except ModuleNotFoundError:
        return None
    n = len(getattr(model_cls, "states", ())) if pattern is None else pattern.shape[0]
    try:
        ys, _, params, f = _trace(sp, getattr(model_cls.rhs, "__func__", model_cls.rhs), n)
        prefix = derived_prefix([*params.used, *(q.name for q in getattr(model_cls, "parameter_table", ()))])
        g, derived = _hoist(sp, f, set(params.used.values()), prefix)
        printer = _xp_printer()
        names = {sym: sym.name[2:] for sym in derived}  # p_derived_0 -> derived_0
        lines = [f"{DERIVED_NAMES} = {tuple(names.values())!r}", "", "",
                 f"def {DERIVED_FUNCTION}(p, xp):"]
        used = set().union(*(e.free_symbols for e in derived.values())) if derived else set()
        lines += [f"    {sym.name} = p[{name!r}]" for name, sym in sorted(params.used.items()) if sym in used]
        lines.append("    out = {}")
        lines += [f"    out[{names[sym]!r}] = {_printed(printer, expr)}" for sym, expr in derived.items()]
        lines += ["    return out", "", "", f"def {HOISTED_RHS}(self, t, y, p, xp):"]
        replacements, reduced = sp.cse(g, optimizations="basic")
        free = set().union(*(e.free_symbols for e in g))
        lines += [f"    y{k} = y[{k}]" for k, sym in enumerate(ys) if sym in free]
        loads = {**_parameter_loads(params), **{sym: f"{sym.name} = p.{names[sym]}" for sym in derived}}
        lines += [f"    {line}" for sym, line in loads.items() if sym in free]
        lines += [f"    {sym} = {_printed(printer, expr)}" for sym, expr in replacements]
        values = [_printed(printer, sp.Float(0.0) if e == 0 else e) for e in reduced]
        lines.append("    return (" + ", ".join(values) + ",)")
        if pattern is not None:
            lines += ["", ""] + _jacobian_lines(sp, ys, loads, g, pattern, _python_printer())
    except Exception:  # noqa: BLE001 - not traceable: the caller keeps the model's own rhs
        return None
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
