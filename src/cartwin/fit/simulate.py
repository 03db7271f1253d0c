"""Simulated datasets: a cohort drawn from a population model, observed as a NONMEM dataset.

Used for recovery studies (docs/fitting.md) and to make example data; the dataset is the
format :func:`cartwin.fit.dataset.read_nonmem` reads, so a dataset made here round-trips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cartwin.fit.dataset import NonmemDataset, read_nonmem
from cartwin.foundation.errors import ValidationError
from cartwin.model.base import Model

#: Stein 2019 Table 1 (via nlmixr2lib Stein_2019_Tisagenlecleucel.R): typical values are the
#: library model's table; between-patient variances of the log parameters and the residual SD
#: on the natural-log scale (constant on the log scale).
STEIN2019_OMEGA2 = {"foldx": 2.4, "T_max_day": 0.38, "C_max_copies_per_ug": 0.65, "alpha_per_day": 0.91,
                    "F_B": 0.8, "beta_per_day": 0.86}
STEIN2019_SIGMA_LOG = 0.56
#: Blood qPCR days of an ELIANA-like schedule (days 1, 4, 7, 10, 14, 21, 28; months 2, 3, 6,
#: 9 and 12; Maude SL et al. N Engl J Med 2018;378:439-448, cellular kinetics appendix).
ELIANA_DAYS = (1.0, 4.0, 7.0, 10.0, 14.0, 21.0, 28.0, 56.0, 84.0, 168.0, 270.0, 365.0)
#: qPCR lower limit of quantification of transgene copies/ug gDNA in Stein 2019 (50).
STEIN2019_LLOQ = 50.0


def draw_parameters(model: Model, n: int, omega2: Mapping[str, float], rng: np.random.Generator,
                    typical: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """Per-patient values: log-normal around ``typical`` (default: the table), redrawn until
    inside the table's bounds (the population is the truncated distribution)."""
    specs = model.parameter_specs()
    typical = {k: specs[k].value for k in omega2} | dict(typical or {})
    out = {}
    for name, var in omega2.items():
        if name not in specs:
            raise ValidationError("omega2", f"parameters of {model.name}", name)
        s = specs[name]
        v = typical[name] * np.exp(rng.normal(0.0, np.sqrt(var), n))
        for _ in range(1000):
            bad = (v < s.low) | (v > s.high)
            if not bad.any():
                break
            v[bad] = typical[name] * np.exp(rng.normal(0.0, np.sqrt(var), int(bad.sum())))
        out[name] = v
    for name, value in typical.items():
        if name not in out:
            out[name] = np.full(n, float(value))
    return out


def simulate_dataset(model: Model, n: int, *, omega2: Mapping[str, float], sigma: float, seed: int,
                     observable: str | None = None, typical: Mapping[str, float] | None = None,
                     sample_days: Sequence[float] = ELIANA_DAYS, missing: float = 0.0, lloq: float | None = None,
                     error: str = "log", dose_amount: float | Sequence[float] | None = None, dv_unit: str | None = None,
                     covariates: Mapping[str, np.ndarray] | None = None, amt_unit: str = "cells",
                     product: str | None = None, indication: str | None = None) -> tuple[NonmemDataset, dict[str, np.ndarray]]:
    """A NONMEM dataset of ``n`` patients and the true per-patient parameters.

    Each sample is missed with probability ``missing`` (at least three are kept); values below
    ``lloq`` are written as BLQ rows (``CENS`` 1, ``DV`` = ``LLOQ``). ``dose_amount`` (one, or
    one per patient, in ``amt_unit``): a dose row at day 0 with ``CMT`` empty, the model's
    default dose input; it is applied in the simulation as a fit applies it
    (:mod:`cartwin.fit.dosing`; for the composite model with ``product`` and ``indication``),
    and recorded, not applied, for a model without a dose input (Stein 2019).
    """
    from cartwin.engine import Dose, SaveAt, Schedule, StepController, simulate
    from cartwin.engine.choice import resolve_solver
    from cartwin.fit.dosing import DOSE_INPUTS, plan_doses

    rng = np.random.default_rng(seed)
    truth = draw_parameters(model, n, omega2, rng, typical)
    ids = [str(i + 1) for i in range(n)]
    amounts = None if dose_amount is None else np.broadcast_to(np.asarray(dose_amount, dtype=float), (n,))
    extra_sim: dict = {}
    if amounts is not None and model.name in DOSE_INPUTS:
        doses = pd.DataFrame({"ID": ids, "TIME_DAY": 0.0, "AMT": amounts, "CMT": "", "ROW": 0})
        table = pd.DataFrame({"ID": ids, **{k: np.asarray(v, dtype=float) for k, v in (covariates or {}).items()}})
        plan = plan_doses(model, doses, ids, table, "simulate_dataset", amt_unit=amt_unit, product=product,
                          indication=indication)
        truth = {k: np.full(n, float(v)) for k, v in plan.base_values.items()} | truth
        params = model.parameters(**truth)
        y0 = model.initial_state(params.broadcast(n), n)
        for state, v in plan.initial.items():
            y0[model.state_index(state)] = np.broadcast_to(np.asarray(v, dtype=float), (n,))
        extra_sim = {"y0": y0, "t0": min([0.0] + [t for t, _ in plan.doses]),
                     "schedule": Schedule([Dose(t, st, a, "dose") for (t, st), a in sorted(plan.doses.items())])}
    params = model.parameters(**truth)
    obs_names = [o.name for o in model.observables_spec]
    observable = observable or obs_names[0]
    unit = dv_unit or next(o.unit for o in model.observables_spec if o.name == observable)
    days = np.asarray(sample_days, dtype=float)
    sol = simulate(model, params, saveat=SaveAt(days), solver=resolve_solver("auto"),
                   controller=StepController(rtol=1e-8, atol=1e-10), **extra_sim)
    f = sol.observables()[observable]
    if error == "log":
        y = f * np.exp(rng.normal(0.0, sigma, f.shape))
    elif error == "proportional":
        y = f * (1.0 + rng.normal(0.0, sigma, f.shape))
    else:
        y = f + rng.normal(0.0, sigma, f.shape)
    keep = rng.random(f.shape) >= missing
    for i in range(n):
        if keep[i].sum() < 3:
            keep[i, rng.choice(days.size, 3, replace=False)] = True
    rows = []
    cov = {k: np.asarray(v) for k, v in (covariates or {}).items()}
    for i in range(n):
        extra = {k: float(v[i]) for k, v in cov.items()}
        if amounts is not None:
            rows.append({"ID": i + 1, "TIME": 0.0, "DV": ".", "AMT": float(amounts[i]), "EVID": 1, "MDV": 1, "CMT": ".",
                         "CENS": 0, "LLOQ": ".", **extra})
        for j in np.flatnonzero(keep[i]):
            blq = lloq is not None and y[i, j] < lloq
            rows.append({"ID": i + 1, "TIME": days[j], "DV": lloq if blq else y[i, j], "AMT": ".", "EVID": 0, "MDV": 0,
                         "CMT": ".", "CENS": int(blq), "LLOQ": lloq if lloq is not None else ".", **extra})
    frame = pd.DataFrame(rows)
    return read_nonmem(frame, dv_unit=unit, time_unit="day", source=f"simulated {model.name} (seed {seed})"), truth


