"""SBML import: a published SBML model (e.g. from BioModels) as a cartwin :class:`Model`.

``from_sbml(path)`` reads the file with python-libsbml (``pip install "cartwin[sbml]"``), writes
a Python module holding one ``Model`` subclass (states, parameter table, ``rhs``,
``initial_state``, ``observables``, ``breakpoints``) and imports it. The ``rhs`` is ordinary
cartwin code using only the ``xp`` namespace, so the imported model runs in every engine (batched
NumPy, compiled numba, JAX), with per-patient parameters (inter-individual variability), and can
be fitted; ``cartwin model import FILE.xml --out model.py`` writes the module for reading or
editing. Nothing is tuned to particular files: the mapping follows the SBML specification.

What is mapped
--------------
* Species -> states (concentration where ``hasOnlySubstanceUnits`` is false, amount otherwise);
  reactions -> ``rhs`` terms ``stoichiometry * rate / compartment size`` (constant stoichiometry);
  boundary species keep their value unless a rule changes them; constant species are parameters.
* Rate rules -> states; assignment rules -> intermediate quantities computed in ``rhs`` in
  dependency order (also reported as observables); function definitions inlined.
* Parameters and compartment sizes with ``constant="true"`` -> the parameter table (SBML gives
  no bounds: each keeps its sign, ``[0, inf)`` for a positive value); non-constant parameters
  changed only by events -> states with zero derivative; local parameters of kinetic laws ->
  parameters named ``<reaction>_<id>``.
* Initial assignments -> initial values (states) or derived parameters (recomputed from the
  others per patient, so a changed parameter moves them too).
* Units: the model's time unit, where the file states it (SBML Level 2's ``time`` unit
  definition, whose default is the second, or Level 3's ``timeUnits``), is converted to days
  (``rhs`` is in days; parameters keep the file's units, shown in the table). Where the file
  states none, ``time_unit`` must be given.
* Events whose trigger is a fixed time (``time >= c``, ``time > c``, with ``c`` a number or an
  expression of constant parameters, evaluated at import) -> :attr:`ImportedModel.timed_events`:
  an assignment ``X = X + amount`` (amount free of states) is a scheduled dose, any other a
  setting (``X = expression``, evaluated on the values just before the event).
  ``cartwin.engine.sbml.event_schedule(model, params)`` turns them into an engine Schedule.
* Comparisons of time with a parameter expression inside ``piecewise`` -> breakpoints, so
  engines stop on the discontinuity.

What is refused, by name
------------------------
Algebraic rules, delays (``delay()`` and event delays), events triggered by anything but time,
``rateOf``, variable stoichiometry, conversion factors, compartments that change size,
reactions with fast="true", and MathML functions without an ``xp`` counterpart (e.g. ``arcsin``).
Each raises :class:`~cartwin.foundation.errors.ValidationError` naming the SBML element.

Example
-------
>>> model = from_sbml("BIOMD0000001041.xml")                       # doctest: +SKIP
>>> model.state_names()                                              # doctest: +SKIP
('Normal_T_cells', 'CAR_T_cells', 'Antigen_presenting_tumour_cells')
"""

from __future__ import annotations

import hashlib
import importlib.util
import keyword
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cartwin.foundation.errors import CartwinError, ValidationError
from cartwin.model.base import Model

#: Days per SBML second.
_SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class TimedEvent:
    """An SBML event at a fixed time: ``kind`` ``"dose"`` (``state += amount``) or ``"setting"``
    (``state = value``); ``index`` selects the assignment in ``ImportedModel.event_values``."""

    time_day: float
    state: str
    kind: str
    index: int
    label: str


class ImportedModel(Model):
    """Base class of models generated from SBML (:func:`from_sbml`)."""

    version = "sbml"
    sbml_source: ClassVar[str] = ""
    sbml_time_unit: ClassVar[str] = ""
    timed_events: ClassVar[tuple[TimedEvent, ...]] = ()

    def event_values(self, index: int, y: np.ndarray, p: Any) -> np.ndarray:
        """Value of event assignment ``index`` (the amount of a dose, the new value of a
        setting) from the state-major ``y`` just before the event and parameters ``p``."""
        raise IndexError(index)


# ---- math: libsbml AST -> small tuple tree -> Python text ------------------------------------

