"""Simulate the infused patients of a trial in memory-bounded batches.

For each batch: dynamics (therapy layer) with the management policy at decision points every
6 h through day 28 and daily after, bedside observations on the clinical schedule, grading on
ASTCT and on the trial's own scale, toxicity course, response at the assessment days,
survival, and kinetics. Only one row per patient is kept (plus the timecourses of a small
sample for figures), so memory does not grow with the cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cartwin.clinic.observe import ObservationSchedule, observe
from cartwin.clinic.policy import doses_given, make_policy
from cartwin.clinic.response import assess
from cartwin.clinic.toxicity import haematotoxicity_course, toxicity_course, toxicity_timing
from cartwin.engine.choice import DEFAULT_RTOL
from cartwin.model.dosing import Lymphodepletion
from cartwin.model.presets import get_indication
from cartwin.therapy.course import Covariates, Regimen, simulate_course
from cartwin.trial.outcomes import outcomes


@dataclass(frozen=True)
class CohortSpec:
    """What every infused patient receives and how they are followed."""

    product: str
    indication: str
    dose_cells: float | None = None
    per_kg: bool | None = None
    lymphodepletion: Lymphodepletion | None = None
    policy: str = "astct-consensus"
    follow_up_days: float = 365.0
    assessment_days: tuple[float, ...] = (28.0, 90.0, 180.0, 270.0, 365.0)
    crs_scale: str = "astct"
    batch_size: int = 256
    sample_timecourses: int = 40
    rtol: float = DEFAULT_RTOL
    observation: ObservationSchedule = field(default_factory=ObservationSchedule)


def _decision_days(follow_up: float) -> np.ndarray:
    # Every 6 h while toxicity is likely, daily to day 90, weekly after (tumour extinction checks).
    return np.concatenate([np.arange(-5.0, 28.0, 0.25), np.arange(28.0, min(follow_up, 90.0), 1.0),
                           np.arange(90.0, follow_up + 1e-9, 7.0)])


def grade_observations(obs: pd.DataFrame, scale: str, validated: pd.DataFrame | None = None) -> pd.DataFrame:
    """CRS and ICANS grades of every observation on ``scale``. ``validated``: ``obs`` already
    through :func:`~cartwin.clinic.grading.schema.validate_observations` (a batch grades one
    table on two scales and validates it once)."""
    from cartwin.clinic.grading import grade_frame

    graded = grade_frame(obs, scale=scale) if validated is None else grade_frame(validated, scale=scale, validate=False)
    return pd.DataFrame(
        {
            "patient_id": obs["patient_id"].to_numpy(),
            "time_day": obs["time_day"].to_numpy(),
            "crs_grade": graded["crs_grade"].to_numpy(dtype=float),
            "icans_grade": graded["icans_grade"].to_numpy(dtype=float) if "icans_grade" in graded else np.nan,
        }
    )


def simulate_batch(spec: CohortSpec, patients: pd.DataFrame, overrides: dict[str, np.ndarray], seed: int, solver=None):
    """One batch. ``patients``: patient_id, weight_kg, height_cm, tumour_cells_at_infusion,
    antigen_negative_fraction (and optionally age_years, which the lee-2014 policy needs, dose_cells,
    memory_fraction, and ``stream_id``: the
    patient whose measurement-noise and survival streams a row draws from, default its own id —
    copies of one patient under different parameters share them, :func:`cartwin.trial.runner.run_design`)."""
    ind = get_indication(spec.indication)
    days = spec.follow_up_days
    ids = patients["patient_id"].to_numpy()
    stream_ids = (dict(zip(ids.tolist(), patients["stream_id"].to_numpy(np.int64).tolist(), strict=True))
                  if "stream_id" in patients else None)
    weight = patients["weight_kg"].to_numpy(float)
    policy = make_policy(spec.policy, weight, patients["age_years"].to_numpy(float) if "age_years" in patients else None)
    regimen = Regimen(spec.product, spec.indication, spec.dose_cells, spec.per_kg, spec.lymphodepletion)
    covariates = Covariates(
        weight_kg=weight,
        height_cm=patients["height_cm"].to_numpy(float),
        tumour_baseline_cells=patients["tumour_cells_at_infusion"].to_numpy(float),
        antigen_negative_fraction=patients["antigen_negative_fraction"].to_numpy(float),
    )
    result = simulate_course(
        regimen, covariates, days=days, policy=policy, param_overrides=overrides, solver=solver, seed=seed, rtol=spec.rtol,
        save_days=np.union1d(spec.observation.days(days), [d for d in spec.assessment_days if d <= days]),
        decision_days=_decision_days(days),
        dose_cells=patients["dose_cells"].to_numpy(float) if "dose_cells" in patients else None,
        memory_fraction=patients["memory_fraction"].to_numpy(float) if "memory_fraction" in patients else None,
    )
    tc = result.timecourse()
    tc["patient_id"] = ids[tc["patient_id"].to_numpy()]
    tc = assess(tc, ind.disease_measure)

    treatments = policy.treatments()
    treatments["patient_id"] = ids[treatments["patient_id"].to_numpy(int)] if len(treatments) else treatments["patient_id"]
    obs = observe(tc, seed=seed, treatments=treatments, stream_ids=stream_ids)
    from cartwin.clinic.grading.schema import validate_observations

    eff = outcomes(tc, ind.disease_measure, spec.assessment_days, spec.indication, days, seed, stream_ids)
    # CRS, ICANS and the drugs given for them are attributed to CAR-T until documented
    # progression, when subsequent therapy starts: the trials collect them until progression or
    # new anticancer therapy (e.g. ZUMA-1, Neelapu 2017 NEJM 377:2531, protocol), and what the
    # model does after it (CAR-T cells re-expanding against the regrowing tumour) is a course no
    # patient has, as everyone progressing goes on to other treatment.
    attributed_until = eff.set_index("patient_id")["progression_day"].fillna(np.inf)
    in_window = obs["time_day"].to_numpy(float) <= attributed_until.reindex(obs["patient_id"]).to_numpy(float)
    attributed = obs[in_window]
    if len(treatments):
        treatments = treatments[treatments["day"].to_numpy(float)
                                <= attributed_until.reindex(treatments["patient_id"]).to_numpy(float)]
    valid, _ = validate_observations(attributed, "observations")
    graded = grade_observations(attributed, "astct", valid)
    tox = toxicity_course(graded, "astct").merge(toxicity_timing(graded), on="patient_id")
    if spec.crs_scale != "astct":
        # Lee 2014, Penn and CTCAE v5 grade CRS only: ICANS is reported on ASTCT for every scale.
        own = toxicity_course(grade_observations(attributed, spec.crs_scale, valid), spec.crs_scale)
        tox = tox.merge(own[["patient_id", f"crs_max_grade_{spec.crs_scale}"]], on="patient_id")
        tox[f"icans_max_grade_{spec.crs_scale}"] = tox["icans_max_grade_astct"]
    tox = tox.merge(haematotoxicity_course(obs), on="patient_id", how="left")  # cytopenias d28/d90, ICAHT
    kin = result.summary()
    kin["patient_id"] = ids[kin["patient_id"].to_numpy()]
    kin = kin[["patient_id", "status", "cmax_copies_per_ug", "tmax_day", "auc0_28_day_copies_per_ug",
               "cmax_car_t_per_ul", "tmax_car_t_day", "il6_max_pg_per_ml", "tumor_cells_end",
               "tumor_antigen_neg_cells_end"]]
    drugs = _drug_use(treatments, ids)
    row = (kin.merge(eff, on="patient_id").merge(tox, on="patient_id").merge(drugs, on="patient_id")
           .merge(_labs_at(tc, LAB_DAYS), on="patient_id"))
    row["dose_cells"] = result.dose_cells
    # A patient whose solve failed keeps its status; what it "showed" after the failure (states
    # frozen where the solver stopped) is not a response.
    failed = row["status"].astype(str) != "success"
    if failed.any():
        row.loc[failed, "best_response"] = "NE"
        row.loc[failed, ["response_day", "progression_day", "dor_day"]] = np.nan
        if "mrd_negative" in row:
            row.loc[failed, "mrd_negative"] = False
    sample = tc[tc["patient_id"].isin(ids[: spec.sample_timecourses])]
    return row, sample


#: Days at which the per-patient row keeps laboratory values (the trials report cytopenias at
#: day 28 and 90 and B-cell aplasia at 6 and 12 months).
LAB_DAYS = (7.0, 14.0, 28.0, 90.0, 180.0, 365.0)
_LABS = {"b_cells_per_ul": "b_cells_per_ul", "igg_g_per_l": "igg_g_per_l", "anc_per_ul": "anc_per_ul",
         "platelets_per_nl": "platelets_per_nl", "car_t_per_ul": "car_t_per_ul"}


def _labs_at(tc: pd.DataFrame, days) -> pd.DataFrame:
    """Noise-free laboratory values at ``days`` (NaN past follow-up) and the IgG nadir after day 0."""
    ids = pd.unique(tc["patient_id"])
    out = pd.DataFrame({"patient_id": ids})
    for day in days:
        at = tc[np.isclose(tc["day"].to_numpy(), day)].drop_duplicates("patient_id", keep="last").set_index("patient_id")
        for column, name in _LABS.items():
            out[f"{name}_day{day:g}"] = out["patient_id"].map(at[column]).to_numpy(float) if len(at) else np.nan
    after = tc[tc["day"] > 0]
    out["igg_min_g_per_l"] = out["patient_id"].map(after.groupby("patient_id")["igg_g_per_l"].min()).to_numpy(float)
    out["b_cells_min_per_ul"] = out["patient_id"].map(after.groupby("patient_id")["b_cells_per_ul"].min()).to_numpy(float)
    return out


def _drug_use(treatments: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    out = doses_given(treatments, ids).copy()  # a column selection: set columns on our own copy
    # Corticosteroid doses of either drug (methylprednisolone only for grade-4 ICANS).
    out["steroid_doses"] = out.pop("dexamethasone_doses") + out.pop("methylprednisolone_doses")
    out["tocilizumab"] = out["tocilizumab_doses"] > 0
    out["steroids"] = out["steroid_doses"] > 0
    return out


def empty_rows(scale: str) -> pd.DataFrame:
    """The per-patient columns :func:`simulate_batch` returns, with no rows (the shape of a
    cohort nobody reached, and the template of a patient whose simulation raised)."""
    from cartwin.trial.endpoints import PATIENT_COLUMNS

    names = [c for c in PATIENT_COLUMNS if "<scale>" not in c and c not in ("arm", "infused", "not_infused_reason")]
    names += [f"{t}_max_grade_{s}" for s in dict.fromkeys(("astct", scale)) for t in ("crs", "icans")]
    names += ["status", "response_day", "progression_day", "dor_event", "dose_cells"]
    kinds = {"patient_id": "int64", "best_response": "object", "mrd_negative": "bool", "pfs_event": "bool",
             "os_event": "bool", "dor_event": "bool", "tocilizumab": "bool", "steroids": "bool", "status": "object"}
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "float64")) for c in names})


def _batch_or_split(spec: CohortSpec, patients: pd.DataFrame, overrides: dict[str, np.ndarray], seed: int, solver):
    """:func:`simulate_batch`, or, when it raises a cartwin error, its two halves (down to the
    patient that raises, whose row gets ``status = "error: <message>"`` and no outcomes): one
    patient never stops a trial, and the others' rows are the same (they do not depend on
    batching)."""
    from cartwin.foundation.errors import CartwinError

    try:
        return simulate_batch(spec, patients, overrides, seed, solver)
    except CartwinError as exc:
        if len(patients) == 1:
            row = empty_rows(spec.crs_scale).reindex([0])
            row["patient_id"] = patients["patient_id"].to_numpy()
            row["status"] = f"error: {exc}"
            row["best_response"] = "NE"
            for col in ("mrd_negative", "pfs_event", "os_event", "dor_event", "tocilizumab", "steroids"):
                row[col] = False
            return row, pd.DataFrame()
        half = len(patients) // 2
        parts = [(patients.iloc[:half], slice(0, half)), (patients.iloc[half:], slice(half, None))]
        out = [_batch_or_split(spec, p.reset_index(drop=True), {k: np.asarray(v)[sl] for k, v in overrides.items()}, seed, solver)
               for p, sl in parts]
        return (pd.concat([o[0] for o in out], ignore_index=True),
                pd.concat([o[1] for o in out if len(o[1])], ignore_index=True) if any(len(o[1]) for o in out) else pd.DataFrame())


def simulate_cohort(spec: CohortSpec, patients: pd.DataFrame, overrides: dict[str, np.ndarray], seed: int,
                    solver=None, progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All infused patients, in batches of ``spec.batch_size`` (results independent of batching)."""
    rows, samples = [], []
    n = len(patients)
    if n == 0:
        return empty_rows(spec.crs_scale), pd.DataFrame()
    for start in range(0, n, spec.batch_size):
        stop = min(start + spec.batch_size, n)
        batch = patients.iloc[start:stop].reset_index(drop=True)
        sub = {k: np.asarray(v)[start:stop] for k, v in overrides.items()}
        row, sample = _batch_or_split(spec, batch, sub, seed, solver)
        rows.append(row)
        if sum(len(s["patient_id"].unique()) for s in samples) < spec.sample_timecourses:
            samples.append(sample)
        if progress is not None:
            progress(stop - start)
    return pd.concat(rows, ignore_index=True), (pd.concat(samples, ignore_index=True) if samples else pd.DataFrame())