def timecourse_to_nonmem(timecourse: pd.DataFrame, *, observable: str = "transgene_copies_per_ug",
                         unit: str = "copies/ug gDNA", days: Sequence[float] = ELIANA_DAYS,
                         dose_cells: Sequence[float] | None = None, lloq: float | None = None,
                         covariates: Mapping[str, Sequence[float]] | None = None, treatments: pd.DataFrame | None = None,
                         lymphodepletion=None) -> NonmemDataset:
    """A simulated course's tidy timecourse (``patient_id``, ``day``, observables) as a NONMEM
    dataset: one observation per patient at each of ``days`` that was saved (model values, no
    measurement noise), a dose row at day 0 per patient when ``dose_cells`` is given (``CMT``
    empty: the model's default dose input, the CAR-T infusion in cells), BLQ rows below ``lloq``.
    ``treatments`` (a policy's ``treatments()``: patient_id, day, drug, mg) become dose rows into
    ``toci_central`` / ``dex_central`` (mg) and ``lymphodepletion`` (a
    :class:`~cartwin.model.dosing.Lymphodepletion`) rows ``fludarabine`` / ``cyclophosphamide`` in
    mg/m2, so a fit of the composite model simulates the course that was given (:mod:`cartwin.fit.dosing`;
    ``amt_unit={"car_t": "cells", "fludarabine": "mg/m2", "cyclophosphamide": "mg/m2", "toci_central": "mg",
    "dex_central": "mg"}``)."""
    if observable not in timecourse.columns:
        raise ValidationError("observable", "a column of the timecourse", observable)
    rows = []
    ids = list(dict.fromkeys(timecourse["patient_id"]))
    for i, pid in enumerate(ids):
        extra = {k: float(np.asarray(v)[i]) for k, v in (covariates or {}).items()}
        d = timecourse[timecourse["patient_id"] == pid]
        dose = {"DV": ".", "EVID": 1, "MDV": 1, "CENS": 0, "LLOQ": ".", **extra}
        start = len(rows)
        if lymphodepletion is not None:
            for day in lymphodepletion.days:
                for cmt, amt in (("fludarabine", lymphodepletion.fludarabine_mg_per_m2),
                                 ("cyclophosphamide", lymphodepletion.cyclophosphamide_mg_per_m2)):
                    if amt > 0:
                        rows.append({"ID": pid, "TIME": float(day), "AMT": float(amt), "CMT": cmt, **dose})
        if dose_cells is not None:
            rows.append({"ID": pid, "TIME": 0.0, "DV": ".", "AMT": float(np.asarray(dose_cells)[i]), "EVID": 1, "MDV": 1,
                         "CMT": ".", "CENS": 0, "LLOQ": ".", **extra})
        if treatments is not None and len(treatments):
            given = treatments[treatments["patient_id"] == i]
            for _, t in given.iterrows():
                cmt = {"tocilizumab": "toci_central", "dexamethasone": "dex_central"}.get(str(t["drug"]))
                if cmt is None:
                    raise ValidationError("treatments.drug", "tocilizumab or dexamethasone", t["drug"])
                rows.append({"ID": pid, "TIME": float(t["day"]), "AMT": float(t["mg"]), "CMT": cmt, **dose})
        for day in days:
            hit = d[np.isclose(d["day"], day)]
            if hit.empty:
                continue
            v = float(hit[observable].iloc[0])
            blq = lloq is not None and v < lloq
            rows.append({"ID": pid, "TIME": float(day), "DV": lloq if blq else v, "AMT": ".", "EVID": 0, "MDV": 0,
                         "CMT": ".", "CENS": int(blq), "LLOQ": lloq if lloq is not None else ".", **extra})
        rows[start:] = sorted(rows[start:], key=lambda r: r["TIME"])  # stable: a dose before a sample at its time
    return read_nonmem(pd.DataFrame(rows), dv_unit=unit, source="simulated course")