def _libsbml():
    try:
        import libsbml
    except ModuleNotFoundError:  # pragma: no cover - exercised only without libsbml
        raise CartwinError('SBML import needs python-libsbml: pip install "cartwin[sbml]"') from None
    return libsbml


def _refuse(what: str, where: str):
    raise ValidationError(where, "an SBML feature cartwin can map (see cartwin.model.sbml_import)", what)


def _tree(ast, where: str, functions: dict) -> tuple:
    """A libsbml ASTNode as nested tuples ``(op, *children)``; user functions inlined."""
    L = _libsbml()
    t = ast.getType()
    kids = [ast.getChild(i) for i in range(ast.getNumChildren())]

    def sub(k):
        return _tree(k, where, functions)

    if t in (L.AST_INTEGER,):
        return ("num", float(ast.getInteger()))
    if t in (L.AST_REAL, L.AST_REAL_E, L.AST_RATIONAL):
        return ("num", float(ast.getValue()))
    if t == L.AST_NAME:
        return ("name", ast.getName())
    if t == L.AST_NAME_TIME:
        return ("time",)
    if t == L.AST_NAME_AVOGADRO:
        return ("num", 6.02214076e23)
    if t == L.AST_CONSTANT_E:
        return ("num", math.e)
    if t == L.AST_CONSTANT_PI:
        return ("num", math.pi)
    if t == L.AST_CONSTANT_TRUE:
        return ("bool", True)
    if t == L.AST_CONSTANT_FALSE:
        return ("bool", False)
    if t == L.AST_PLUS:
        return ("plus", *map(sub, kids)) if kids else ("num", 0.0)
    if t == L.AST_TIMES:
        return ("times", *map(sub, kids)) if kids else ("num", 1.0)
    if t == L.AST_MINUS:
        return ("neg", sub(kids[0])) if len(kids) == 1 else ("minus", sub(kids[0]), sub(kids[1]))
    if t == L.AST_DIVIDE:
        return ("divide", sub(kids[0]), sub(kids[1]))
    if t in (L.AST_POWER, L.AST_FUNCTION_POWER):
        return ("power", sub(kids[0]), sub(kids[1]))
    simple = {L.AST_FUNCTION_EXP: "exp", L.AST_FUNCTION_LN: "log", L.AST_FUNCTION_ABS: "abs",
              L.AST_FUNCTION_FLOOR: "floor", L.AST_FUNCTION_CEILING: "ceil", L.AST_FUNCTION_SIN: "sin",
              L.AST_FUNCTION_COS: "cos", L.AST_FUNCTION_TANH: "tanh"}
    if t in simple:
        return ("call", simple[t], sub(kids[0]))
    if t == L.AST_FUNCTION_LOG:  # log(base, x); one child: base 10
        if len(kids) == 1:
            return ("call", "log10", sub(kids[0]))
        return ("divide", ("call", "log", sub(kids[1])), ("call", "log", sub(kids[0])))
    if t == L.AST_FUNCTION_ROOT:  # root(degree, x); one child: square root
        if len(kids) == 1:
            return ("call", "sqrt", sub(kids[0]))
        return ("power", sub(kids[1]), ("divide", ("num", 1.0), sub(kids[0])))
    if t == L.AST_FUNCTION_PIECEWISE:
        parts = list(map(sub, kids))
        pieces = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        otherwise = parts[-1] if len(parts) % 2 == 1 else pieces[-1][0]  # no otherwise: pieces exhaustive
        out = otherwise
        for value, cond in reversed(pieces):
            out = ("where", cond, value, out)
        return out
    relational = {L.AST_RELATIONAL_LT: "<", L.AST_RELATIONAL_LEQ: "<=", L.AST_RELATIONAL_GT: ">",
                  L.AST_RELATIONAL_GEQ: ">=", L.AST_RELATIONAL_EQ: "==", L.AST_RELATIONAL_NEQ: "!="}
    if t in relational:
        if len(kids) != 2:
            _refuse(f"a comparison of {len(kids)} arguments", where)
        return ("cmp", relational[t], sub(kids[0]), sub(kids[1]))
    if t in (L.AST_LOGICAL_AND, L.AST_LOGICAL_OR, L.AST_LOGICAL_XOR):
        op = {L.AST_LOGICAL_AND: "and", L.AST_LOGICAL_OR: "or", L.AST_LOGICAL_XOR: "xor"}[t]
        return (op, *map(sub, kids))
    if t == L.AST_LOGICAL_NOT:
        return ("not", sub(kids[0]))
    if t == L.AST_FUNCTION:
        name = ast.getName()
        if name not in functions:
            _refuse(f"function {name!r} (not defined in the file)", where)
        args, body = functions[name]
        if len(args) != len(kids):
            _refuse(f"function {name!r} called with {len(kids)} arguments (defined with {len(args)})", where)
        return _substitute(body, dict(zip(args, map(sub, kids), strict=True)))
    if t == L.AST_FUNCTION_DELAY:
        _refuse("delay() (delay differential equations)", where)
    _refuse(f"MathML {ast.getName() or L.formulaToL3String(ast)}", where)
    return ("num", float("nan"))  # unreachable


