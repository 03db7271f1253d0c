"""The dataset's dosing records as the fitted model's doses: what a fit simulates is the regimen.

A dose row (``EVID`` 1) puts ``AMT`` at ``TIME`` into the compartment its ``CMT`` names:

* a **dose input** of the model (:data:`DOSE_INPUTS`), with ``AMT`` in a declared unit
  (``amt_unit``) converted to the states it fills; an empty ``CMT`` is the model's default
  dose input (NONMEM's ``DEFDOSE``) where it has one;
* a **state** of the model (1-based number or name), with ``AMT`` in the state's unit (a
  declared ``amt_unit`` must be that unit).

Dose inputs (the conversions of :mod:`cartwin.model.dosing`):

=================  ===================  ==================================================
model              CMT                  AMT unit -> states
=================  ===================  ==================================================
cartwin-cart       ``car_t`` (default)  cells, 10^6 cells, cells/kg, 10^6 cells/kg (x WT) ->
                                        ``car_effector`` + ``car_memory`` in cells/uL (the
                                        5e8 uL body-to-blood bridge; the product's memory
                                        fraction)
cartwin-cart       ``fludarabine``      mg or mg/m2 (x BSA from WT, HT) of fludarabine
                                        phosphate -> ``flu_central`` as F-ara-A (x 285.2/365.2)
cartwin-cart       ``cyclophosphamide`` mg or mg/m2 -> ``cyclophosphamide``
kimmel2021         ``car_t`` (default)  cells, 10^6 cells, cells/kg, ... -> ``car_t`` cells/uL;
                                        the state's initial value (0.36 cells/uL, the paper's
                                        1.8e8-cell dose) is then 0: the dose replaces it
stein2019          none                 expansion is a parameter: dose rows are recorded, not
                                        applied
=================  ===================  ==================================================

The composite model (``cartwin-cart``) is simulated as :func:`cartwin.therapy.course.build_course`
sets a course up: the product's and indication's typical values (``product``, ``indication``),
the indication's tumour at the start, and lymphodepletion (``lymphodepletion``): ``"auto"``
(default) uses the dataset's fludarabine/cyclophosphamide rows where it has any, else the
product's Flu/Cy regimen (mg/m2 on days -5, -4, -3 before each patient's first CAR-T dose,
with BSA from the ``WT`` and ``HT`` covariates, Mosteller); ``"none"`` applies none beyond the
dataset's rows. Every patient must have a CAR-T dose: without one the model has no CAR-T cells.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartwin.foundation.errors import DataError, ValidationError

#: Dose inputs by model name: ``{model: {cmt: kind}}``; the first is the default (DEFDOSE).
DOSE_INPUTS: Mapping[str, Mapping[str, str]] = {
    "cartwin-cart": {"car_t": "cells", "fludarabine": "ld_mg", "cyclophosphamide": "ld_mg"},
    "kimmel2021": {"car_t": "cells"},
}
LD_INPUTS = ("fludarabine", "cyclophosphamide")
LD_CHOICES = ("auto", "none")
_CELLS = re.compile(r"^(?:(1e\d+|10\^\d+|million)\s*)?cells?(/kg)?$")


@dataclass
class DosePlan:
    """Doses per (time, state) with per-patient amounts, parameter values per patient that the
    regimen sets, initial-state values it sets, and what was applied (for the summary)."""

    doses: dict[tuple[float, str], np.ndarray]
    base_values: dict[str, Any] = field(default_factory=dict)
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    unapplied: int = 0
    record: dict[str, Any] = field(default_factory=dict)
    atol: Any = 1e-9


def _norm(text: str) -> str:
    return str(text).strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "").replace("²", "2")


def _unit_for(amt_unit, cmt: str, default: str) -> str | None:
    if amt_unit is None:
        return None
    if isinstance(amt_unit, str):
        return amt_unit
    if not isinstance(amt_unit, Mapping):
        raise ValidationError("amt_unit", "a unit, or a table CMT -> unit", amt_unit)
    for key in (cmt, default if cmt == "" else None):
        if key is not None and key in amt_unit:
            return amt_unit[key]
    return None


def _cells_factor(unit: str, weight: np.ndarray | None, where: str, row: dict, hint: str | None = None):
    m = _CELLS.match(_norm(unit).replace("10**", "10^"))
    if not m:
        raise ValidationError(where, "cells, 10^6 cells, cells/kg or 10^6 cells/kg for a CAR-T dose", unit, hint=hint)
    scale = 1.0
    if m.group(1):
        g = m.group(1)
        scale = 1e6 if g == "million" else float(g.replace("10^", "1e") if g.startswith("10^") else g)
    if m.group(2):
        if weight is None:
            raise DataError(row["source"], f"AMT in {unit} needs the patient's weight: a WT column (kg)", row=row["ROW"],
                            column="AMT")
        return scale * weight
    return scale


def _mg_factor(unit: str, bsa: np.ndarray | None, where: str, row: dict, what: str, hint: str | None = None):
    u = _norm(unit)
    if u == "mg":
        return 1.0
    if u in ("mg/m2", "mg/m^2"):
        if bsa is None:
            raise DataError(row["source"], f"AMT in {unit} needs body surface area: WT (kg) and HT (cm) columns",
                            row=row["ROW"], column="AMT")
        return bsa
    raise ValidationError(where, f"mg or mg/m2 for a {what} dose", unit, hint=hint)


def _patient_column(covariates: pd.DataFrame, ids: list[str], names: tuple[str, ...]) -> np.ndarray | None:
    cols = {c.upper(): c for c in covariates.columns}
    for n in names:
        if n in cols:
            return covariates.set_index("ID").loc[ids, cols[n]].to_numpy(float)
    return None


def plan_doses(model, doses: pd.DataFrame, ids: list[str], covariates: pd.DataFrame, source: str, *,
               amt_unit: str | Mapping[str, str] | None = None, product: str | None = None,
               indication: str | None = None, lymphodepletion: Any = "auto") -> DosePlan:
    """The doses a fit applies (module docstring). ``doses``: the dataset's dose rows (``ID``,
    ``TIME_DAY``, ``AMT``, ``CMT``, ``ROW``); ``covariates``: one row per patient (``ID`` and
    the covariate columns)."""
    from cartwin.foundation.units import BODY_LYMPHOID_VOLUME_UL, body_surface_area_m2
    from cartwin.model.dosing import FLUDARABINE_TO_FARAA, Lymphodepletion

    names = model.state_names()
    inputs = DOSE_INPUTS.get(model.name, {})
    default = next(iter(inputs), None)
    composite = model.name == "cartwin-cart"
    if not composite and (product is not None or indication is not None):
        raise ValidationError("product" if product is not None else "indication",
                              "only with the composite model (cart): other models have no product or indication", product or indication)
    if not composite and not (isinstance(lymphodepletion, str) and lymphodepletion == "auto"):
        raise ValidationError("lymphodepletion", "'auto' (only the composite model (cart) has lymphodepletion)", lymphodepletion)
    if isinstance(lymphodepletion, str) and lymphodepletion not in LD_CHOICES:
        raise ValidationError("lymphodepletion", "auto, none or a Lymphodepletion", lymphodepletion)
    index = {pid: i for i, pid in enumerate(ids)}
    n = len(ids)
    weight = _patient_column(covariates, ids, ("WT", "WEIGHT", "BW"))
    height = _patient_column(covariates, ids, ("HT", "HEIGHT"))
    bsa = body_surface_area_m2(weight, height) if weight is not None and height is not None else None
    plan = DosePlan({})
    memory = None
    if composite:
        plan.base_values, plan.initial, memory, ld_regimen = _composite_setup(product, indication)
        from cartwin.therapy.course import DEFAULT_ATOL

        plan.atol = dict(DEFAULT_ATOL)

    def add(t: float, state: str, i: int, amount: float) -> None:
        plan.doses.setdefault((float(t), state), np.zeros(n))[i] += amount

    first_car = np.full(n, np.nan)
    ld_rows = np.zeros(n, dtype=bool)
    units_used: dict[str, str] = {}
    for _, r in doses.iterrows():
        cmt, i = str(r["CMT"]), index[r["ID"]]
        where_row = {"source": source, "ROW": int(r["ROW"])}
        col = f"{source}, row {int(r['ROW'])}, column 'CMT'"
        if cmt == "" and default is None:
            plan.unapplied += 1
            continue
        key = default if cmt == "" else cmt
        unit = _unit_for(amt_unit, cmt, default or "")
        if key in inputs:
            example = "cells" if inputs[key] == "cells" else "mg/m2"
            hint = (f"row {int(r['ROW'])} of {source} doses {key}; with dose rows of several inputs give a unit "
                    f"per CMT, e.g. {key}={example}")
            if unit is None:
                raise ValidationError("amt_unit", f"the unit of AMT of the {key} dose rows (e.g. '{example}')", None, hint=hint)
            units_used[key] = unit
            amt = float(r["AMT"])
            if inputs[key] == "cells":
                w = None if weight is None else weight[i]
                cells = amt * float(np.asarray(_cells_factor(unit, w, "amt_unit", where_row, hint)))
                conc = cells / BODY_LYMPHOID_VOLUME_UL
                if composite:
                    add(r["TIME_DAY"], "car_effector", i, conc * (1.0 - memory))
                    add(r["TIME_DAY"], "car_memory", i, conc * memory)
                else:
                    add(r["TIME_DAY"], "car_t", i, conc)
                    plan.initial["car_t"] = np.zeros(n)
                first_car[i] = np.nanmin([first_car[i], r["TIME_DAY"]])
            else:
                b = None if bsa is None else bsa[i]
                mg = amt * float(np.asarray(_mg_factor(unit, b, "amt_unit", where_row, key, hint)))
                if key == "fludarabine":
                    add(r["TIME_DAY"], "flu_central", i, mg * FLUDARABINE_TO_FARAA)
                else:
                    add(r["TIME_DAY"], "cyclophosphamide", i, mg)
                ld_rows[i] = True
            continue
        if cmt.isdigit():
            k = int(cmt)
            if not 1 <= k <= len(names):
                raise ValidationError(col, f"a state number 1..{len(names)} of {model.name}, a state name"
                                      + (" or a dose input (" + ", ".join(inputs) + ")" if inputs else ""), cmt)
            state = names[k - 1]
        elif cmt in names:
            state = cmt
        else:
            raise ValidationError(col, "a state of " + model.name + " (" + ", ".join(names) + ")"
                                  + (" or a dose input (" + ", ".join(inputs) + ")" if inputs else ""), cmt)
        state_unit = model.states[names.index(state)].unit
        if unit is not None and _norm(unit) != _norm(state_unit):
            raise ValidationError("amt_unit", f"the unit of state {state} ({state_unit}) for dose rows with CMT {cmt}", unit)
        if composite and state in ("car_effector", "car_memory"):
            first_car[i] = np.nanmin([first_car[i], r["TIME_DAY"]])
        add(r["TIME_DAY"], state, i, float(r["AMT"]))
        if state in ("flu_central", "cyclophosphamide"):
            ld_rows[i] = True
    record: dict[str, Any] = {"dose_inputs": dict(inputs), "default_input": default, "amt_units": units_used}
    if composite:
        missing = [ids[i] for i in range(n) if np.isnan(first_car[i])]
        if missing:
            raise ValidationError("dataset", "a CAR-T dose row (EVID 1, CMT car_t or empty, AMT in amt_unit) for every "
                                  "patient: without one the composite model has no CAR-T cells",
                                  f"none for ID {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        if isinstance(lymphodepletion, str):
            ld = None if (lymphodepletion == "none" or ld_rows.any()) else ld_regimen
        elif isinstance(lymphodepletion, Lymphodepletion):
            if ld_rows.any():
                raise ValidationError("lymphodepletion", "'auto' or 'none' when the dataset has lymphodepletion dose rows "
                                      "(they would be given twice)", lymphodepletion)
            ld = lymphodepletion
        else:
            raise ValidationError("lymphodepletion", "auto, none or a Lymphodepletion", lymphodepletion)
        if ld is not None and ld.days:
            if bsa is None:
                raise ValidationError("dataset", "WT (kg) and HT (cm) covariate columns: the lymphodepletion regimen is "
                                      "dosed in mg/m2 (or give fludarabine/cyclophosphamide dose rows, or lymphodepletion='none')",
                                      list(covariates.columns[1:]))
            for i in range(n):
                for spec in ld.doses(bsa[i:i + 1]):
                    add(first_car[i] + spec.time_day, spec.state, i, float(np.asarray(spec.amount).ravel()[0]))
        record["lymphodepletion"] = ("dataset rows" if ld_rows.any() else "none") if ld is None else {
            "fludarabine_mg_per_m2": ld.fludarabine_mg_per_m2, "cyclophosphamide_mg_per_m2": ld.cyclophosphamide_mg_per_m2,
            "days_before_first_car_t_dose": list(ld.days), "from": "regimen" if ld is ld_regimen else "argument"}
        record["product"], record["indication"], record["memory_fraction"] = product, indication, memory
    plan.record = record
    return plan


def _composite_setup(product: str | None, indication: str | None):
    """Typical values, initial tumour split, memory fraction and Flu/Cy regimen of a product
    and indication, as :func:`cartwin.therapy.course.build_course` sets a course up."""
    from cartwin.model.presets import INDICATIONS, PRODUCTS, get_product
    from cartwin.therapy.course import Covariates, Regimen, build_course

    if product is None:
        raise ValidationError("product", "the product the patients received (one of " + ", ".join(PRODUCTS) + "): "
                              "it sets the composite model's typical values, memory fraction and lymphodepletion", None)
    if indication is None:
        raise ValidationError("indication", "the patients' indication (one of " + ", ".join(INDICATIONS) + ")", None)
    regimen = Regimen(product, indication)
    model, params, y0, _schedule, _dose = build_course(regimen, Covariates(), dose_cells=np.ones(1))
    specs = model.parameter_specs()
    base = {k: float(np.asarray(v).ravel()[0]) for k, v in params.items()
            if np.size(v) == 1 and float(np.asarray(v).ravel()[0]) != specs[k].value}
    initial = {s: np.full(1, float(y0[model.state_index(s), 0])) for s in ("tumour_pos", "tumour_neg", "tumour_lineages")}
    return base, initial, float(get_product(product).memory_fraction), regimen.ld()
