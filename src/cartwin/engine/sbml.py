"""SBML for a cartwin model, generated from the model's own ``rhs`` (used to run libRoadRunner).

``rhs`` is run once on symbolic nodes (operator overloading; ``xp`` functions build nodes),
giving an expression DAG. Every state and parameter becomes an SBML global parameter; states
get rate rules; a sub-expression used more than once becomes an assignment rule so the
MathML stays small. No second copy of the equations is written by hand.
"""

from __future__ import annotations

import numpy as np


class Node:
    __slots__ = ("args", "op", "uses", "name")
    __array_ufunc__ = None

    def __init__(self, op, *args):
        self.op, self.args, self.uses, self.name = op, args, 0, None

    def _b(op):  # noqa: N805
        return lambda a, b: Node(op, a, _wrap(b))

    def _r(op):  # noqa: N805
        return lambda a, b: Node(op, _wrap(b), a)

    __add__, __radd__ = _b("plus"), _r("plus")
    __sub__, __rsub__ = _b("minus"), _r("minus")
    __mul__, __rmul__ = _b("times"), _r("times")
    __truediv__, __rtruediv__ = _b("divide"), _r("divide")
    __pow__, __rpow__ = _b("power"), _r("power")
    __lt__, __le__, __gt__, __ge__ = _b("lt"), _b("leq"), _b("gt"), _b("geq")

    def __neg__(self):
        return Node("neg", self)


def _wrap(v):
    return v if isinstance(v, Node) else Node("cn", float(v))


class _Xp:
    def maximum(self, a, b):
        a, b = _wrap(a), _wrap(b)
        return Node("piecewise", a, Node("geq", a, b), b)

    def minimum(self, a, b):
        a, b = _wrap(a), _wrap(b)
        return Node("piecewise", a, Node("leq", a, b), b)

    def where(self, c, a, b):
        return Node("piecewise", _wrap(a), c, _wrap(b))

    def log(self, a):
        return Node("ln", _wrap(a))

    def exp(self, a):
        return Node("exp", _wrap(a))

    def sqrt(self, a):
        return Node("root", _wrap(a))


class _P:
    def __init__(self, names):
        self._n = {k: Node("ci", k) for k in names}

    def __getattr__(self, k):
        return self._n[k]


def _mathml(node: Node, top: bool = False) -> str:
    if node.name is not None and not top:
        return f"<ci>{node.name}</ci>"
    op, a = node.op, node.args
    if op == "ci":
        return f"<ci>{a[0]}</ci>"
    if op == "cn":
        v = a[0]
        if not np.isfinite(v):
            return "<infinity/>" if v > 0 else "<apply><minus/><infinity/></apply>"
        return f"<cn>{v!r}</cn>"
    if op == "neg":
        return f"<apply><minus/>{_mathml(a[0])}</apply>"
    if op == "piecewise":
        return f"<piecewise><piece>{_mathml(a[0])}{_mathml(a[1])}</piece><otherwise>{_mathml(a[2])}</otherwise></piecewise>"
    if op == "root":
        return f"<apply><root/>{_mathml(a[0])}</apply>"
    return f"<apply><{op}/>{''.join(_mathml(x) for x in a)}</apply>"


def model_sbml(model) -> str:
    """SBML Level 3 text: states as parameters with rate rules, model parameters as parameters."""
    states = model.state_names()
    params = [p.name for p in model.parameter_table]
    y = [Node("ci", s) for s in states]
    out = [_wrap(d) for d in model.rhs(Node("ci", "time_day"), y, _P(params), _Xp())]
    # Count uses in the DAG; shared internal nodes become assignment rules.
    order: list[Node] = []
    seen = set()

    def visit(n):
        n.uses += 1
        if id(n) in seen:
            return
        seen.add(id(n))
        for x in n.args:
            if isinstance(x, Node):
                visit(x)
        order.append(n)

    for d in out:
        visit(d)
    rules = []
    for i, n in enumerate(order):
        if n.uses > 1 and n.op not in ("ci", "cn"):
            n.name = f"_e{i}"
            rules.append(n)
    math = 'xmlns="http://www.w3.org/1998/Math/MathML"'
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">',
             f'<model id="{model.name.replace("-", "_")}" timeUnits="dimensionless"><listOfParameters>']
    parts += [f'<parameter id="{s}" value="0" constant="false"/>' for s in states]
    parts += [f'<parameter id="{p.name}" value="{p.value!r}" constant="true"/>' for p in model.parameter_table]
    parts += [f'<parameter id="{n.name}" constant="false"/>' for n in rules]
    parts.append("</listOfParameters><listOfRules>")
    # time_day is the model time: SBML csymbol time.
    parts += [f'<assignmentRule variable="{n.name}"><math {math}>{_mathml(n, top=True)}</math></assignmentRule>' for n in rules]
    parts += [f'<rateRule variable="{s}"><math {math}>{_mathml(d)}</math></rateRule>'
              for s, d in zip(states, out, strict=True)]
    parts.append("</listOfRules></model></sbml>")
    text = "\n".join(parts)
    return text.replace("<ci>time_day</ci>",
                        '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>')
