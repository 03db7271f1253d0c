"""Disease measures and response criteria: ALL (marrow blasts, MRD), Lugano (SPD), IMWG (M-protein).

The model tracks tumour *cells*; the clinic reports each disease in its own measure:

* **B-ALL** — marrow blasts % = T / (T + normal marrow cells) and MRD as the same fraction.
  Response (NCCN / ELIANA, Maude 2018 NEJM 378:439): complete remission if blasts < 5 %;
  MRD-negative if below 1e-4 (flow cytometry sensitivity).
* **Lymphoma** — one-lesion-equivalent sum of product of diameters (SPD): the tumour volume
  V = T / 1e9 cells/mL (Kimmel 2021) as a sphere, SPD = d², d = (6V/pi)^(1/3) cm. Lugano 2014
  (Cheson 2014 J Clin Oncol 32:3059): PR >= 50 % SPD decrease from baseline, PD >= 50 %
  increase from nadir; complete (metabolic) response when the tumour falls below the PET
  detection limit, taken as 1e8 cells (~0.1 mL; *assumption*).
* **Myeloma** — serum M-protein. IMWG (Kumar 2016 Lancet Oncol 17:e328): CR if M-protein is
  below immunofixation sensitivity (taken as 0.02 g/dL, *assumption*), VGPR >= 90 % reduction,
  PR >= 50 %, PD >= 25 % increase from nadir with an absolute rise >= 0.5 g/dL.

* **Solid tumours** — RECIST 1.1 (Eisenhauer EA et al. Eur J Cancer 2009;45:228) on the sum of
  longest diameters of a one-lesion equivalent, SLD = d (cm): CR when no measurable disease
  (tumour below 1e8 cells, *assumption*), PR >= 30 % decrease from baseline, PD >= 20 % increase
  from nadir and >= 0.5 cm absolute.

Anything else is stable disease (SD). Response categories are ordered best → worst.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.foundation.errors import ValidationError
from cartwin.foundation.units import TUMOUR_CELLS_PER_ML

#: Normal nucleated marrow cells such that the default B-ALL burden (2e11 blasts) gives ELIANA's
#: median 74 % marrow blasts (Maude 2018). Assumption: scale only, the ratio is what is reported.
NORMAL_MARROW_CELLS = 7.0e10
MRD_NEGATIVE_BELOW = 1e-4
ALL_CR_BLASTS_PCT = 5.0
PET_DETECTION_LIMIT_CELLS = 1e8
IFE_DETECTION_G_PER_DL = 0.02

CATEGORIES = {
    "marrow_blasts_pct": ("CR", "NR", "PD"),
    "spd_cm2": ("CR", "PR", "SD", "PD"),
    "m_protein_g_per_dl": ("CR", "VGPR", "PR", "SD", "PD"),
    "sld_cm": ("CR", "PR", "SD", "PD"),
}


def disease_measures(timecourse: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Add the disease's own burden columns to a timecourse (returns a new frame)."""
    out = timecourse.copy()
    tumour = out["tumor_cells"].to_numpy()
    if measure == "marrow_blasts_pct":
        frac = tumour / (tumour + NORMAL_MARROW_CELLS)
        out["marrow_blasts_pct"] = 100.0 * frac
        out["mrd_fraction"] = frac
    elif measure == "spd_cm2":
        volume_ml = tumour / TUMOUR_CELLS_PER_ML
        out["spd_cm2"] = (6.0 * volume_ml / np.pi) ** (2.0 / 3.0)
    elif measure == "m_protein_g_per_dl":
        frac = tumour / (tumour + NORMAL_MARROW_CELLS)
        out["mrd_fraction"] = frac
    elif measure == "sld_cm":
        out["sld_cm"] = (6.0 * tumour / TUMOUR_CELLS_PER_ML / np.pi) ** (1.0 / 3.0)
    else:
        raise ValidationError("disease_measure", "one of " + ", ".join(CATEGORIES), measure)
    return out


def classify(timecourse: pd.DataFrame, measure: str) -> pd.Series:
    """Response category at every row (needs ``patient_id``, ``day`` and the measure column)."""
    tc = timecourse.sort_values(["patient_id", "day"])
    g = tc.groupby("patient_id", sort=False)
    if measure == "marrow_blasts_pct":
        blasts = tc["marrow_blasts_pct"]
        baseline = g["marrow_blasts_pct"].transform("first")
        cat = np.where(blasts < ALL_CR_BLASTS_PCT, "CR", np.where(blasts > np.maximum(baseline, ALL_CR_BLASTS_PCT) * 1.25, "PD", "NR"))
    elif measure == "spd_cm2":
        spd = tc["spd_cm2"]
        baseline = g["spd_cm2"].transform("first")
        nadir = g["spd_cm2"].cummin()
        cat = np.select(
            [tc["tumor_cells"] <= PET_DETECTION_LIMIT_CELLS, spd >= 1.5 * nadir, spd <= 0.5 * baseline],
            ["CR", "PD", "PR"],
            "SD",
        )
    elif measure == "sld_cm":
        sld = tc["sld_cm"]
        baseline = g["sld_cm"].transform("first")
        nadir = g["sld_cm"].cummin()
        cat = np.select(
            [tc["tumor_cells"] <= PET_DETECTION_LIMIT_CELLS, (sld >= 1.2 * nadir) & (sld - nadir >= 0.5), sld <= 0.7 * baseline],
            ["CR", "PD", "PR"],
            "SD",
        )
    elif measure == "m_protein_g_per_dl":
        m = tc["m_protein_g_per_dl"]
        baseline = g["m_protein_g_per_dl"].transform("first")
        nadir = g["m_protein_g_per_dl"].cummin()
        cat = np.select(
            [m < IFE_DETECTION_G_PER_DL, (m >= 1.25 * nadir) & (m - nadir >= 0.5), m <= 0.1 * baseline, m <= 0.5 * baseline],
            ["CR", "PD", "VGPR", "PR"],
            "SD",
        )
    else:
        raise ValidationError("disease_measure", "one of " + ", ".join(CATEGORIES), measure)
    return pd.Series(cat, index=tc.index).reindex(timecourse.index)


def assess(timecourse: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The timecourse with its disease measure columns and a ``response`` column."""
    out = disease_measures(timecourse, measure)
    out["response"] = classify(out, measure)
    return out


def best_response(timecourse: pd.DataFrame, measure: str, by_day: float | None = None) -> pd.DataFrame:
    """Best overall response per patient (optionally up to ``by_day``), with MRD where defined."""
    tc = timecourse if by_day is None else timecourse[timecourse["day"] <= by_day]
    tc = tc[tc["day"] > 0]
    order = {c: i for i, c in enumerate(CATEGORIES[measure])}
    cats = classify(tc, measure)
    ranked = cats.map(order)
    rows = []
    for pid, idx in tc.groupby("patient_id").groups.items():
        best = int(ranked.loc[idx].min())
        row = {"patient_id": pid, "best_response": CATEGORIES[measure][best]}
        if "mrd_fraction" in tc:
            row["mrd_negative"] = bool(tc.loc[idx, "mrd_fraction"].min() < MRD_NEGATIVE_BELOW)
        rows.append(row)
    return pd.DataFrame(rows)