def _substitute(node: tuple, bindings: dict) -> tuple:
    if node[0] == "name" and node[1] in bindings:
        return bindings[node[1]]
    return (node[0], *[(_substitute(c, bindings) if isinstance(c, tuple) else c) for c in node[1:]])


def _names(node: tuple) -> set[str]:
    if node[0] == "name":
        return {node[1]}
    out = set()
    for c in node[1:]:
        if isinstance(c, tuple):
            out |= _names(c)
    return out


def _has_time(node: tuple) -> bool:
    return node[0] == "time" or any(isinstance(c, tuple) and _has_time(c) for c in node[1:])


def _py(node: tuple, sym: dict[str, str], time: str) -> str:
    """Python text (``xp`` functions only) of a tuple tree; ``sym`` maps SBML ids to text."""
    op = node[0]
    if op == "num":
        v = node[1]
        return repr(v) if math.isfinite(v) else ("xp.inf" if v > 0 else "(-xp.inf)")
    if op == "bool":
        return repr(node[1])
    if op == "name":
        return sym[node[1]]
    if op == "time":
        return time
    args = [_py(c, sym, time) for c in node[1:] if isinstance(c, tuple)]
    if op == "plus":
        return "(" + " + ".join(args) + ")"
    if op == "times":
        return "(" + " * ".join(args) + ")"
    if op == "minus":
        return f"({args[0]} - {args[1]})"
    if op == "neg":
        return f"(-{args[0]})"
    if op == "divide":
        return f"({args[0]} / {args[1]})"
    if op == "power":
        return f"({args[0]} ** {args[1]})"
    if op == "call":
        return f"xp.{node[1]}({_py(node[2], sym, time)})"
    if op == "where":
        return f"xp.where({args[0]}, {args[1]}, {args[2]})"
    if op == "cmp":
        return f"({_py(node[2], sym, time)} {node[1]} {_py(node[3], sym, time)})"
    if op == "and":
        out = args[-1]
        for a in reversed(args[:-1]):
            out = f"xp.where({a}, {out}, False)"
        return out
    if op == "or":
        out = args[-1]
        for a in reversed(args[:-1]):
            out = f"xp.where({a}, True, {out})"
        return out
    if op == "xor":
        out = args[0]
        for a in args[1:]:
            out = f"({out} != {a})"
        return out
    if op == "not":
        return f"xp.where({args[0]}, False, True)"
    raise AssertionError(op)  # pragma: no cover


def _time_comparisons(node: tuple, found: list) -> None:
    """Collect ``c`` of comparisons ``time <op> c`` / ``c <op> time`` (breakpoint candidates)."""
    if node[0] == "cmp":
        a, b = node[2], node[3]
        if a == ("time",) and not _has_time(b):
            found.append(b)
        elif b == ("time",) and not _has_time(a):
            found.append(a)
    for c in node[1:]:
        if isinstance(c, tuple):
            _time_comparisons(c, found)


# ---- units -------------------------------------------------------------------------------

def _unit_text(model, uid: str) -> str:
    """Human text of an SBML units id (a unit definition, or a base unit)."""
    L = _libsbml()
    if not uid:
        return "unstated (SBML)"
    ud = model.getUnitDefinition(uid)
    if ud is None:
        return uid
    parts = []
    for u in ud.getListOfUnits():
        kind = L.UnitKind_toString(u.getKind())
        factor = u.getMultiplier() * 10.0 ** u.getScale()
        if kind == "second" and math.isclose(factor, 86400.0):
            kind, factor = "day", 1.0
        elif kind == "second" and math.isclose(factor, 3600.0):
            kind, factor = "hour", 1.0
        e = u.getExponent()
        if e == 0 or kind == "dimensionless" and factor == 1.0:
            continue
        text = kind if factor == 1.0 else f"({factor:g} {kind})"
        parts.append(text if e == 1 else f"{text}^{e:g}")
    return " * ".join(parts) if parts else "1"


