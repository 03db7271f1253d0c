"""Randomised comparative trials: arms, intention to treat, EFS/PFS/OS, hazard ratios.

``run_comparative(protocol, n, seed)`` enrols ``n`` patients from the protocol's population,
randomises them at enrolment (:func:`cartwin.trial.arms.randomise`), and follows each arm from
randomisation:

* the **CAR-T arm** goes through the vein-to-vein journey (dropouts, waiting, bridging) and the
  mechanistic model exactly as :func:`cartwin.trial.runner.run_trial` does (same helpers, same
  per-patient streams), with the calibrated factors of the product and indication; its times are
  shifted from infusion to randomisation (intention to treat);
* a **standard-of-care arm** draws from its regimen model (:mod:`cartwin.trial.standard_of_care`);
  with ``crossover = true`` a patient who progresses receives the CAR-T arm's product: the
  survival after crossover is that of a CAR-T-arm patient drawn at random from this trial's own
  simulated CAR-T arm (from randomisation, journey included) — *assumption*: a crossover patient
  fares as a randomised CAR-T patient does, although he is one line of therapy later;
* a **parametric arm** has exponential event times (design calculations, known-answer tests).

Endpoints (``comparative_endpoints``), all from randomisation, after the data cut (uniform
accrual over ``randomisation.accrual_days``; cut = accrual + follow-up): EFS with the trial's own
definition (progression, death, new therapy — a failed salvage, a CAR-T patient never infused —
and, with ``efs_no_response_by_day``, no CR/PR by that day: ZUMA-7, Locke FL et al. N Engl J Med
2022;386:640, design), PFS and OS per arm (Kaplan-Meier medians and 12/24-month landmarks,
lifelines); the Cox hazard ratio of each arm against the control arm with its 95 % CI (stratified
by the randomisation strata when there are any, as the trials analysed) and the log-rank p; ORR
and CR per arm (ITT); toxicity per arm (:func:`arm_toxicity`: CRS/ICANS and the model's
cytopenias in the CAR-T arm, each regimen's grade >= 3 adverse events in a standard-of-care
arm); median follow-up (reverse Kaplan-Meier); the crossover share; with crossover, the
crossover-adjusted OS HR (RPSFT, :mod:`cartwin.trial.crossover`) beside the ITT one. Survival after progression is one model for both arms (:mod:`cartwin.trial.post_progression`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartwin.engine.choice import DEFAULT_RTOL
from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.errors import ValidationError
from cartwin.foundation.streams import patient_generators
from cartwin.trial.arms import Arm, entry_days, randomise, strata
from cartwin.trial.endpoints import COMPLETE, DAYS_PER_MONTH, RESPONDERS, clopper_pearson
from cartwin.trial.protocol import Protocol, load_protocol

KINDS = ("efs", "pfs", "os")
LANDMARK_MONTHS = (12, 24)
#: The CAR-T arm's haematotoxicity columns (:func:`cartwin.clinic.toxicity.haematotoxicity_course`):
#: CTCAE grade >= 3 at any observed count from infusion on — the incidence an adverse-event table
#: reports, the same event as the standard-of-care arms' ``neutropenia_grade3plus`` /
#: ``thrombocytopenia_grade3plus`` and so the same name — and on days 28 / 90 after infusion and
#: EHA/EBMT ICAHT grade >= 3 (point prevalences and a graded syndrome: names of their own).
CAR_T_HAEMATOTOXICITY = ("neutropenia_grade3plus", "thrombocytopenia_grade3plus", "neutropenia_grade3plus_d28",
                         "neutropenia_grade3plus_d90", "thrombocytopenia_grade3plus_d28", "thrombocytopenia_grade3plus_d90",
                         "icaht_early_grade3plus", "icaht_late_grade3plus")


@dataclass
class ComparativeResult:
    """One randomised trial: a row per randomised patient (times from randomisation), the
    endpoints, and the CAR-T arm's kept timecourses."""

    protocol: Protocol
    patients: pd.DataFrame
    endpoints: dict[str, Any]
    seed: int
    engine: str
    timecourses: pd.DataFrame | None = None
    rtol: float = DEFAULT_RTOL

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """``patients.parquet``, ``endpoints.json`` and ``report.html`` in ``out_dir``."""
        from cartwin.trial.comparative_report import write_comparative_report
        from cartwin.trial.runner import write_trial_outputs

        return write_trial_outputs(
            out_dir, self.protocol, self.patients, self.seed, self.engine, self.rtol,
            {"prediction_note": PREDICTION_NOTE, **self.endpoints},
            lambda out: write_comparative_report(self.patients, self.endpoints, self.protocol, out),
            provenance_extra={"design": "randomised"})


PREDICTION_NOTE = ("simulated prediction: the CAR-T arm runs the mechanistic model with its product's parameters, the comparator "
                   "arm its own regimen model; no result of this trial was used in any fit or setting")


