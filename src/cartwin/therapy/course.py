"""Simulate a course of therapy: regimen + covariates -> timecourse and per-patient summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartwin.engine import DecisionPoints, Dose, SaveAt, Schedule, StepController, simulate
from cartwin.engine.simulate import Solution
from cartwin.foundation.constraints import Interval, check, check_array
from cartwin.foundation.errors import ValidationError
from cartwin.foundation.units import body_surface_area_m2
from cartwin.model.cart import CarTPatientModel
from cartwin.model.dosing import Lymphodepletion, infusion_doses
from cartwin.model.presets import get_indication, get_product


@dataclass(frozen=True)
class Covariates:
    """Per-patient covariates (scalars or arrays of one length). ``None`` = indication default."""

    weight_kg: Any = 70.0
    height_cm: Any = 170.0
    tumour_baseline_cells: Any = None
    antigen_negative_fraction: Any = None

    def n_patients(self) -> int:
        sizes = {np.size(v) for v in (self.weight_kg, self.height_cm, self.tumour_baseline_cells, self.antigen_negative_fraction) if v is not None and np.ndim(v) == 1}
        if len(sizes) > 1:
            raise ValidationError("covariates", "arrays of one common length", sorted(sizes))
        return sizes.pop() if sizes else 1

    def validated(self) -> Covariates:
        check_array("covariates.weight_kg", np.atleast_1d(self.weight_kg), Interval(2.0, 400.0))
        check_array("covariates.height_cm", np.atleast_1d(self.height_cm), Interval(40.0, 250.0))
        if self.tumour_baseline_cells is not None:
            check_array("covariates.tumour_baseline_cells", np.atleast_1d(self.tumour_baseline_cells), Interval(1.0, 1e14))
        if self.antigen_negative_fraction is not None:
            check_array("covariates.antigen_negative_fraction", np.atleast_1d(self.antigen_negative_fraction), Interval(0.0, 1.0))
        return self


@dataclass(frozen=True)
class Regimen:
    """What is given: product, indication, dose, lymphodepletion.

    ``dose_cells=None`` uses the product's labelled dose; ``per_kg`` says whether
    ``dose_cells`` is per kg. ``lymphodepletion=None`` uses the product's regimen;
    pass :data:`cartwin.model.dosing.NO_LYMPHODEPLETION` for none.
    """

    product: str = "axi-cel"
    indication: str = "lbcl"
    dose_cells: float | None = None
    per_kg: bool | None = None
    lymphodepletion: Lymphodepletion | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        prod = get_product(self.product)
        get_indication(self.indication)
        if self.dose_cells is not None:
            check("dose_cells", self.dose_cells, Interval(0.0, 1e11, low_open=True))
        if prod.antigen != get_indication(self.indication).antigen:
            raise ValidationError(
                "indication", f"an indication whose target is {prod.antigen} (product {self.product})", self.indication
            )

    def ld(self) -> Lymphodepletion:
        if self.lymphodepletion is not None:
            return self.lymphodepletion
        flu, cy = get_product(self.product).lymphodepletion
        return Lymphodepletion(flu, cy)


@dataclass
class CourseResult:
    solution: Solution
    regimen: Regimen
    dose_cells: np.ndarray
    policy: Any = None

    def timecourse(self) -> pd.DataFrame:
        df = self.solution.to_frame()
        return df[df["day"] >= 0].reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        return kinetic_summary(self.timecourse())


def kinetic_summary(timecourse: pd.DataFrame) -> pd.DataFrame:
    """Per-patient Cmax, Tmax, AUC0-28 (transgene copies/µg, trapezoid rule on saved days)."""
    # One sort and plain array slices per patient: the per-patient DataFrame groups cost ~1 ms
    # a patient, most of a trial batch's post-processing. The arithmetic per patient is unchanged.
    tc = timecourse.sort_values(["patient_id", "day"], kind="stable")
    ids = tc["patient_id"].to_numpy()
    if ids.size == 0:
        return pd.DataFrame(columns=list(_KINETIC_COLUMNS))
    cols = {name: tc[name].to_numpy() for name in ("day", "transgene_copies_per_ug", "car_t_per_ul", "il6_pg_per_ml",
                                                    "crp_mg_per_l", "tumor_cells", "tumor_antigen_neg_cells",
                                                    "b_cells_per_ul")}
    status = tc["status"].to_numpy()
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    bounds = np.r_[first, ids.size]
    rows = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        day = cols["day"][a:b]
        conc = cols["transgene_copies_per_ug"][a:b]
        cells = cols["car_t_per_ul"][a:b]
        after = day > 0
        k = int(np.argmax(np.where(after, conc, -np.inf)))
        w = day <= 28
        rows.append((
            ids[a], status[a], float(conc[k]), float(day[k]), float(np.trapezoid(conc[w], day[w])),
            float(cells[after].max()), float(day[int(np.argmax(np.where(after, cells, -np.inf)))]),
            float(cols["il6_pg_per_ml"][a:b].max()), float(cols["crp_mg_per_l"][a:b].max()),
            float(cols["tumor_cells"][a:b].min()), float(cols["tumor_cells"][b - 1]),
            float(cols["tumor_antigen_neg_cells"][b - 1]), float(cols["b_cells_per_ul"][a:b][after].min()),
        ))
    return pd.DataFrame(rows, columns=list(_KINETIC_COLUMNS))


_KINETIC_COLUMNS = (
    "patient_id", "status", "cmax_copies_per_ug", "tmax_day", "auc0_28_day_copies_per_ug", "cmax_car_t_per_ul",
    "tmax_car_t_day", "il6_max_pg_per_ml", "crp_max_mg_per_l", "tumor_cells_nadir", "tumor_cells_end",
    "tumor_antigen_neg_cells_end", "b_cells_per_ul_min",
)


def build_course(regimen: Regimen, covariates: Covariates, param_overrides: dict | None = None,
                 dose_cells=None, memory_fraction=None):
    """Model, parameters, schedule and per-patient dose for a regimen (no solving).

    ``dose_cells`` / ``memory_fraction`` (per patient) replace the regimen's dose and the
    product's phenotype mix, e.g. with the manufactured product of each patient.
    """
    covariates = covariates.validated()
    n = covariates.n_patients()
    prod = get_product(regimen.product)
    ind = get_indication(regimen.indication)
    weight = np.broadcast_to(np.asarray(covariates.weight_kg, dtype=float), (n,))
    height = np.broadcast_to(np.asarray(covariates.height_cm, dtype=float), (n,))
    bsa = body_surface_area_m2(weight, height)
    tumour = ind.tumour_baseline_cells if covariates.tumour_baseline_cells is None else covariates.tumour_baseline_cells
    neg = ind.antigen_negative_fraction if covariates.antigen_negative_fraction is None else covariates.antigen_negative_fraction
    tumour = np.broadcast_to(np.asarray(tumour, dtype=float), (n,))
    neg = np.broadcast_to(np.asarray(neg, dtype=float), (n,))

    values = {
        "tumour_baseline_cells": tumour,
        "r_tumour_per_day": ind.r_tumour_per_day,
        "r_tumour_neg_per_day": ind.r_tumour_per_day,
        "normal_target_baseline_per_ul": ind.normal_target_baseline_per_ul,
        "m_protein_baseline_g_per_dl": ind.m_protein_baseline_g_per_dl,
    }
    values.update(ind.overrides)
    values.update(prod.overrides)
    values.update(regimen.overrides)
    values.update(param_overrides or {})
    model = CarTPatientModel()
    params = model.parameters(**values)
    y0 = model.initial_state(params.broadcast(n), n)
    y0[model.state_index("tumour_pos")] = tumour * (1.0 - neg)
    y0[model.state_index("tumour_neg")] = tumour * neg
    # Every antigen-positive cell at the start is one lineage (see CarTPatientModel.rhs).
    threshold = np.broadcast_to(np.asarray(params["tumour_extinction_threshold"], dtype=float), (n,))
    y0[model.state_index("tumour_lineages")] = tumour * (1.0 - neg) / threshold

    if dose_cells is not None:
        dose = check_array("dose_cells", np.broadcast_to(np.asarray(dose_cells, dtype=float), (n,)), Interval(0.0, 1e11, low_open=True))
    elif regimen.dose_cells is None:
        dose = np.array([prod.dose_for(w) for w in weight])
    else:
        per_kg = prod.dose_per_kg if regimen.per_kg is None else regimen.per_kg
        dose = regimen.dose_cells * weight if per_kg else np.full(n, float(regimen.dose_cells))
    memory = prod.memory_fraction if memory_fraction is None else check_array(
        "memory_fraction", np.broadcast_to(np.asarray(memory_fraction, dtype=float), (n,)), Interval(0.0, 1.0))
    specs = regimen.ld().doses(bsa) + infusion_doses(dose, memory, 0.0)
    schedule = Schedule([Dose(s.time_day, s.state, s.amount, s.label) for s in specs])
    return model, params, y0, schedule, dose


def simulate_course(
    regimen: Regimen,
    covariates: Covariates | None = None,
    *,
    days: float = 365.0,
    policy=None,
    rtol: float = 1e-6,
    solver=None,
    seed: int | None = None,
    param_overrides: dict | None = None,
    save_every_days: float = 1.0,
    save_days=None,
    decision_days=None,
    dose_cells=None,
    memory_fraction=None,
) -> CourseResult:
    """Simulate lymphodepletion (from day -5), infusion at day 0 and follow-up to ``days``.

    Example
    -------
    >>> from cartwin.therapy import Regimen, simulate_course
    >>> result = simulate_course(Regimen("axi-cel", "lbcl"), days=28)
    >>> bool(result.summary()["tmax_day"].iloc[0] > 0)
    True
    """
    check("days", days, Interval(1.0, 3650.0))
    check("save_every_days", save_every_days, Interval(0.01, 30.0))
    covariates = covariates or Covariates()
    model, params, y0, schedule, dose = build_course(regimen, covariates, param_overrides, dose_cells, memory_fraction)
    t0 = min([-5.0] + [d.time_day for d in schedule.doses])
    regular = SaveAt.daily(0.0, days, save_every_days).days if save_days is None else np.asarray(save_days, dtype=float)
    saves = np.unique(np.concatenate([[t0], regular, [days]]))
    saves = saves[saves <= days]
    solution = simulate(
        model,
        params.broadcast(y0.shape[1]),
        y0=y0,
        t0=t0,
        solver=solver,
        saveat=SaveAt(saves),
        controller=StepController(rtol=rtol, atol=DEFAULT_ATOL),
        schedule=schedule,
        decisions=DecisionPoints(every_days=1.0, policy=policy, start_day=t0,
                                 at_days=None if decision_days is None else tuple(decision_days)),
        seed=seed,
    )
    return CourseResult(solution, regimen, dose, policy)


#: Absolute tolerances per state, in each state's unit: small against clinically relevant levels.
DEFAULT_ATOL = {
    "default": 1e-6,
    "tumour_pos": 1e-3,
    "tumour_neg": 1e-3,
    "tumour_lineages": 1e-3,
    "car_effector": 1e-7,
    "car_memory": 1e-7,
    "car_exhausted": 1e-7,
}
