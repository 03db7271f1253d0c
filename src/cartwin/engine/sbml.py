"""SBML for a cartwin model, generated from the model's own ``rhs`` (libRoadRunner, other tools).

``rhs`` is run once on symbolic nodes (operator overloading; ``xp`` functions build nodes),
giving an expression DAG. Every state and parameter becomes an SBML global parameter; states
get rate rules; a sub-expression used more than once becomes an assignment rule so the
MathML stays small. No second copy of the equations is written by hand.

:func:`model_sbml` writes one patient completely: the parameters' values (of that patient) with
their units (an SBML unit definition where cartwin's unit text parses, and the text in the
parameter's notes always), the states' initial values, each scheduled dose as an event at its
time (``state = state + amount``), the model's breakpoints (e.g. Stein's T_max) as events that
make the integrator stop and restart there, and time in days. The file alone, run in
libRoadRunner from time 0, reproduces :func:`cartwin.engine.simulate` of that patient with that
schedule (tested to 1e-4, ``tests/engine/test_sbml_export.py``). SBML time 0 is cartwin day
``t0`` (parameter ``t0_day``; the course's -5 for lymphodepletion). Not in the file: a
management policy's doses (they depend on the state at decision points; export a course's given
doses as ``schedule`` instead) and the extinction of states below their floor at decision points.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

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


#: SBML base units of cartwin's unit words: (kind, scale exponent, multiplier).
_UNIT_WORDS = {
    "day": ("second", 0, 86400.0), "d": ("second", 0, 86400.0), "h": ("second", 0, 3600.0),
    "hour": ("second", 0, 3600.0), "min": ("second", 0, 60.0), "s": ("second", 0, 1.0),
    "L": ("litre", 0, 1.0), "dL": ("litre", -1, 1.0), "mL": ("litre", -3, 1.0), "uL": ("litre", -6, 1.0),
    "kg": ("gram", 3, 1.0), "g": ("gram", 0, 1.0), "mg": ("gram", -3, 1.0), "ug": ("gram", -6, 1.0),
    "ng": ("gram", -9, 1.0), "pg": ("gram", -12, 1.0), "mol": ("mole", 0, 1.0), "mmol": ("mole", -3, 1.0),
    "umol": ("mole", -6, 1.0), "nmol": ("mole", -9, 1.0), "cells": ("item", 0, 1.0), "cell": ("item", 0, 1.0),
    "copies": ("item", 0, 1.0), "item": ("item", 0, 1.0), "m": ("metre", 0, 1.0), "cm": ("metre", -2, 1.0),
}
_TOKEN = re.compile(r"\s*(/|\*|\.|[A-Za-z]+|10\^-?[0-9]+|[0-9.]+(?:[eE][+-]?[0-9]+)?)")


def parse_unit(text: str) -> list[tuple[str, int, int, float]] | None:
    """cartwin unit text as SBML units ``(kind, exponent, scale, multiplier)``, or None where
    it does not parse (e.g. ``"1 per unit LD exposure"``). ``"1"`` is dimensionless (``[]``)."""
    text = text.strip().replace("µ", "u").replace("²", "^2")
    if text in ("1", "", "dimensionless"):
        return []
    units, sign, pos, factor = [], 1, 0, 1.0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            return None
        tok, pos = m.group(1), m.end()
        power = 1
        if pos < len(text) and text[pos] == "^" and tok not in ("/", "*", "."):
            m2 = re.match(r"\^(-?[0-9]+)", text[pos:])
            if not m2:
                return None
            power, pos = int(m2.group(1)), pos + m2.end()
        if tok == "/":
            sign = -1
        elif tok in ("*", "."):
            continue
        elif tok.startswith("10^"):
            factor *= 10.0 ** (sign * int(tok[3:]))
        elif re.fullmatch(r"[0-9.]+(?:[eE][+-]?[0-9]+)?", tok):
            factor *= float(tok) ** sign
        elif tok in _UNIT_WORDS:
            kind, scale, mult = _UNIT_WORDS[tok]
            units.append((kind, sign * power, scale, mult))
        else:
            return None
    if factor != 1.0:
        units.append(("dimensionless", 1, 0, factor))
    return units


def _unit_definitions(units: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """``<unitDefinition>`` texts for the unit strings that parse, and unit text -> its id."""
    defs, ids = [], {}
    for text in sorted(set(units.values())):
        parsed = parse_unit(text)
        if parsed is None:
            continue
        uid = "u_" + (re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "dimensionless")
        if not parsed:
            ids[text] = "dimensionless"
            continue
        body = "".join(f'<unit kind="{k}" exponent="{e}" scale="{s}" multiplier="{m!r}"/>' for k, e, s, m in parsed)
        defs.append(f'<unitDefinition id="{uid}"><listOfUnits>{body}</listOfUnits></unitDefinition>')
        ids[text] = uid
    return defs, ids


def _notes(text: str) -> str:
    return f'<notes><body xmlns="http://www.w3.org/1999/xhtml"><p>{escape(text)}</p></body></notes>'


def _value(v, patient: int) -> float:
    arr = np.asarray(v, dtype=float)
    return float(arr) if arr.ndim == 0 else float(arr[patient])


def model_sbml(model, params=None, *, y0=None, schedule=None, t0: float = 0.0, patient: int = 0) -> str:
    """SBML Level 3 text of one patient: states as parameters with rate rules and initial values,
    model parameters with their values and units, scheduled doses as events (module docstring).

    ``params``: the model's ParameterSet (default: typical values); ``patient`` picks one where
    values are per patient. ``y0``: state-major initial state (default ``model.initial_state``);
    ``schedule``: :class:`~cartwin.engine.events.Schedule` of doses; ``t0``: the cartwin day of
    SBML time 0.
    """
    params = model.parameters() if params is None else params
    n_p = params.n_patients or 1
    states = model.state_names()
    specs = list(model.parameter_table)
    if y0 is None:
        y0 = model.initial_state(params.broadcast(n_p), n_p)
    y0 = np.asarray(y0, dtype=float)
    y_init = (y0[:, patient] if y0.ndim == 2 else y0).copy()
    doses: dict[tuple[float, str], float] = {}
    for dose in (schedule.doses if schedule is not None else ()):
        if not hasattr(dose, "amount"):
            from cartwin.foundation.errors import ValidationError

            raise ValidationError(f"schedule[{dose.label or dose.state}]", "doses only (a setting, state = value, "
                                  "is not exported; export the model without it)", type(dose).__name__)
        amount = _value(dose.amount, patient)
        if dose.time_day < t0:
            from cartwin.foundation.errors import ValidationError

            raise ValidationError(f"dose[{dose.label or dose.state}].time_day", f"a time at or after t0={t0:g}", dose.time_day)
        if dose.time_day == t0:  # at SBML time 0: part of the initial value, as simulate() applies it
            y_init[states.index(dose.state)] += amount
        elif amount != 0.0:
            key = (float(dose.time_day), dose.state)
            doses[key] = doses.get(key, 0.0) + amount  # one event per time and state (SBML events at one time see the same values)
    y = [Node("ci", s) for s in states]
    out = [_wrap(d) for d in model.rhs(Node("ci", "time_day"), y, _P([p.name for p in specs]), _Xp())]
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
    unit_text = {f"p:{p.name}": p.unit for p in specs} | {f"s:{s.name}": s.unit for s in model.states}
    unit_text["t0_day"] = "day"
    defs, unit_ids = _unit_definitions(unit_text)
    defs.append('<unitDefinition id="u_day"><listOfUnits><unit kind="second" exponent="1" scale="0" '
                'multiplier="86400.0"/></listOfUnits></unitDefinition>')

    def units_attr(text):
        uid = unit_ids.get(text)
        return f' units="{uid}"' if uid else ""

    math = 'xmlns="http://www.w3.org/1998/Math/MathML"'
    time_sym = '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>'
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">',
             f'<model id="{re.sub(r"[^A-Za-z0-9_]", "_", model.name)}" name="{escape(model.name)} v{escape(model.version)}" '
             'timeUnits="u_day">',
             _notes(f"Generated by cartwin from {type(model).__name__} ({model.citation or model.name}). "
                    f"SBML time 0 is cartwin day {t0:g}."),
             "<listOfUnitDefinitions>" + "".join(defs) + "</listOfUnitDefinitions>",
             "<listOfParameters>"]
    for s, v in zip(model.states, y_init, strict=True):
        parts.append(f'<parameter id="{s.name}" value="{float(v)!r}"{units_attr(s.unit)} constant="false">'
                     f'{_notes(f"state ({s.unit}): {s.description}")}</parameter>')
    for p in specs:
        parts.append(f'<parameter id="{p.name}" value="{_value(params[p.name], patient)!r}"{units_attr(p.unit)} '
                     f'constant="true">{_notes(f"{p.unit}: {p.description} [{p.source}]")}</parameter>')
    parts.append(f'<parameter id="t0_day" value="{float(t0)!r}" units="u_day" constant="true"/>')
    parts += [f'<parameter id="{n.name}" constant="false"/>' for n in rules]
    # Breakpoints (rhs discontinuous in time): an event there makes the integrator restart.
    bp = model.breakpoints(params.broadcast(n_p), n_p)
    breaks = [] if bp is None else sorted({float(b) for b in np.asarray(bp)[:, patient] if np.isfinite(b) and b > t0})
    if breaks:
        parts.append('<parameter id="breakpoint_count" value="0" constant="false"/>')
    parts.append("</listOfParameters><listOfRules>")
    parts += [f'<assignmentRule variable="{n.name}"><math {math}>{_mathml(n, top=True)}</math></assignmentRule>' for n in rules]
    parts += [f'<rateRule variable="{s}"><math {math}>{_mathml(d)}</math></rateRule>'
              for s, d in zip(states, out, strict=True)]
    parts.append("</listOfRules>")
    events = []
    for k, ((day, state), amount) in enumerate(sorted(doses.items())):
        events.append(f'<event id="dose_{k}" useValuesFromTriggerTime="true"><trigger initialValue="true" persistent="true">'
                      f'<math {math}><apply><geq/>{time_sym}<cn>{day - t0!r}</cn></apply></math></trigger>'
                      f'<listOfEventAssignments><eventAssignment variable="{state}"><math {math}><apply><plus/><ci>{state}</ci>'
                      f'<cn>{amount!r}</cn></apply></math></eventAssignment></listOfEventAssignments></event>')
    for k, day in enumerate(breaks):
        events.append(f'<event id="breakpoint_{k}" useValuesFromTriggerTime="true"><trigger initialValue="true" persistent="true">'
                      f'<math {math}><apply><geq/>{time_sym}<cn>{day - t0!r}</cn></apply></math></trigger>'
                      f'<listOfEventAssignments><eventAssignment variable="breakpoint_count"><math {math}><cn>{k + 1}</cn></math>'
                      '</eventAssignment></listOfEventAssignments></event>')
    if events:
        parts.append("<listOfEvents>" + "".join(events) + "</listOfEvents>")
    parts.append("</model></sbml>")
    text = "\n".join(parts)
    shifted = f"<apply><plus/>{time_sym}<ci>t0_day</ci></apply>" if t0 != 0.0 else time_sym
    return text.replace("<ci>time_day</ci>", shifted)


class _EventValue:
    """``value(y, p)`` of a Setting: the imported model's event assignment (picklable)."""

    def __init__(self, model, index: int, add_to: int | None = None):
        self.model, self.index, self.add_to = model, index, add_to

    def __call__(self, y, p):
        value = self.model.event_values(self.index, y, p)
        return value + y[self.add_to] if self.add_to is not None else value


