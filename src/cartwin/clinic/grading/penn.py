"""Penn CRS grading scale (version: Penn, as published by Porter 2018).

Porter D, Frey N, Wood PA, Weng Y, Grupp SA. Grading of cytokine release syndrome associated with
the CAR T cell therapy tisagenlecleucel. J Hematol Oncol 2018;11:35. doi:10.1186/s13045-018-0571-y
(Table 1; the scale was first used in Porter DL et al. Sci Transl Med 2015;7:303ra139). Wording
checked against the reproduction in Lee/Porter comparison tables (J Hematol Oncol 2018;11:121
Table 1; ASH 'Comparison of criteria for CRS grades between the Penn, Lee, and ASTCT Scales').

=====  ===========================================================================================
grade  criteria
=====  ===========================================================================================
1      mild reaction treated with supportive care (antipyretics, antiemetics)
2      moderate reaction: grade 2 creatinine or grade 3 LFTs; hospitalisation for CRS symptoms,
       including fevers with associated neutropenia, IV therapies (not fluid resuscitation for
       hypotension)
3      more severe: hospitalisation for organ dysfunction (grade 4 LFTs, grade 3 creatinine);
       hypotension treated with IV fluids (multiple boluses) or low-dose vasopressors;
       coagulopathy requiring FFP/cryoprecipitate/fibrinogen; hypoxia requiring supplemental
       oxygen (nasal cannula, high-flow, CPAP or BiPAP)
4      life-threatening: hypotension requiring high-dose vasopressors; hypoxia requiring
       mechanical ventilation
5      death
=====  ===========================================================================================

Implementation choices: fever is the grade-1 finding; fever with ANC < 500/µL is grade 2
('fevers with associated neutropenia', hospitalised); hypotension not needing vasopressors is
taken as treated with multiple fluid boluses (grade 3); 'high-dose' follows Lee 2014 Table 2
(:func:`~cartwin.clinic.grading.schema.high_dose_pressors`); any oxygen short of mechanical
ventilation is grade 3. Not graded: organ dysfunction, coagulopathy, grade 5. Fever is not
required for grades 2-4. Neurotoxicity is not part of this scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import schema as s

VERSION = "Penn (Porter D et al. J Hematol Oncol 2018;11:35)"


def grade_crs(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Penn CRS grade (0-4) and the deciding rule, one per row of ``obs``."""
    fev = s.fever(obs)
    anc = s.column(obs, "anc_per_ul")
    with np.errstate(invalid="ignore"):
        neutropenic_fever = fev & (anc < 500.0)
    n = s.pressors(obs)
    vp = s.column(obs, "vasopressin")
    hypotension = s.choose(
        [s.high_dose_pressors(obs), (n >= 1) | vp, s.hypotension(obs)],
        [4, 3, 3],
        ["hypotension requiring high-dose vasopressors",
         "hypotension treated with low-dose vasopressors",
         "hypotension treated with IV fluids (multiple boluses)"],
    )
    device = s.o2_device(obs)
    oxygen = s.choose(
        [device == "mechanical_ventilation", device != "none"],
        [4, 3],
        ["hypoxia requiring mechanical ventilation",
         "hypoxia requiring supplemental oxygen (nasal cannula, high-flow, CPAP or BiPAP)"],
    )
    fever = s.choose(
        [neutropenic_fever, fev],
        [2, 1],
        ["fever with neutropenia (ANC < 500/uL) requiring hospitalisation",
         "mild reaction: fever treated with supportive care"],
    )
    return s.most_severe([hypotension, oxygen, fever], "no fever, hypotension or oxygen requirement")