def control_arm(arms: tuple[Arm, ...]) -> Arm:
    """The arm every other is compared with: the standard-of-care arm, else the last arm."""
    soc = [a for a in arms if a.kind == "standard-of-care"]
    return soc[0] if soc else arms[-1]


# ---- simulation -------------------------------------------------------------------------
@dataclass(frozen=True)
class JourneyScenario:
    """A change to the CAR-T arm's vein-to-vein journey, for the HR's sensitivity to logistics.

    ``extra_delay_days``: days added to the wait between the product's arrival at the site and
    lymphodepletion (the journey's ``infusion_scheduling`` step: median, low and high shifted),
    so every patient waits that much longer and bridges that much longer; the journey's own
    dropout hazards and tumour growth while waiting act on the longer wait.
    ``manufacturing_lines``: parallel manufacturing lines (suites x lines per suite) that the
    arm's patients share, arriving at their randomisation days (SimPy FIFO queue,
    :mod:`cartwin.journey.process`); None: unlimited (no queueing, the default journey)."""

    extra_delay_days: float = 0.0
    manufacturing_lines: int | None = None

    def __post_init__(self) -> None:
        check("extra_delay_days", self.extra_delay_days, Interval(0.0, 365.0))
        if self.manufacturing_lines is not None:
            check("manufacturing_lines", self.manufacturing_lines, Interval(1, 10_000, integer=True))

    def apply(self, config):
        """The journey config with the delay added."""
        from cartwin.journey import Duration

        if not self.extra_delay_days:
            return config
        d, x = config.infusion_scheduling, float(self.extra_delay_days)
        return config.replace(infusion_scheduling=Duration(d.median_day + x, d.low_day + x, d.high_day + x))


def journeys_with_capacity(config, patient_ids: np.ndarray, entry_days: np.ndarray, lines: int, seed: int) -> pd.DataFrame:
    """Journeys of patients who enrol on ``entry_days`` and share ``lines`` manufacturing lines
    (other resources unlimited); each patient's draws are his own (``journey`` stream), so only the
    queue differs from :func:`cartwin.journey.simulate_journeys`. Day columns are made relative to
    enrolment, as the trial layer reads them."""
    import simpy

    from cartwin.journey.process import Resources, start_patient
    from cartwin.journey.tables import patients_table

    env = simpy.Environment()
    big = 10**6
    resources = Resources(env, {"apheresis": big, "manufacturing": int(lines), "qc": big, "beds": big})
    order = np.argsort(entry_days, kind="stable")
    records: list[dict] = []

    def arrivals():
        for k in order:
            yield env.timeout(max(float(entry_days[k]) - env.now, 0.0))
            records.append(start_patient(env, int(patient_ids[k]), config, int(seed), resources))

    env.process(arrivals())
    env.run()
    table = patients_table(records, config, seed=int(seed))
    table["dropout_day"] = table["dropout_day"] - table["enrolled_day"]
    return table