def event_schedule(model, params, n_patients: int | None = None):
    """The Schedule of an imported SBML model's fixed-time events
    (:attr:`cartwin.model.sbml_import.ImportedModel.timed_events`): doses as
    :class:`~cartwin.engine.events.Dose` (amounts per patient), other assignments as
    :class:`~cartwin.engine.events.Setting`. Models without events give an empty Schedule.

    >>> from cartwin.model.library import Stein2019
    >>> event_schedule(Stein2019(), Stein2019.parameters()).doses
    ()
    """
    from cartwin.engine.events import Dose, Schedule, Setting
    from cartwin.engine.solvers import namespace

    events = getattr(model, "timed_events", ())
    if not events:
        return Schedule()
    n = params.n_patients or n_patients or 1
    p = params.broadcast(n)
    y0 = model.initial_state(p, n)
    items = []
    for ev in events:
        if ev.kind == "dose":
            amount = np.broadcast_to(np.asarray(model.event_values(ev.index, y0, namespace(p)), dtype=float), (n,))
            if np.all(amount >= 0):
                items.append(Dose(ev.time_day, ev.state, amount.copy(), ev.label))
                continue
            items.append(Setting(ev.time_day, ev.state, _EventValue(model, ev.index, model.state_index(ev.state)), ev.label))
        else:
            items.append(Setting(ev.time_day, ev.state, _EventValue(model, ev.index), ev.label))
    return Schedule(items)
