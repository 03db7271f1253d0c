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

import numpy as np
import pandas as pd

from cartwin.clinic.response import CATEGORIES
from cartwin.foundation.streams import patient_generators

POST_PROGRESSION_MEDIAN_DAYS = {"lbcl": 155.0, "fl": 365.0, "mcl": 200.0, "all": 180.0, "mm": 365.0}
NON_RELAPSE_MORTALITY_1Y = 0.04
RESPONDING = {"CR", "PR", "VGPR"}


def efficacy(timecourse: pd.DataFrame, measure: str, assessment_days) -> pd.DataFrame:
    """Best response, MRD, first response and first progression at the assessment days.

    ``timecourse`` needs ``patient_id``, ``day``, ``response`` (and ``mrd_fraction`` for ALL and
    myeloma). Progression is the first assessment with PD, or, after a CR, the first with the
    disease detectable again above the CR threshold (relapse).
    """
    days = np.asarray(assessment_days, dtype=float)
    tc = timecourse[timecourse["day"].isin(days)]
    order = {c: i for i, c in enumerate(CATEGORIES[measure])}
    rows = []
    for pid, g in tc.groupby("patient_id", sort=True):
        g = g.sort_values("day")
        cats = g["response"].to_numpy()
        day = g["day"].to_numpy()
        ranks = np.array([order[c] for c in cats])
        best = CATEGORIES[measure][int(ranks.min())] if ranks.size else "NE"
        responded = np.flatnonzero(np.isin(cats, list(RESPONDING)))
        first_response = float(day[responded[0]]) if responded.size else np.nan
        progressed = np.flatnonzero(cats == "PD")
        if responded.size:
            after = np.flatnonzero((np.arange(cats.size) > responded[0]) & ~np.isin(cats, list(RESPONDING)))
            candidates = np.concatenate([progressed, after])
        else:
            candidates = progressed
        pd_day = float(day[candidates.min()]) if candidates.size else np.nan
        row = {"patient_id": pid, "best_response": best, "response_day": first_response, "progression_day": pd_day}
        if "mrd_fraction" in g:
            row["mrd_negative"] = bool((g["mrd_fraction"] < 1e-4).any())
        rows.append(row)
    return pd.DataFrame(rows)


def survival(eff: pd.DataFrame, indication: str, follow_up_days: float, seed: int) -> pd.DataFrame:
    """PFS, OS and DOR per patient (days), with event flags, from efficacy and stated hazards."""
    median_pp = POST_PROGRESSION_MEDIAN_DAYS.get(indication, 180.0)
    nrm_rate = -np.log(1.0 - NON_RELAPSE_MORTALITY_1Y) / 365.0
    out = []
    ids = eff["patient_id"].to_numpy(np.int64)
    for row, rng in zip(eff.itertuples(index=False), patient_generators(seed, ids, "survival"), strict=True):
        nrm_day = rng.exponential(1.0 / nrm_rate)
        pp_survival = rng.exponential(median_pp / np.log(2.0))
        progression = row.progression_day if np.isfinite(row.progression_day) else np.inf
        death = min(nrm_day, progression + pp_survival)
        pfs_day = min(progression, death, follow_up_days)
        os_day = min(death, follow_up_days)
        dor = np.nan
        if np.isfinite(row.response_day):
            dor = min(progression, death, follow_up_days) - row.response_day
        out.append(
            {
                "patient_id": row.patient_id,
                "pfs_day": float(pfs_day),
                "pfs_event": bool(min(progression, death) <= follow_up_days),
                "os_day": float(os_day),
                "os_event": bool(death <= follow_up_days),
                "dor_day": float(dor),
                "dor_event": bool(np.isfinite(row.response_day) and min(progression, death) <= follow_up_days),
            }
        )
    return pd.DataFrame(out)