def _car_t_arm(protocol: Protocol, enrolled: pd.DataFrame, seed: int, follow: float, *, solver, batch_size: int, rtol: float,
               calibrated: bool, progress=None, scenario: JourneyScenario | None = None, entry: np.ndarray | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The CAR-T arm's patients, as :func:`cartwin.trial.runner._run` simulates them (same helpers)."""
    from cartwin.journey import simulate_journeys
    from cartwin.trial.cohort import empty_rows, simulate_cohort
    from cartwin.trial.runner import (
        _cohort_spec,
        _cohort_table,
        _journey_config,
        _multipliers,
        _patient_parameters,
        _patients_table,
        _warn_failed,
    )

    ids = enrolled["patient_id"].to_numpy(np.int64)
    config = _journey_config(protocol) if scenario is None else scenario.apply(_journey_config(protocol))
    if scenario is not None and scenario.manufacturing_lines is not None:
        if entry is None:
            raise ValidationError("entry", "the randomisation days of the CAR-T arm's patients (shared manufacturing)", None)
        journey = journeys_with_capacity(config, ids, np.asarray(entry, float), scenario.manufacturing_lines, seed)
    else:
        # A journey depends only on the patient id and seed (no shared capacity), so the arm's
        # patients get the journeys they would have had in a single-arm trial of this protocol.
        journey = simulate_journeys(config, int(ids.max()) + 1, seed) if ids.size else None
    journey = journey.set_index("patient_id").loc[ids].reset_index()
    journey = journey.drop(columns=[c for c in ("product",) if c in journey])
    enrolled = enrolled.reset_index(drop=True)
    infused = journey["infused"].to_numpy(bool)
    in_vivo = _patient_parameters(protocol, enrolled, journey, dict(_multipliers(protocol, calibrated, None)), seed)
    cohort = _cohort_table(protocol, enrolled, journey)
    sub = {k: np.asarray(v)[infused] for k, v in in_vivo.items()}
    spec = _cohort_spec(protocol, follow, batch_size, rtol)
    if len(cohort) == 0:
        rows, sample = empty_rows(protocol.reporting.crs_scale), pd.DataFrame()
    else:
        rows, sample = simulate_cohort(spec, cohort, sub, seed, solver=solver, progress=progress)
    patients = _patients_table(protocol, enrolled, journey, rows, follow, seed)
    _warn_failed(patients, protocol.name)
    return patients, sample


def _car_t_progression_day(p: pd.DataFrame, shift: np.ndarray) -> np.ndarray:
    """Day from randomisation from which a CAR-T-arm patient's survival is post-progression
    survival: his progression (infused), or his dropout (never infused, except a death while
    waiting); NaN where there is none."""
    infused = p["infused"].to_numpy(bool)
    prog = p["progression_day"].to_numpy(float) + shift if "progression_day" in p else np.full(len(p), np.nan)
    drop = np.nan_to_num(p["dropout_day"].to_numpy(float), nan=0.0) if "dropout_day" in p else np.zeros(len(p))
    reason = p["not_infused_reason"].astype(object).fillna("").astype(str).to_numpy()
    return np.where(infused, prog, np.where(reason == "death", np.nan, drop))


def _car_t_latent(protocol: Protocol, p: pd.DataFrame, follow: float, seed: int, *, post_progression) -> pd.DataFrame:
    """Times from randomisation of the CAR-T arm (ITT), censored at the simulated horizon.

    With the trial's post-progression model ``post_progression`` (a
    :class:`cartwin.trial.post_progression.PostProgression`, :func:`~cartwin.trial.post_progression.trial_model`;
    None: none), a patient who progresses (or drops out other than by death) dies at that day plus a
    draw of the model — the same model as the standard-of-care arm's — instead of with
    :mod:`cartwin.trial.outcomes`' third-line-and-later median; response, progression and deaths
    before progression are the single-arm simulation's."""
    from cartwin.trial.post_progression import death_after

    infused = p["infused"].to_numpy(bool)
    shift = np.where(infused, p["enrolment_to_infusion_day"].to_numpy(float), 0.0)
    shift = np.nan_to_num(shift, nan=0.0)
    out = pd.DataFrame({"patient_id": p["patient_id"].to_numpy(np.int64)})
    for kind in ("pfs", "os"):
        out[f"{kind}_latent_day"] = p[f"{kind}_day"].to_numpy(float) + shift
        out[f"{kind}_latent_event"] = p[f"{kind}_event"].fillna(False).astype(bool).to_numpy()
    model = post_progression
    if model is not None:
        prog = _car_t_progression_day(p, shift)
        death = death_after(model, prog, out["patient_id"].to_numpy(np.int64), seed)
        moved = np.isfinite(prog) & (prog <= follow)
        out.loc[moved, "os_latent_day"] = death[moved]
        out.loc[moved, "os_latent_event"] = True
    resp = p["best_response"].fillna("NE").astype(str).to_numpy()
    response_day = p["response_day"].to_numpy(float) + shift if "response_day" in p else np.full(len(p), np.nan)
    efs, efs_e = out["pfs_latent_day"].to_numpy(float).copy(), out["pfs_latent_event"].to_numpy(bool).copy()
    limit = protocol.randomisation.efs_no_response_by_day
    if limit is not None:
        # No CR/PR by the first assessment on or after the day (from randomisation; the model
        # assesses from infusion, so the day seldom falls on an assessment): an event dated at
        # that assessment if the patient was still event-free then.
        days = np.asarray(protocol.assessment.days, dtype=float)
        at = shift[:, None] + days[None, :]
        first = np.where(at >= limit, at, np.inf).min(axis=1)
        late = infused & np.isfinite(first) & ~(response_day <= first) & (efs > first)
        efs[late], efs_e[late] = first[late], True
    out["efs_latent_day"], out["efs_latent_event"] = efs, efs_e
    for kind in KINDS:  # the same horizon from randomisation as the other arms
        t, e = out[f"{kind}_latent_day"].to_numpy(float), out[f"{kind}_latent_event"].to_numpy(bool)
        out[f"{kind}_latent_day"], out[f"{kind}_latent_event"] = np.minimum(t, follow), e & (t <= follow)
    out["best_response"] = resp
    out["infused"] = infused
    out["not_infused_reason"] = p["not_infused_reason"].astype(object).where(~infused, "").fillna("").to_numpy()
    scale = protocol.reporting.crs_scale
    out["crs_max_grade"] = p[f"crs_max_grade_{scale}"].fillna(0).to_numpy(float)
    out["icans_max_grade"] = p[f"icans_max_grade_{scale}"].fillna(0).to_numpy(float)
    for col in CAR_T_HAEMATOTOXICITY:  # 1/0 among the infused with a count that day; NaN otherwise
        out[col] = p[col].to_numpy(float) if col in p else np.nan
    out["enrolment_to_infusion_day"] = p["enrolment_to_infusion_day"].to_numpy(float)
    return out


def _capped(t: np.ndarray, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=float)
    return np.minimum(t, horizon), t <= horizon


def _soc_latent(arm: Arm, ids: np.ndarray, seed: int, follow: float, car_t: pd.DataFrame | None,
                post_progression=None) -> pd.DataFrame:
    from cartwin.trial.standard_of_care import TOXICITY_EVENTS, simulate_soc

    s = simulate_soc(arm.regimen, ids, seed, follow, post_progression=post_progression)
    os_t = s["os_latent_day"].to_numpy(float).copy()
    trigger = "efs_latent_day" if arm.crossover_at == "efs-event" else "pfs_latent_day"
    when = s[trigger].to_numpy(float)
    prog = when < s["os_latent_day"].to_numpy(float)
    crossover_day = np.full(len(s), np.nan)
    os_capped = np.full(len(s), np.inf)
    if arm.crossover and car_t is not None and len(car_t):
        crossed = prog & (when <= follow)
        pool_t = car_t["os_latent_day"].to_numpy(float)
        pool_e = car_t["os_latent_event"].to_numpy(bool)
        for i, rng in zip(np.flatnonzero(crossed), patient_generators(seed, ids[crossed], "comparator", substream=1), strict=True):
            j = int(rng.integers(len(pool_t)))
            crossover_day[i] = when[i]
            os_t[i] = crossover_day[i] + pool_t[j]
            if not pool_e[j]:
                os_capped[i] = os_t[i]  # alive when the drawn CAR-T patient's record ends
    out = pd.DataFrame({"patient_id": ids})
    for kind in ("efs", "pfs"):
        out[f"{kind}_latent_day"], out[f"{kind}_latent_event"] = _capped(s[f"{kind}_latent_day"], follow)
    os_day, os_event = _capped(os_t, follow)
    out["os_latent_day"], out["os_latent_event"] = os_day, os_event & ~np.isfinite(os_capped)
    out["best_response"] = s["best_response"].to_numpy()
    out["regimen"] = s["regimen"].to_numpy()
    out["consolidated"] = s["consolidated"].to_numpy()
    out["crossover_day"] = crossover_day
    for event in TOXICITY_EVENTS:  # drawn, reported; not linked to the times above
        out[event] = s[event].to_numpy(float)
    return out


def _parametric_latent(arm: Arm, ids: np.ndarray, seed: int, follow: float, indication: str) -> pd.DataFrame:
    from cartwin.trial.outcomes import POST_PROGRESSION_MEDIAN_DAYS

    median = arm.median_months * DAYS_PER_MONTH
    pp = POST_PROGRESSION_MEDIAN_DAYS.get(indication, 180.0)
    ev, death = np.empty(ids.size), np.empty(ids.size)
    for i, rng in enumerate(patient_generators(seed, ids, "comparator", substream=2)):
        ev[i] = rng.exponential(median / math.log(2.0))
        death[i] = ev[i] + rng.exponential(pp / math.log(2.0))
    out = pd.DataFrame({"patient_id": ids})
    for kind in ("efs", "pfs"):
        out[f"{kind}_latent_day"], out[f"{kind}_latent_event"] = _capped(ev, follow)
    out["os_latent_day"], out["os_latent_event"] = _capped(death, follow)
    out["best_response"] = "NE"
    return out


def simulate_arms(protocol: Protocol, enrolled: pd.DataFrame, allocation: np.ndarray, seed: int, follow: float, *,
                  solver="auto", batch_size: int = 256, rtol: float = DEFAULT_RTOL, calibrated: bool = True, progress=None,
                  scenario: JourneyScenario | None = None, entry: np.ndarray | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Latent per-patient times from randomisation of every arm (censored only at ``follow``).

    ``scenario``: a change to the CAR-T arm's journey (:class:`JourneyScenario`); ``entry``: each
    enrolled patient's day of randomisation (needed when the scenario limits manufacturing)."""
    from cartwin.trial.post_progression import trial_model

    post_progression = trial_model(protocol)
    parts, car_t, sample = [], None, None
    order = sorted(protocol.arms, key=lambda a: a.kind != "car-t")  # the CAR-T arm first: crossover draws from it
    for arm in order:
        mask = allocation == arm.name
        ids = enrolled["patient_id"].to_numpy(np.int64)[mask]
        if arm.kind == "car-t":
            if ids.size == 0:
                part = pd.DataFrame({"patient_id": ids})
            else:
                p, sample = _car_t_arm(protocol, enrolled[mask], seed, follow, solver=solver, batch_size=batch_size, rtol=rtol,
                                       calibrated=calibrated, progress=progress, scenario=scenario,
                                       entry=None if entry is None else np.asarray(entry)[mask])
                part = _car_t_latent(protocol, p, follow, seed, post_progression=post_progression)
            car_t = part
        elif arm.kind == "standard-of-care":
            part = _soc_latent(arm, ids, seed, follow, car_t, post_progression)
        else:
            part = _parametric_latent(arm, ids, seed, follow, protocol.trial.indication)
        part.insert(1, "arm", arm.name)
        part.insert(2, "arm_kind", arm.kind)
        parts.append(part)
    latent = pd.concat(parts, ignore_index=True).sort_values("patient_id").reset_index(drop=True)
    for col, fill in (("infused", False), ("crs_max_grade", 0.0), ("icans_max_grade", 0.0), ("crossover_day", np.nan),
                      ("not_infused_reason", ""), ("regimen", ""), ("consolidated", False)):
        if col not in latent:
            latent[col] = fill
        latent[col] = latent[col].where(latent[col].notna(), fill) if col != "crossover_day" else latent[col]
    latent["infused"] = latent["infused"].astype(bool)
    latent["consolidated"] = latent["consolidated"].astype(bool)
    return latent, sample


def apply_data_cut(latent: pd.DataFrame, entry: np.ndarray, cut_day: float, follow: float | None = None) -> pd.DataFrame:
    """Administrative censoring at the data cut: each patient is followed ``cut_day - entry``
    (and at most ``follow``, the simulated horizon: ``censor_day``, each patient's potential
    follow-up, which crossover adjustment re-censors)."""
    out = latent.copy()
    out["entry_day"] = entry
    available = cut_day - np.asarray(entry, dtype=float)
    out["censor_day"] = available if follow is None else np.minimum(available, follow)
    for kind in KINDS:
        t = out[f"{kind}_latent_day"].to_numpy(float)
        e = out[f"{kind}_latent_event"].to_numpy(bool)
        out[f"{kind}_day"] = np.minimum(t, available)
        out[f"{kind}_event"] = e & (t <= available)
    cross = out["crossover_day"].to_numpy(float)
    out["crossover"] = np.isfinite(cross) & (cross <= available)
    return out


# ---- endpoints --------------------------------------------------------------------------
def _km(t, e):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter().fit(np.maximum(t, 0.0), e)


def _km_summary(t: np.ndarray, e: np.ndarray) -> dict[str, Any]:
    from lifelines.utils import median_survival_times

    if t.size == 0:
        return {"median_month": None, "n": 0, "events": 0}
    kmf = _km(t, e)
    med = kmf.median_survival_time_
    ci = median_survival_times(kmf.confidence_interval_)

    def clean(v):
        v = float(v)
        return v / DAYS_PER_MONTH if math.isfinite(v) else None

    out = {"median_month": clean(med), "median_ci_low": clean(ci.iloc[0, 0]), "median_ci_high": clean(ci.iloc[0, 1]),
           "n": int(t.size), "events": int(e.sum())}
    band = kmf.confidence_interval_survival_function_
    for m in LANDMARK_MONTHS:
        day = m * DAYS_PER_MONTH
        if t.max() < day - 1.0:  # 24 months is 730.5 days: a 730-day follow-up reaches it
            out[f"at_{m}m"] = None
            continue
        row = band.loc[band.index <= day].iloc[-1]
        out[f"at_{m}m"] = float(kmf.survival_function_at_times(day).iloc[0])
        out[f"at_{m}m_ci"] = [float(row.iloc[0]), float(row.iloc[1])]
    return out


def hazard_ratio(t: np.ndarray, e: np.ndarray, treated: np.ndarray, stratum: np.ndarray | None = None) -> dict[str, Any]:
    """Cox HR of ``treated`` (1) vs control (0) with its 95 % CI and Wald p (lifelines
    ``CoxPHFitter``; stratified by ``stratum`` when given), and the log-rank p (unstratified)."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    t = np.maximum(np.asarray(t, float), 1e-9)
    e = np.asarray(e, bool)
    x = np.asarray(treated, float)
    out: dict[str, Any] = {"hr": None, "ci_low": None, "ci_high": None, "p_cox": None, "p_logrank": None,
                           "events": int(e.sum()), "n": int(t.size), "stratified": stratum is not None}
    if e.sum() == 0 or x.min() == x.max():
        return out
    lr = logrank_test(t[x == 1], t[x == 0], e[x == 1], e[x == 0])
    out["p_logrank"] = float(lr.p_value)
    df = pd.DataFrame({"t": t, "e": e, "treated": x})
    kwargs = {}
    if stratum is not None and len(set(stratum)) > 1:
        df["stratum"] = np.asarray(stratum, dtype=str)
        kwargs["strata"] = ["stratum"]
    else:
        out["stratified"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cph = CoxPHFitter().fit(df, "t", "e", **kwargs)
        except Exception as exc:  # lifelines' convergence errors (e.g. all events in one arm)
            out["note"] = f"Cox fit failed: {type(exc).__name__}"
            return out
    s = cph.summary.loc["treated"]
    out.update(hr=float(s["exp(coef)"]), ci_low=float(s["exp(coef) lower 95%"]), ci_high=float(s["exp(coef) upper 95%"]),
               p_cox=float(s["p"]))
    return out


def median_follow_up_months(t: np.ndarray, e: np.ndarray) -> float | None:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper M, Smith TL. Control Clin
    Trials 1996;17:343): KM of the censoring times, deaths censored."""
    if len(t) == 0:
        return None
    med = _km(np.asarray(t, float), ~np.asarray(e, bool)).median_survival_time_
    return float(med) / DAYS_PER_MONTH if math.isfinite(med) else None


def _rate(mask: np.ndarray) -> dict[str, Any]:
    n, k = int(mask.size), int(mask.sum())
    lo, hi = clopper_pearson(k, n) if n else (None, None)
    return {"estimate": k / n if n else None, "ci_low": lo, "ci_high": hi, "k": k, "n": n}


def comparative_endpoints(patients: pd.DataFrame, protocol: Protocol) -> dict[str, Any]:
    """Per-arm endpoints and each arm's comparison with the control arm (module docstring)."""
    arms = protocol.arms
    control = control_arm(arms)
    per_arm: dict[str, Any] = {}
    for arm in arms:
        d = patients[patients["arm"] == arm.name]
        resp = d["best_response"].fillna("NE").astype(str).to_numpy()
        entry: dict[str, Any] = {"kind": arm.kind, "label": arm.label, "n": int(len(d)),
                                 "regimen": arm.regimen or None, "crossover_allowed": bool(arm.crossover)}
        for kind in KINDS:
            entry[kind] = _km_summary(d[f"{kind}_day"].to_numpy(float), d[f"{kind}_event"].to_numpy(bool))
        # Death as the first event (non-relapse mortality, a death while waiting for CAR-T): the
        # one toxicity outcome every arm's model carries.
        os_e, pfs_e = d["os_event"].to_numpy(bool), d["pfs_event"].to_numpy(bool)
        entry["death_without_progression"] = _rate(os_e & pfs_e & np.isclose(d["os_day"].to_numpy(float), d["pfs_day"].to_numpy(float)))
        entry["orr"] = _rate(np.isin(resp, list(RESPONDERS)))
        entry["cr_rate"] = _rate(np.isin(resp, list(COMPLETE)))
        if arm.kind == "car-t":
            inf = d["infused"].to_numpy(bool)
            entry["infused"] = _rate(inf)
            for tox in ("crs", "icans"):
                g = d[f"{tox}_max_grade"].to_numpy(float)
                entry[f"{tox}_any_infused"] = _rate(g[inf] >= 1)
                entry[f"{tox}_grade3plus_infused"] = _rate(g[inf] >= 3)
        entry["toxicity"] = arm_toxicity(d, arm.kind)
        if arm.kind == "standard-of-care":
            progressed = d["pfs_event"].to_numpy(bool)
            entry["crossover"] = _rate(d["crossover"].to_numpy(bool))
            entry["crossover_among_progressed"] = _rate(d["crossover"].to_numpy(bool)[progressed])
            if d["consolidated"].any():
                entry["consolidation"] = _rate(d["consolidated"].to_numpy(bool))
        entry["median_follow_up_month"] = median_follow_up_months(d["os_day"].to_numpy(float), d["os_event"].to_numpy(bool))
        per_arm[arm.name] = entry
    comparisons = {}
    stratified = bool(protocol.randomisation.stratify)
    for arm in arms:
        if arm.name == control.name:
            continue
        d = patients[patients["arm"].isin([arm.name, control.name])]
        treated = (d["arm"] == arm.name).to_numpy()
        comparisons[f"{arm.name} vs {control.name}"] = {
            kind: hazard_ratio(d[f"{kind}_day"].to_numpy(float), d[f"{kind}_event"].to_numpy(bool), treated,
                               d["stratum"].to_numpy() if stratified else None)
            for kind in KINDS}
        if control.crossover and arm.kind == "car-t" and "censor_day" in d:
            from cartwin.trial.crossover import rpsft

            cross = np.where(d["crossover"].to_numpy(bool), d["crossover_day"].to_numpy(float), np.nan)
            comparisons[f"{arm.name} vs {control.name}"]["os_rpsft"] = rpsft(
                d["os_day"].to_numpy(float), d["os_event"].to_numpy(bool), treated, cross, d["censor_day"].to_numpy(float))
    return {"design": "randomised", "primary_endpoint": protocol.randomisation.primary_endpoint,
            "control_arm": control.name, "n_randomised": int(len(patients)),
            "median_follow_up_month": median_follow_up_months(patients["os_day"].to_numpy(float), patients["os_event"].to_numpy(bool)),
            "arms": per_arm, "comparisons": comparisons,
            "post_progression": _post_progression_note(protocol),
            "not_implemented": ["standard-of-care adverse events other than the grade >= 3 events of each regimen's source "
                                "(docs/comparative.md)", "standard-of-care treatment-related deaths as deaths in OS (reported only)"]}


def _toxicity_endpoints() -> dict[str, str]:
    from cartwin.trial.endpoints import HAEMATOTOXICITY_ENDPOINTS
    from cartwin.trial.standard_of_care import TOXICITY_EVENTS

    out = {"crs_any_infused": "CRS any grade (reporting scale), among the infused",
           "crs_grade3plus_infused": "CRS grade >= 3 (reporting scale), among the infused",
           "icans_any_infused": "ICANS any grade (ASTCT), among the infused",
           "icans_grade3plus_infused": "ICANS grade >= 3 (ASTCT), among the infused"}
    shared = {k: v + " (CAR-T: any observed count from infusion to the end of follow-up, among the infused; standard of care: "
                  "among the patients whose regimen's source reports it)" for k, v in TOXICITY_EVENTS.items() if k in CAR_T_HAEMATOTOXICITY}
    out.update(shared)
    out.update({k: HAEMATOTOXICITY_ENDPOINTS[k][1] + ", among the infused with a count" for k in CAR_T_HAEMATOTOXICITY
                if k not in shared})
    out.update({k: v + (", share of the arm" if k == "treatment_related_death" else
                        ", among the patients whose regimen's source reports it")
                for k, v in TOXICITY_EVENTS.items() if k not in shared})
    out["death_without_progression"] = "death as the first event (non-relapse mortality; CAR-T arm: also deaths while waiting)"
    return out


def arm_toxicity(d: pd.DataFrame, kind: str) -> dict[str, Any]:
    """One arm's toxicity endpoints: ``events`` maps each endpoint the arm's model carries to its
    rate (Clopper-Pearson CI, ``k``/``n``, ``definition``); ``not_modelled`` lists the others.
    The same name is the same event in every arm (the CAR-T arm's cytopenias are day-28/90
    prevalences, the standard-of-care arm's incidences during treatment: different names)."""
    events: dict[str, Any] = {}
    definitions = _toxicity_endpoints()
    for name, text in definitions.items():
        if name.startswith(("crs_", "icans_")):
            if kind != "car-t":
                continue
            inf = d["infused"].to_numpy(bool)
            g = d[f"{name.split('_')[0]}_max_grade"].to_numpy(float)[inf]
            mask = g >= (3 if "grade3plus" in name else 1)
        elif name == "death_without_progression":
            os_e, pfs_e = d["os_event"].to_numpy(bool), d["pfs_event"].to_numpy(bool)
            mask = os_e & pfs_e & np.isclose(d["os_day"].to_numpy(float), d["pfs_day"].to_numpy(float))
        else:
            if name not in d:
                continue
            v = d[name].to_numpy(float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            mask = v >= 0.5
        events[name] = {**_rate(mask), "definition": text}
    return {"events": events, "not_modelled": [n for n in definitions if n not in events]}


def toxicity_by_arm(arms: dict[str, Any]) -> list[tuple[str, str, dict[str, dict[str, Any] | None]]]:
    """Rows of the "Toxicity by arm" table (report and ``cartwin trial``) from the endpoints'
    ``arms``: ``(endpoint, definition, {arm: its rate, or None where the arm's model lacks the
    event})``, one per endpoint any arm carries, in first-seen order (the same name is the same
    event in every arm)."""
    definitions: dict[str, str] = {}
    for a in arms.values():
        for k, e in a["toxicity"]["events"].items():
            definitions.setdefault(k, e["definition"])
    return [(k, text, {name: a["toxicity"]["events"].get(k) for name, a in arms.items()}) for k, text in definitions.items()]


def _post_progression_note(protocol: Protocol) -> str:
    from cartwin.trial.post_progression import trial_model

    m = trial_model(protocol)
    if m is None:
        return "no post-progression model for the indication: each arm's own"
    return f"{m.key} (both arms; {m.source})"


def forest_by_stratum(patients: pd.DataFrame, protocol: Protocol, kind: str | None = None) -> pd.DataFrame:
    """HR of each arm against the control within each randomisation stratum (unstratified Cox)."""
    kind = kind or protocol.randomisation.primary_endpoint
    control = control_arm(protocol.arms).name
    rows = []
    for arm in protocol.arms:
        if arm.name == control:
            continue
        d = patients[patients["arm"].isin([arm.name, control])]
        for label, g in [("all", d), *d.groupby("stratum")]:
            h = hazard_ratio(g[f"{kind}_day"].to_numpy(float), g[f"{kind}_event"].to_numpy(bool), (g["arm"] == arm.name).to_numpy())
            rows.append({"comparison": f"{arm.name} vs {control}", "stratum": label, "endpoint": kind, **h})
    return pd.DataFrame(rows)


# ---- the trial ------------------------------------------------------------------------
def _checked(protocol, n, seed, follow_up_days) -> tuple[Protocol, int, float]:
    from cartwin.trial.runner import DEFAULT_MAX_FOLLOW_UP_DAYS

    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    if not protocol.is_randomised:
        raise ValidationError("protocol.arms", "[arms.<name>] tables (a randomised protocol); single-arm protocols run with run_trial",
                              protocol.name)
    if any(a.kind == "car-t" for a in protocol.arms) and protocol.is_placeholder:
        protocol.regimen()
    n = protocol.trial.n_enrolled if n is None else n
    check("n", n, Interval(2, 1e7, integer=True))
    check("seed", seed, Interval(0, 2**63 - 1, integer=True))
    follow = min(protocol.trial.follow_up_days, DEFAULT_MAX_FOLLOW_UP_DAYS) if follow_up_days is None else follow_up_days
    check("follow_up_days", follow, Interval(28.0, 3650.0))
    return protocol, int(n), float(follow)


def _parameters_used(protocol: Protocol, calibrated: bool) -> dict[str, Any] | None:
    """The CAR-T arm's parameters, as a single-arm trial of the protocol records them
    (:func:`cartwin.trial.runner.parameters_record`); None without a CAR-T arm."""
    if not any(a.kind == "car-t" for a in protocol.arms):
        return None
    from cartwin.trial.runner import _multipliers, parameters_record

    return parameters_record(protocol, calibrated, None, _multipliers(protocol, calibrated, None))


def run_comparative(protocol: Protocol | str | Path, n: int | None = None, seed: int = 1, *, follow_up_days: float | None = None,
                    solver: Any = "auto", batch_size: int = 256, rtol: float = DEFAULT_RTOL, calibrated: bool = True,
                    progress=None, scenario: JourneyScenario | None = None) -> ComparativeResult:
    """Simulate one randomised trial of ``n`` patients (see module docstring); ``scenario``
    changes the CAR-T arm's journey (:class:`JourneyScenario`, :func:`cartwin.trial.power.hr_sensitivity`)."""
    from cartwin.engine.choice import resolve_solver

    protocol, n, follow = _checked(protocol, n, seed, follow_up_days)
    check("rtol", rtol, Interval(1e-10, 1e-2))
    solver = resolve_solver(solver)
    patients, sample = simulate_trial(protocol, n, seed, follow, solver=solver, batch_size=batch_size, rtol=rtol,
                                      calibrated=calibrated, progress=progress, scenario=scenario)
    endpoints = comparative_endpoints(patients, protocol)
    endpoints["parameters"] = _parameters_used(protocol, calibrated)
    return ComparativeResult(protocol, patients, endpoints, seed, engine=solver.name, timecourses=sample, rtol=float(rtol))


def simulate_trial(protocol: Protocol, n: int, seed: int, follow: float, *, solver, batch_size: int = 256, rtol: float = DEFAULT_RTOL,
                   calibrated: bool = True, progress=None, scenario: JourneyScenario | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The patients table of one randomised trial after the data cut (no endpoints), and the
    CAR-T arm's kept timecourses: :func:`run_comparative` without the analysis."""
    from cartwin.trial.runner import enrol

    enrolled = enrol(protocol, n, seed)
    allocation = randomise(enrolled, protocol.arms, protocol.randomisation, seed)
    # Entry days in patient-id order (latent's rows); ``entry[rank]`` is each enrolled row's.
    ids = enrolled["patient_id"].to_numpy(np.int64)
    entry = entry_days(np.sort(ids), protocol.randomisation.accrual_days, seed)
    latent, sample = simulate_arms(protocol, enrolled, allocation, seed, follow, solver=solver, batch_size=batch_size, rtol=rtol,
                                   calibrated=calibrated, progress=progress, scenario=scenario,
                                   entry=entry[np.argsort(np.argsort(ids))])
    latent["stratum"] = strata(enrolled.set_index("patient_id").loc[latent["patient_id"]].reset_index(),
                               protocol.randomisation.stratify)
    patients = apply_data_cut(latent, entry, protocol.randomisation.accrual_days + follow, follow)
    covariates = [c for c in ("age_years", "ecog", "prior_lines", "ldh_u_per_l", "tumour_baseline_cells") if c in enrolled]
    patients = patients.merge(enrolled[["patient_id", *covariates]], on="patient_id", how="left")
    return patients, sample
