"""Pre-infusion risk scores from routine laboratory values: CAR-HEMATOTOX and EASIX.

**CAR-HEMATOTOX** (version: Rejeski 2021) — Rejeski K, Perez A, Sesques P, et al.
CAR-HEMATOTOX: a model for CAR T-cell-related hematologic toxicity in relapsed/refractory large
B-cell lymphoma. Blood 2021;138(24):2499-2513. doi:10.1182/blood.2020010543. Taken before
lymphodepletion (day -5); five markers, platelets and ferritin weighted; 0-1 = low risk,
>= 2 = high risk (verified: european-mcl.net score page and the Blood abstract/tables).

=====================  =========  ==================  ==========
marker                 0 points   1 point             2 points
=====================  =========  ==================  ==========
ANC                    >= 1200/µL < 1200/µL           --
haemoglobin            >= 9.0 g/dL < 9.0 g/dL         --
platelets              >= 175 G/L 75 to < 175 G/L     < 75 G/L
CRP                    < 3.0 mg/dL >= 3.0 mg/dL       --
ferritin               < 650 ng/mL 650 to 2000 ng/mL  > 2000 ng/mL
=====================  =========  ==================  ==========

The numeric cut-offs are those of Rejeski 2021 (Figure 2 / Table 1) as widely reproduced; the
stored pages searched confirmed the markers, the weighting and the >= 2 threshold but did not
show the cut-off table itself — **cut-offs not verified verbatim** (see docs/grading.md).

**EASIX** (version: Luft 2017) — Endothelial Activation and Stress Index = LDH [U/L] ×
creatinine [mg/dL] / platelets [10^9/L] (Luft T, Benner A, Jodele S, et al. EASIX in patients
with acute graft-versus-host disease. Lancet Haematol 2017;4:e414-e423; reported as log2).
For CAR-T: before lymphodepletion, EASIX > 4.67 (derived in ZUMA-1) marked a 4.3-fold higher
odds of grade >= 3 CRS and/or ICANS in the validation cohort (Korell F et al. Front Immunol
2022;13:877477, verified from the abstract). **m-EASIX** replaces creatinine by CRP [mg/dL]
and **s-EASIX** drops creatinine (Pennisi M et al. Blood Adv 2021;5:3397-3406, formulas verified
from the abstract; its cut-offs were not found, so none is applied).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import schema as s

HEMATOTOX_VERSION = "CAR-HEMATOTOX (Rejeski K et al. Blood 2021;138:2499-2513)"
EASIX_VERSION = "EASIX (Luft T et al. Lancet Haematol 2017;4:e414); CAR-T cut-off Korell F et al. Front Immunol 2022"
#: EASIX before lymphodepletion above which severe CRS/ICANS was more likely (Korell 2022).
EASIX_PRE_LD_CUTOFF = 4.67
HEMATOTOX_HIGH_RISK_FROM = 2


def car_hematotox(obs: pd.DataFrame) -> pd.DataFrame:
    """CAR-HEMATOTOX points per marker, total ``score`` (0-7) and ``risk`` ('low'/'high').

    ``obs``: rows of the observation table (use the pre-lymphodepletion row, day -5). A missing
    marker gives NaN score and risk 'unknown'. CRP is read in mg/L (table convention) and
    compared with 3.0 mg/dL = 30 mg/L.

    >>> import pandas as pd
    >>> row = pd.DataFrame({"anc_per_ul": [1000], "hemoglobin_g_per_dl": [10.0], "platelets_per_nl": [60],
    ...                     "crp_mg_per_l": [10.0], "ferritin_ng_per_ml": [800]})
    >>> hx = car_hematotox(row).iloc[0]
    >>> int(hx["score"]), hx["risk"]
    (4, 'high')
    """
    anc = s.column(obs, "anc_per_ul")
    hb = s.column(obs, "hemoglobin_g_per_dl")
    plt = s.column(obs, "platelets_per_nl")
    crp_mg_dl = s.column(obs, "crp_mg_per_l") / 10.0
    fer = s.column(obs, "ferritin_ng_per_ml")

    def points(values, conditions, pts):
        return np.where(np.isfinite(values), np.select(conditions, pts, 0), np.nan)

    out = pd.DataFrame(
        {
            "anc_points": points(anc, [anc < 1200.0], [1]),
            "hemoglobin_points": points(hb, [hb < 9.0], [1]),
            "platelet_points": points(plt, [plt < 75.0, plt < 175.0], [2, 1]),
            "crp_points": points(crp_mg_dl, [crp_mg_dl >= 3.0], [1]),
            "ferritin_points": points(fer, [fer > 2000.0, fer >= 650.0], [2, 1]),
        }
    )
    score = out.sum(axis=1, skipna=False).to_numpy()
    out["score"] = score
    out["risk"] = np.where(np.isnan(score), "unknown", np.where(score >= HEMATOTOX_HIGH_RISK_FROM, "high", "low"))
    if "patient_id" in obs.columns:
        out.insert(0, "patient_id", obs["patient_id"].to_numpy())
    return out


def easix(obs: pd.DataFrame) -> pd.DataFrame:
    """EASIX, log2 EASIX, m-EASIX and s-EASIX per row, and whether EASIX > 4.67.

    ``easix`` = LDH [U/L] × creatinine [mg/dL] / platelets [10^9/L]; ``m_easix`` uses CRP
    [mg/dL] in place of creatinine; ``s_easix`` = LDH / platelets. NaN where an input is
    missing or platelets are 0.

    >>> import pandas as pd
    >>> float(easix(pd.DataFrame({"ldh_u_per_l": [300.0], "creatinine_mg_per_dl": [1.0], "platelets_per_nl": [100.0]}))["easix"].iloc[0])
    3.0
    """
    ldh = s.column(obs, "ldh_u_per_l")
    cr = s.column(obs, "creatinine_mg_per_dl")
    plt = s.column(obs, "platelets_per_nl")
    crp_mg_dl = s.column(obs, "crp_mg_per_l") / 10.0
    plt = np.where(plt > 0, plt, np.nan)
    value = ldh * cr / plt
    out = pd.DataFrame(
        {
            "easix": value,
            "log2_easix": np.log2(np.where(value > 0, value, np.nan)),
            "m_easix": ldh * crp_mg_dl / plt,
            "s_easix": ldh / plt,
        }
    )
    out["easix_above_pre_ld_cutoff"] = np.where(np.isfinite(value), value > EASIX_PRE_LD_CUTOFF, False)
    if "patient_id" in obs.columns:
        out.insert(0, "patient_id", obs["patient_id"].to_numpy())
    return out
