"""Per-patient outcomes of a simulated trial: response, progression, survival, toxicity course.

Inputs are the tables the lower layers produce (timecourse with response categories; graded
bedside observations). Events that the mechanistic model does not carry are drawn from stated
hazards, one seeded stream per patient:

* death after progression: exponential with the post-progression median survival of the
  indication (LBCL after CAR-T failure ~5.1 months, Spiegel JY et al. Blood 2021;137:1832;
  B-ALL relapse after tisa-cel ~ 6 months, assumption from Schultz LM et al. JCO 2022;40:945;
  myeloma after BCMA CAR-T ~ 12 months, assumption);
* non-relapse mortality: constant hazard giving ~4 % by one year (ZUMA-1 grade 5 AEs 4 %;
  Neelapu 2017), *assumption* for other products.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cartwin.clinic.response import CATEGORIES
from cartwin.foundation.streams import patient_generators

POST_PROGRESSION_MEDIAN_DAYS = {"lbcl": 155.0, "fl": 365.0, "mcl": 200.0, "all": 180.0, "mm": 365.0}
NON_RELAPSE_MORTALITY_1Y = 0.04
RESPONDING = {"CR", "PR", "VGPR"}


def efficacy(timecourse: pd.DataFrame, measure: str, assessment_days, death_day: pd.Series | None = None) -> pd.DataFrame:
    """Best response, MRD, first response and first progression at the assessment days.

    ``timecourse`` needs ``patient_id``, ``day``, ``response`` (and ``mrd_fraction`` for ALL and
    myeloma). Progression is the first assessment with PD, or, after a response, the first
    assessment that is no longer a response (relapse).

    Time is respected (Lugano 2014, Cheson BD et al. J Clin Oncol 2014;32:3059; IMWG 2016,
    Kumar S et al. Lancet Oncol 2016;17:e328: best overall response is the best response
    recorded *before* progression):

    * ``death_day`` (per ``patient_id``; optional): assessments on or after a patient's death are
      not made. A patient who dies before the first assessment is not evaluable (``NE``).
    * assessments after progression do not count toward the best response, the first response
      or MRD negativity: a tumour that shrinks after progressing is not a response.

    So ``response_day < progression_day`` and ``response_day < death_day`` whenever both are set.
    """
    days = np.asarray(assessment_days, dtype=float)
    tc = timecourse[timecourse["day"].isin(days)]
    order = {c: i for i, c in enumerate(CATEGORIES[measure])}
    deaths = {} if death_day is None else {int(k): float(v) for k, v in death_day.items()}
    has_mrd = "mrd_fraction" in tc
    rows = []
    for pid, g in tc.groupby("patient_id", sort=True):
        g = g.sort_values("day")
        day = g["day"].to_numpy(dtype=float)
        alive = day < deaths.get(int(pid), np.inf)
        cats = g["response"].to_numpy()[alive]
        day = day[alive]
        responding = np.isin(cats, list(RESPONDING))
        responded = np.flatnonzero(responding)
        progressed = np.flatnonzero(cats == "PD")
        if responded.size:
            after = np.flatnonzero((np.arange(cats.size) > responded[0]) & ~responding)
            candidates = np.concatenate([progressed, after])
        else:
            candidates = progressed
        stop = int(candidates.min()) + 1 if candidates.size else cats.size  # assessments up to progression
        pd_day = float(day[stop - 1]) if candidates.size else np.nan
        ranks = np.array([order[c] for c in cats[:stop]], dtype=int)
        best = CATEGORIES[measure][int(ranks.min())] if ranks.size else "NE"
        first_response = float(day[responded[0]]) if responded.size and responded[0] < stop else np.nan
        row = {"patient_id": pid, "best_response": best, "response_day": first_response, "progression_day": pd_day}
        if has_mrd:
            row["mrd_negative"] = bool((g["mrd_fraction"].to_numpy()[alive][:stop] < 1e-4).any())
        rows.append(row)
    columns = ["patient_id", "best_response", "response_day", "progression_day"] + (["mrd_negative"] if has_mrd else [])
    return pd.DataFrame(rows, columns=columns)


def death_days(eff: pd.DataFrame, indication: str, seed: int, stream_ids: Mapping[int, int] | None = None) -> pd.Series:
    """Day of death per patient (index ``patient_id``): non-relapse mortality or death after
    progression, whichever comes first, from the patient's own ``survival`` stream.

    It is the same whether ``eff`` was computed with or without :func:`efficacy`'s
    ``death_day``: a patient whose progression the death precedes dies of the non-relapse
    draw in both cases. That is what lets :func:`outcomes` draw it before the assessments.
    ``stream_ids``: patient_id -> stream index (default the id; see :func:`cartwin.clinic.observe.observe`).
    """
    median_pp = POST_PROGRESSION_MEDIAN_DAYS.get(indication, 180.0)
    nrm_rate = -np.log(1.0 - NON_RELAPSE_MORTALITY_1Y) / 365.0
    ids = eff["patient_id"].to_numpy(np.int64)
    progression = np.where(np.isfinite(eff["progression_day"].to_numpy(float)), eff["progression_day"].to_numpy(float), np.inf)
    out = np.empty(ids.size)
    streams = ids if stream_ids is None else np.array([stream_ids.get(int(k), int(k)) for k in ids], dtype=np.int64)
    for i, rng in enumerate(patient_generators(seed, streams, "survival")):
        nrm_day = rng.exponential(1.0 / nrm_rate)
        pp_survival = rng.exponential(median_pp / np.log(2.0))
        out[i] = min(nrm_day, progression[i] + pp_survival)
    return pd.Series(out, index=ids, name="death_day")


def survival(eff: pd.DataFrame, indication: str, follow_up_days: float, seed: int,
             stream_ids: Mapping[int, int] | None = None) -> pd.DataFrame:
    """PFS, OS and DOR per patient (days), with event flags, from efficacy and stated hazards.

    DOR runs from the first response to progression, death or censoring and is never negative
    (responses are assessed before both, see :func:`efficacy`)."""
    death = death_days(eff, indication, seed, stream_ids).to_numpy()
    out = []
    for row, dead in zip(eff.itertuples(index=False), death, strict=True):
        progression = row.progression_day if np.isfinite(row.progression_day) else np.inf
        end = min(progression, dead)
        dor = np.nan
        if np.isfinite(row.response_day):
            dor = max(min(end, follow_up_days) - row.response_day, 0.0)
        out.append(
            {
                "patient_id": row.patient_id,
                "pfs_day": float(min(end, follow_up_days)),
                "pfs_event": bool(end <= follow_up_days),
                "os_day": float(min(dead, follow_up_days)),
                "os_event": bool(dead <= follow_up_days),
                "dor_day": float(dor),
                "dor_event": bool(np.isfinite(row.response_day) and end <= follow_up_days),
            }
        )
    return pd.DataFrame(out, columns=["patient_id", "pfs_day", "pfs_event", "os_day", "os_event", "dor_day", "dor_event"])


def outcomes(timecourse: pd.DataFrame, measure: str, assessment_days, indication: str, follow_up_days: float,
             seed: int, stream_ids: Mapping[int, int] | None = None) -> pd.DataFrame:
    """Efficacy and survival per patient with death and progression respected in time.

    Death is drawn first (it depends on progression only, which death cannot precede when it
    follows progression), then the assessments are read up to death and progression."""
    full = efficacy(timecourse, measure, assessment_days)
    death = death_days(full, indication, seed, stream_ids)
    eff = efficacy(timecourse, measure, assessment_days, death_day=death)
    return eff.merge(survival(eff, indication, follow_up_days, seed, stream_ids), on="patient_id")
