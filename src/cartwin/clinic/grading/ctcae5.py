"""CTCAE v5.0 'Cytokine release syndrome' (version: NCI CTCAE v5.0, 27 November 2017).

U.S. Department of Health and Human Services, National Cancer Institute. Common Terminology
Criteria for Adverse Events (CTCAE) Version 5.0, published 27 November 2017; term 'Cytokine
release syndrome' (Immune system disorders). Wording checked against reproductions (e.g. Circ Res
2021;128:1780 Table 3 lists it beside Lee/Penn/ASTCT); the NCI spreadsheet itself was not read.

=====  ===========================================================================================
grade  criteria
=====  ===========================================================================================
1      fever, with or without constitutional symptoms
2      hypotension responding to fluids; hypoxia responding to < 40 % O2
3      hypotension managed with one pressor; hypoxia requiring >= 40 % O2
4      life-threatening consequences; urgent intervention indicated
5      death
=====  ===========================================================================================

Implementation choices: grade 4 is taken as two or more pressors (vasopressin counted, unlike
ASTCT) or positive-pressure ventilation (CPAP/BiPAP/mechanical) — *interpretation* of
'life-threatening; urgent intervention'; FiO2 is estimated from the device where ``fio2_pct`` is
absent; fever is not required for grades 2-4. Not graded: grade 5. CTCAE grades neurological
events term by term (encephalopathy, seizure, ...), not as ICANS: no neurotoxicity grade here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import schema as s

VERSION = "CTCAE v5.0 (NCI, 27 Nov 2017)"


def grade_crs(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """CTCAE v5.0 CRS grade (0-4) and the deciding rule, one per row of ``obs``."""
    total = s.pressors(obs) + s.column(obs, "vasopressin").astype(int)
    hypotension = s.choose(
        [total >= 2, total == 1, s.hypotension(obs)],
        [4, 3, 2],
        ["life-threatening hypotension: more than one pressor",
         "hypotension managed with one pressor",
         "hypotension responding to fluids"],
    )
    device = s.o2_device(obs)
    on_o2 = device != "none"
    oxygen = s.choose(
        [np.isin(device, s.POSITIVE_PRESSURE), on_o2 & (s.fio2_pct(obs) >= 40.0), on_o2],
        [4, 3, 2],
        ["life-threatening hypoxia: positive-pressure ventilation",
         "hypoxia requiring >= 40 % O2",
         "hypoxia responding to < 40 % O2"],
    )
    fever = s.choose([s.fever(obs)], [1], ["fever"])
    return s.most_severe([hypotension, oxygen, fever], "no fever, hypotension or hypoxia")