def _seconds_per_time_unit(model, level: int, time_unit: str | None) -> tuple[float, str]:
    """Seconds per model time unit, and how it was decided."""
    L = _libsbml()
    if time_unit is not None:
        table = {"second": 1.0, "s": 1.0, "minute": 60.0, "min": 60.0, "hour": 3600.0, "h": 3600.0,
                 "day": 86400.0, "d": 86400.0, "week": 7 * 86400.0}
        key = str(time_unit).strip().lower()
        if key not in table:
            raise ValidationError("time_unit", "one of second, minute, hour, day, week", time_unit)
        return table[key], f"{key} (given)"
    uid = model.getTimeUnits() if level >= 3 else "time"
    if not uid:
        raise ValidationError("time_unit", "the model's time unit (the file states none: pass time_unit='day', "
                              "or --time-unit on the command line)", None)
    ud = model.getUnitDefinition(uid)
    if ud is None:
        base = {"second": 1.0, "dimensionless": None}
        if uid in base and base[uid] is not None:
            return base[uid], f"{uid} (file)"
        if level < 3 and uid == "time":
            return 1.0, "second (SBML Level 2 default)"
        raise ValidationError("time_unit", "the model's time unit (the file's timeUnits is not a time); pass time_unit", uid)
    units = list(ud.getListOfUnits())
    if len(units) != 1 or L.UnitKind_toString(units[0].getKind()) != "second" or units[0].getExponent() != 1:
        raise ValidationError("time_unit", "a time unit in the file (its definition is not a time); pass time_unit", uid)
    u = units[0]
    seconds = u.getMultiplier() * 10.0 ** u.getScale()
    return seconds, f"{_unit_text(model, uid)} (file)"


# ---- the translation ------------------------------------------------------------------------

def _ident(sid: str) -> str:
    return sid + "_" if keyword.iskeyword(sid) or sid in ("xp", "t", "y", "p", "np") else sid


def _toposort(exprs: dict[str, tuple], where: str) -> list[str]:
    order, state = [], {}

    def visit(k, stack):
        if state.get(k) == 2:
            return
        if state.get(k) == 1:
            _refuse(f"a cycle among rules/initial assignments through {k!r}", where)
        state[k] = 1
        for d in sorted(_names(exprs[k])):
            if d in exprs:
                visit(d, stack + [k])
        state[k] = 2
        order.append(k)

    for k in exprs:
        visit(k, [])
    return order


