"""ASTCT consensus grading of CRS and ICANS (version: ASTCT 2019).

Lee DW, Santomasso BD, Locke FL, et al. ASTCT consensus grading for cytokine release syndrome
and neurologic toxicity associated with immune effector cells. Biol Blood Marrow Transplant
2019;25(4):625-638. doi:10.1016/j.bbmt.2018.12.758 (CRS: Table 4 and footnotes; ICANS adults:
Table 6; children < 12 y: Table 7 with the CAPD). Wording checked against the reproductions in
PMC8021214 Table 1, PMC9327779 Table 2 and JITC's CRS table (searched, not the PDF itself).

**CRS** — fever >= 38.0 °C is required, except once tocilizumab, steroids or antipyretics were
given for ongoing CRS; then grading is driven by hypotension and hypoxia alone. Grade = the more
severe of:

=====  ==================================================  ====================================================
grade  hypotension                                         hypoxia
=====  ==================================================  ====================================================
1      none (fever only)                                   none
2      not requiring vasopressors                          low-flow nasal cannula (<= 6 L/min) or blow-by
3      one vasopressor, with or without vasopressin        high-flow nasal cannula (> 6 L/min), face mask,
                                                           non-rebreather or Venturi mask
4      multiple vasopressors (excluding vasopressin)       positive pressure (CPAP, BiPAP, intubation and
                                                           mechanical ventilation)
=====  ==================================================  ====================================================

**ICANS** — grade = the most severe domain: ICE 7-9 → 1, 3-6 → 2, 0-2 → 3 (children < 12 y:
CAPD 1-8 → 1, >= 9 → 3); consciousness awakens spontaneously → 1, to voice → 2, only to tactile
stimulus → 3, unarousable / vigorous stimuli / stupor / coma → 4 (so ICE 0 because unarousable is
4); seizure resolving rapidly or nonconvulsive on EEG resolving with intervention → 3,
prolonged (> 5 min) or repetitive without return to baseline → 4; deep focal motor weakness → 4;
focal/local oedema on neuroimaging → 3, diffuse oedema, decerebrate/decorticate posturing, CN VI
palsy, papilloedema or Cushing's triad → 4. Tremor, myoclonus and intracranial haemorrhage (with
or without associated oedema) are excluded. ICE 10 with no other finding is grade 0.

Implementation choices (documented in docs/grading.md): hypotension is MAP < 65 or SBP < 90 mmHg
unless a ``hypotension`` judgement is given (the paper sets no number; age-specific limits in
children need that column); a nasal cannula above 6 L/min is high flow whatever the device label;
with ``intracranial_hemorrhage`` true, *focal* oedema is attributed to the bleed and not graded,
diffuse oedema still is; children (< 12 y) are graded on CAPD where given, else on ICE; adults on
ICE only. Not representable here: fever 'not attributable to any other cause' (the table is taken
as CRS findings) and grade 5 (death).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import schema as s

VERSION = "ASTCT 2019 (Lee DW et al. Biol Blood Marrow Transplant 2019;25:625-638)"


def hypotension_domain(obs: pd.DataFrame) -> s.Domain:
    n = s.pressors(obs)
    vp = s.column(obs, "vasopressin")
    return s.choose(
        [n >= 2, (n == 1) | vp, s.hypotension(obs)],
        [4, 3, 2],
        [
            "hypotension requiring multiple vasopressors (excluding vasopressin)",
            "hypotension requiring one vasopressor (with or without vasopressin)",
            "hypotension not requiring vasopressors",
        ],
    )


def hypoxia_domain(obs: pd.DataFrame) -> s.Domain:
    device = s.o2_device(obs)
    flow = s.column(obs, "o2_flow_l_per_min")
    with np.errstate(invalid="ignore"):
        cannula_high = (device == "low_flow") & (flow > 6.0)
    return s.choose(
        [np.isin(device, s.POSITIVE_PRESSURE), cannula_high,
         np.isin(device, ("high_flow", "face_mask", "non_rebreather", "venturi")), np.isin(device, ("low_flow", "blow_by"))],
        [4, 3, 3, 2],
        [
            "hypoxia requiring positive pressure (CPAP/BiPAP/mechanical ventilation)",
            "hypoxia requiring high-flow nasal cannula (> 6 L/min)",
            "hypoxia requiring high-flow oxygen, face mask, non-rebreather or Venturi mask",
            "hypoxia requiring low-flow nasal cannula (<= 6 L/min) or blow-by",
        ],
    )


_NOT_REQUIRED = " (fever not required after tocilizumab/steroids/antipyretics)"


def grade_crs(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """ASTCT 2019 CRS grade (0-4) and the rule that decided it, one per row of ``obs``."""
    fev = s.fever(obs)
    tx = s.treated(obs)
    fever_domain = s.choose([fev], [1], ["fever >= 38.0 C without hypotension or hypoxia"])
    grade, code, vocab = s.most_severe_codes([hypotension_domain(obs), hypoxia_domain(obs), fever_domain], "")
    eligible = fev | tx
    none_code = np.select([tx, grade > 0], [1, 2], 3)
    none_vocab = [
        "afebrile after antipyretic/anticytokine therapy, no hypotension or hypoxia",
        "no fever >= 38.0 C (required before antipyretic/anticytokine therapy)",
        "no fever, hypotension or hypoxia",
    ]
    # vocabulary: [domain rules] + [domain rules + suffix] + [no-CRS rules]
    k = len(vocab)
    full = vocab + [v + _NOT_REQUIRED for v in vocab] + none_vocab
    code = np.where(eligible & (grade > 0), code + np.where(~fev & tx, k, 0), 2 * k + none_code - 1)
    grade = np.where(eligible, grade, 0)
    return grade.astype(np.int64), s.texts(code, full)


_ICE_TEXT = tuple(f"ICE score {k} ({'0-2' if k <= 2 else '3-6' if k <= 6 else '7-9'})" for k in range(10))
_CAPD_TEXT = tuple(f"CAPD score {k} ({'>= 9' if k >= 9 else '1-8'})" for k in range(1, 33))


def _encephalopathy_domain(obs: pd.DataFrame) -> s.Domain:
    ice = s.column(obs, "ice_score")
    capd = s.column(obs, "capd_score")
    age = s.column(obs, "age_years")
    with np.errstate(invalid="ignore"):
        child = age < 12.0
    use_capd = child & np.isfinite(capd)
    use_ice = ~use_capd & np.isfinite(ice)
    ice_grade = np.select([ice <= 2, ice <= 6, ice <= 9], [3, 2, 1], 0)
    capd_grade = np.select([capd >= 9, capd >= 1], [3, 1], 0)
    grade = np.where(use_capd, capd_grade, np.where(use_ice, ice_grade, 0))
    ice_i = np.nan_to_num(ice, nan=10).astype(np.int64)
    capd_i = np.nan_to_num(capd, nan=0).astype(np.int64)
    # codes: 1..10 -> ICE 0..9, 11..42 -> CAPD 1..32
    code = np.where(use_capd & (capd_i >= 1), 10 + capd_i, np.where(use_ice & (ice_i <= 9), 1 + ice_i, 0))
    return grade, code, ("", *_ICE_TEXT, *_CAPD_TEXT)


def _consciousness_domain(obs: pd.DataFrame) -> s.Domain:
    c = s.column(obs, "consciousness")
    return s.choose(
        [c == "unarousable", c == "tactile", c == "voice", c == "awakens_spontaneously"],
        [4, 3, 2, 1],
        [
            "depressed consciousness: unarousable or needs vigorous/repetitive tactile stimuli (stupor/coma)",
            "depressed consciousness: awakens only to tactile stimulus",
            "depressed consciousness: awakens only to voice",
            "depressed consciousness: awakens spontaneously",
        ],
    )


def _seizure_domain(obs: pd.DataFrame) -> s.Domain:
    z = s.column(obs, "seizure")
    return s.choose(
        [z == "prolonged", z == "brief"],
        [4, 3],
        ["prolonged (> 5 min) or repetitive seizures without return to baseline",
         "seizure resolving rapidly (or nonconvulsive on EEG resolving with intervention)"],
    )


def _motor_domain(obs: pd.DataFrame) -> s.Domain:
    return s.choose([s.column(obs, "motor_weakness")], [4], ["deep focal motor weakness (hemiparesis/paraparesis)"])


def _icp_domain(obs: pd.DataFrame) -> s.Domain:
    e = s.column(obs, "cerebral_edema")
    bleed = s.column(obs, "intracranial_hemorrhage")
    return s.choose(
        [e == "diffuse", s.column(obs, "raised_icp_signs"), (e == "focal") & ~bleed],
        [4, 4, 3],
        ["diffuse cerebral oedema on neuroimaging",
         "raised ICP signs (posturing, CN VI palsy, papilloedema or Cushing's triad)",
         "focal/local oedema on neuroimaging"],
    )


def grade_icans(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """ASTCT 2019 ICANS grade (0-4) and the deciding domain, one per row of ``obs``."""
    return s.most_severe(
        [_encephalopathy_domain(obs), _consciousness_domain(obs), _seizure_domain(obs), _motor_domain(obs), _icp_domain(obs)],
        "no ICANS finding (ICE 10 / CAPD 0, alert)",
    )