def sbml_to_source(path: str | os.PathLike, *, time_unit: str | None = None, class_name: str | None = None) -> str:
    """Python source of a ``Model`` subclass equivalent to the SBML file (see module docstring)."""
    L = _libsbml()
    path = Path(path)
    if not path.exists():
        raise ValidationError("sbml file", "an existing SBML file", str(path))
    doc = L.readSBMLFromFile(str(path))
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= L.LIBSBML_SEV_ERROR]
    if errors:
        e = errors[0]
        raise ValidationError(f"{path.name}, line {e.getLine()}", "valid SBML", e.getShortMessage() or e.getMessage().strip())
    model = doc.getModel()
    if model is None:
        raise ValidationError(path.name, "an SBML document with a model", "no <model>")
    level = doc.getLevel()
    src = path.name
    seconds, time_note = _seconds_per_time_unit(model, level, time_unit)
    day_factor = _SECONDS_PER_DAY / seconds  # model time units per day: d/dt_day = day_factor * d/dtau

    functions = {}
    for fd in model.getListOfFunctionDefinitions():
        m = fd.getMath()
        args = [m.getChild(i).getName() for i in range(m.getNumChildren() - 1)]
        functions[fd.getId()] = (args, None)
    for fd in model.getListOfFunctionDefinitions():  # bodies may call earlier functions
        m = fd.getMath()
        args = functions[fd.getId()][0]
        functions[fd.getId()] = (args, _tree(m.getChild(m.getNumChildren() - 1), f"functionDefinition {fd.getId()}", functions))

    for r in model.getListOfRules():
        if r.isAlgebraic():
            _refuse("an algebraic rule", f"{src}: listOfRules")
    rate_rules = {r.getVariable(): r for r in model.getListOfRules() if r.isRate()}
    assign_rules = {r.getVariable(): r for r in model.getListOfRules() if r.isAssignment()}
    event_targets = {a.getVariable() for e in model.getListOfEvents() for a in e.getListOfEventAssignments()}

    comps = {}
    for c in model.getListOfCompartments():
        cid = c.getId()
        if cid in rate_rules or cid in assign_rules or cid in event_targets or not c.getConstant():
            _refuse("a compartment that changes size", f"compartment {cid}")
        comps[cid] = c

    states: list[dict] = []       # id, unit text, initial (tree or None), kind
    params: list[dict] = []       # id, value, unit text, description
    derived: dict[str, tuple] = {}  # constant quantities from initial assignments
    rules: dict[str, tuple] = {}    # assignment rules
    species_info = {}
    initial_assign = {ia.getSymbol(): _tree(ia.getMath(), f"initialAssignment {ia.getSymbol()}", functions)
                      for ia in model.getListOfInitialAssignments()}

    for c in comps.values():
        cid = c.getId()
        if cid in initial_assign:
            derived[cid] = initial_assign[cid]
        else:
            size = c.getSize() if c.isSetSize() else 1.0
            if not c.isSetSize() and c.getSpatialDimensions() != 0:
                _refuse("a compartment without a size", f"compartment {cid}")
            cu = c.getUnits() or (model.getVolumeUnits() if level >= 3 else "volume")
            params.append({"id": cid, "value": float(size), "unit": _unit_text(model, cu) if model.getUnitDefinition(cu) else (cu or "unstated (SBML)"),
                           "description": f"size of compartment {c.getName() or cid}"})

    for s in model.getListOfSpecies():
        sid = s.getId()
        if level >= 3 and s.isSetConversionFactor():
            _refuse("a species conversion factor", f"species {sid}")
        comp = s.getCompartment()
        amount = s.getHasOnlySubstanceUnits()
        species_info[sid] = {"comp": comp, "amount": amount, "boundary": s.getBoundaryCondition()}
        if s.isSetInitialConcentration():
            init = ("num", float(s.getInitialConcentration()))
            if amount:
                init = ("times", init, ("name", comp))
        elif s.isSetInitialAmount():
            init = ("num", float(s.getInitialAmount()))
            if not amount:
                init = ("divide", init, ("name", comp))
        else:
            init = None
        if sid in initial_assign:
            init = initial_assign[sid]
        su = s.getSubstanceUnits() or (model.getSubstanceUnits() if level >= 3 else "substance")
        unit = _unit_text(model, su) if model.getUnitDefinition(su) else (su or "unstated (SBML)")
        if not amount:
            cunit = next((q["unit"] for q in params if q["id"] == comp), "")
            known = cunit and "unstated" not in cunit and "(SBML)" not in cunit
            unit += f" / {cunit}" if known else f" / size of {comp}"
        desc = f"species {s.getName() or sid}"
        if sid in assign_rules:
            rules[sid] = _tree(assign_rules[sid].getMath(), f"assignmentRule {sid}", functions)
        elif s.getConstant() and sid not in event_targets:
            if init is None:
                _refuse("a constant species without an initial value", f"species {sid}")
            if init[0] == "num":
                params.append({"id": sid, "value": init[1], "unit": unit, "description": desc + " (constant)"})
            else:
                derived[sid] = init
        else:
            if init is None:
                _refuse("a species without an initial value", f"species {sid}")
            states.append({"id": sid, "unit": unit, "initial": init, "description": desc})

    for q in model.getListOfParameters():
        qid = q.getId()
        unit = _unit_text(model, q.getUnits())
        desc = q.getName() if q.getName() and q.getName() != qid else ""
        if qid in assign_rules:
            rules[qid] = _tree(assign_rules[qid].getMath(), f"assignmentRule {qid}", functions)
        elif qid in rate_rules or qid in event_targets:
            init = initial_assign.get(qid, ("num", float(q.getValue()) if q.isSetValue() else float("nan")))
            if init == ("num", float("nan")) or (init[0] == "num" and math.isnan(init[1])):
                _refuse("a parameter with a rate rule and no value", f"parameter {qid}")
            states.append({"id": qid, "unit": unit, "initial": init, "description": desc or f"parameter {qid}"})
        elif qid in initial_assign:
            derived[qid] = initial_assign[qid]
        else:
            if not q.isSetValue():
                _refuse("a parameter without a value", f"parameter {qid}")
            params.append({"id": qid, "value": float(q.getValue()), "unit": unit, "description": desc})

    # Reactions: local parameters become global ones, named after the reaction.
    state_ids = [s["id"] for s in states]
    derivs: dict[str, list[tuple]] = {sid: [] for sid in state_ids}
    for r in model.getListOfReactions():
        rid = r.getId()
        if r.isSetFast() and r.getFast():
            _refuse("a fast reaction", f"reaction {rid}")
        kl = r.getKineticLaw()
        if kl is None or kl.getMath() is None:
            _refuse("a reaction without a kinetic law", f"reaction {rid}")
        local = list(kl.getListOfLocalParameters()) if level >= 3 else list(kl.getListOfParameters())
        bind = {}
        for lp in local:
            gid = f"{rid}_{lp.getId()}"
            params.append({"id": gid, "value": float(lp.getValue()), "unit": _unit_text(model, lp.getUnits()),
                           "description": f"local parameter {lp.getId()} of reaction {rid}"})
            bind[lp.getId()] = ("name", gid)
        rate = _substitute(_tree(kl.getMath(), f"reaction {rid}", functions), bind)
        for refs, sign in ((r.getListOfReactants(), -1.0), (r.getListOfProducts(), 1.0)):
            for ref in refs:
                sp = ref.getSpecies()
                if (level < 3 and ref.isSetStoichiometryMath()) or (level >= 3 and ref.isSetId() and
                                                                      (ref.getId() in assign_rules or ref.getId() in rate_rules
                                                                       or ref.getId() in initial_assign)):
                    _refuse("variable stoichiometry", f"reaction {rid}, species {sp}")
                if level >= 3 and not ref.isSetStoichiometry():
                    _refuse("a species reference without stoichiometry", f"reaction {rid}, species {sp}")
                info = species_info[sp]
                if info["boundary"] or sp not in derivs or sp in rate_rules:
                    continue
                term = ("times", ("num", sign * float(ref.getStoichiometry())), rate)
                if not info["amount"]:
                    term = ("divide", term, ("name", info["comp"]))
                derivs[sp].append(term)
    rhs_tree = {}
    for sid in state_ids:
        if sid in rate_rules:
            rhs_tree[sid] = _tree(rate_rules[sid].getMath(), f"rateRule {sid}", functions)
        elif derivs[sid]:
            rhs_tree[sid] = ("plus", *derivs[sid]) if len(derivs[sid]) > 1 else derivs[sid][0]
        else:
            rhs_tree[sid] = None  # constant between events

    # Events at fixed times.
    param_values = {q["id"]: q["value"] for q in params}
    events = []
    for k, e in enumerate(model.getListOfEvents()):
        eid = e.getId() or f"event{k}"
        if e.isSetDelay():
            _refuse("an event delay", f"event {eid}")
        trig = _tree(e.getTrigger().getMath(), f"event {eid} trigger", functions)
        when = None
        if trig[0] == "cmp" and trig[1] in (">=", ">") and trig[2] == ("time",) and not _has_time(trig[3]):
            when = trig[3]
        elif trig[0] == "cmp" and trig[1] in ("<=", "<") and trig[3] == ("time",) and not _has_time(trig[2]):
            when = trig[2]
        if when is None or not _names(when) <= set(param_values):
            _refuse("an event not triggered at a fixed time (only time >= constant is mapped)", f"event {eid}")
        tau = float(eval(_py(when, {n: repr(v) for n, v in param_values.items()}, "0.0"), {"xp": np}))  # noqa: S307
        initial_value = e.getTrigger().getInitialValue() if level >= 3 else True
        if tau < 0 or (tau == 0 and initial_value):
            continue  # true already at time 0 and not a false->true transition: never fires
        for a in e.getListOfEventAssignments():
            target = a.getVariable()
            if target not in state_ids:
                _refuse("an event assigning a constant or a compartment", f"event {eid}, variable {target}")
            tree = _tree(a.getMath(), f"event {eid}, assignment to {target}", functions)
            kind, value = "setting", tree
            if tree[0] == "plus" and ("name", target) in tree[1:]:
                rest = list(tree[1:])
                rest.remove(("name", target))
                amount = rest[0] if len(rest) == 1 else ("plus", *rest)
                if not (_names(amount) & (set(state_ids) | set(rules))) and not _has_time(amount):
                    kind, value = "dose", amount
            events.append({"time_day": tau / day_factor, "tau": tau, "state": target, "kind": kind, "value": value,
                           "label": f"{eid}: {target}"})

    # Symbols -> Python text in the generated functions.
    sym: dict[str, str] = {}
    for sid in state_ids:
        sym[sid] = f"s_{_ident(sid)}"
    for q in params:
        q["py"] = _ident(q["id"])
        sym[q["id"]] = f"p.{q['py']}"
    for d in derived:
        sym[d] = f"d_{_ident(d)}"
    for r in rules:
        sym[r] = f"a_{_ident(r)}"
    referenced = set()
    for tree in list(rhs_tree.values()) + list(rules.values()) + list(derived.values()):
        if tree is not None:
            referenced |= _names(tree)
    unknown = sorted(referenced - set(sym))
    if unknown:
        _refuse(f"symbol {unknown[0]!r} (not a species, parameter, compartment or rule variable)", src)

    time_text = "t" if day_factor == 1.0 else f"(t * {day_factor!r})"
    time_init = "t0" if day_factor == 1.0 else f"(t0 * {day_factor!r})"

    def lines_for(exprs: dict[str, tuple], indent: str, time: str) -> list[str]:
        order = _toposort(exprs, src)
        return [f"{indent}{sym[k]} = {_py(exprs[k], sym, time)}" for k in order]

    # rhs: derived parameters, then rules (in dependency order, derived before rules).
    pre = {**derived, **rules}
    body = [f"        {sym[s]} = y[{i}]" for i, s in enumerate(state_ids)]
    body += lines_for(pre, "        ", time_text)
    outs = []
    for i, s in enumerate(state_ids):
        tree = rhs_tree[s]
        if tree is None:
            outs.append(f"0.0 * y[{i}]")
        else:
            text = _py(tree, sym, time_text)
            outs.append(text if day_factor == 1.0 else f"{day_factor!r} * {text}")
    body.append("        return (" + ", ".join(outs) + ("," if len(outs) == 1 else "") + ")")

    # initial_state: derived, rules and the states' initial values, all in one dependency order.
    init_exprs = {**derived, **rules}
    for st in states:
        init_exprs[f"__init__{st['id']}"] = st["initial"]
    init_sym = dict(sym)
    for st in states:
        init_sym[st["id"]] = f"s_{_ident(st['id'])}"
    # states' initial expressions refer to other states' initial values: alias them
    init_alias = {f"__init__{st['id']}": st["id"] for st in states}
    ren = {st["id"]: ("name", f"__init__{st['id']}") for st in states}
    init_exprs = {k: _substitute(v, ren) for k, v in init_exprs.items()}
    for k, v in init_alias.items():
        init_sym[k] = f"s_{_ident(v)}"
    order = _toposort(init_exprs, src)
    init_lines = [f"        {init_sym[k]} = {_py(init_exprs[k], init_sym, time_init)}" for k in order]

    # observables: states and rule variables.
    obs_names = state_ids + list(rules)
    obs_lines = [f"        {sym[s]} = y[{i}]" for i, s in enumerate(state_ids)]
    obs_lines += lines_for(pre, "        ", time_text)

    # breakpoints: time compared with a parameter expression.
    found: list[tuple] = []
    for tree in list(rhs_tree.values()) + list(rules.values()):
        if tree is not None:
            _time_comparisons(tree, found)
    states_set = set(state_ids) | set(rules)
    bps = []
    for c in found:
        if not (_names(c) & states_set):
            text = _py(c, sym, "0.0")
            if text not in bps:
                bps.append(text)

    short = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", model.getId() or path.stem)).strip("_")[:40].rstrip("_")
    cls = class_name or "Sbml_" + short
    if not cls.isidentifier():
        cls = "SbmlModel"
    title = model.getName() or model.getId() or path.stem
    model_name = short.lower() or "sbml_model"
    state_units = [(s["id"], s["unit"], s["description"]) for s in states]
    ev_entries = ", ".join(f"TimedEvent({ev['time_day']!r}, {ev['state']!r}, {ev['kind']!r}, {k}, {ev['label']!r})"
                           for k, ev in enumerate(events))
    # Event assignments: rules evaluated at the event's time on the values just before it.
    ev_lines = [f"        {sym[s]} = y[{i}]" for i, s in enumerate(state_ids)] if events else []
    for k, ev in enumerate(events):
        ev_lines.append(f"        if index == {k}:")
        ev_lines += lines_for(pre, "            ", repr(ev["tau"]))
        ev_lines.append(f"            return {_py(ev['value'], sym, repr(ev['tau']))} + 0.0 * y[0]")
    ev_lines.append("        raise IndexError(index)")

    def plain(text: str) -> str:
        return str(text).replace("\\", "/").replace('"', "'").replace("\n", " ")

    out = [
        f'"""{plain(title)}: generated by cartwin.model.sbml_import from {plain(src)}.',
        "",
        f"Time unit of the file: {time_note}; rhs in days (d/dt_day = {day_factor!r} d/dt_model).",
        "Generated code: edit the SBML, or copy this into a library module and edit that.",
        '"""',
        "",
        "from math import inf",
        "",
        "import numpy as np",
        "",
        "from cartwin.model.base import Observable, Parameter, State",
        "from cartwin.model.sbml_import import ImportedModel, TimedEvent",
        "",
        f"_SRC = {('SBML ' + src)!r}",
        "",
        "",
        f"class {cls}(ImportedModel):",
        f"    name = {model_name!r}",
        f"    citation = {plain(title)!r}",
        f"    sbml_source = {src!r}",
        f"    sbml_time_unit = {time_note!r}",
        "    states = (",
    ]
    out += [f"        State({sid!r}, {unit!r}, {desc!r}, nonnegative=False)," for sid, unit, desc in state_units]
    out += ["    )", "    parameter_table = ("]
    for q in params:
        v = q["value"]
        low, high = (0.0, math.inf) if v > 0 else ((-math.inf, 0.0) if v < 0 else (-math.inf, math.inf))
        out.append(f"        Parameter({q['py']!r}, {v!r}, {q['unit']!r}, {low!r}, {high!r}, _SRC, {q['description']!r}),")
    out += ["    )", "    observables_spec = ("]
    units_of = {sid: unit for sid, unit, _ in state_units}
    out += [f"        Observable({n!r}, {units_of.get(n, '')!r}, {('assignment rule' if n in rules else 'state')!r})," for n in obs_names]
    out += ["    )", f"    timed_events = ({ev_entries}{',' if len(events) == 1 else ''})", ""]
    out += ["    def rhs(self, t, y, p, xp=np):"] + body + [""]
    out += ["    def initial_state(self, p, n_patients, t0=0.0):",
            "        xp = np"]
    out += init_lines
    out += ["        return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (n_patients,)) for v in ("
            + ", ".join(f"s_{_ident(s)}" for s in state_ids) + ("," if len(state_ids) == 1 else "") + ")]).copy()", ""]
    out += ["    def observables(self, t, y, p):", "        xp = np"] + obs_lines
    out += ["        return {" + ", ".join(f"{n!r}: {sym[n]}" for n in obs_names) + "}", ""]
    out += ["    def event_values(self, index, y, p):", "        xp = np"] + ev_lines + [""]
    if bps:
        out += ["    def breakpoints(self, p, n_patients):",
                "        xp = np",
                "        return np.stack([np.broadcast_to(np.asarray(v, dtype=float) / " + repr(day_factor)
                + ", (n_patients,)) for v in (" + ", ".join(bps) + ",)])", ""]
    return "\n".join(out).rstrip() + "\n"


def _cache_dir() -> Path:
    root = os.environ.get("CARTWIN_CACHE_DIR")
    for base in ((Path(root) if root else Path.home() / ".cache" / "cartwin") / "sbml",
                 Path(tempfile.gettempdir()) / "cartwin-sbml"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            return base
        except OSError:
            continue
    raise CartwinError("SBML import needs a writable cache directory (set CARTWIN_CACHE_DIR)")


def load_source(text: str, module_name: str | None = None) -> type[Model]:
    """Import generated (or edited) model source from a file in the cache; return its class."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    name = module_name or f"cartwin_sbml_{digest}"
    if name in sys.modules:
        module = sys.modules[name]
    else:
        path = _cache_dir() / f"{name}.py"
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, ImportedModel) and v is not ImportedModel]
    return classes[0]


def from_sbml(path: str | os.PathLike, *, time_unit: str | None = None) -> ImportedModel:
    """A cartwin model from an SBML file (module docstring: what is mapped, what is refused).

    ``time_unit``: the model's time unit where the file states none (or to override it).
    """
    return load_source(sbml_to_source(path, time_unit=time_unit))()
