"""Lee 2014 CRS grading (version: Lee 2014, the 'NCI consensus' / revised CRS grading).

Lee DW, Gardner R, Porter DL, et al. Current concepts in the diagnosis and management of
cytokine release syndrome. Blood 2014;124(2):188-195. doi:10.1182/blood-2014-05-552729
(Table 1; high-dose vasopressors: Table 2). Checked against the reproductions in Porter 2018
J Hematol Oncol Table 1, ASH Blood Advances 'Comparison of criteria ... Penn, Lee, ASTCT' Table 1
and PMC7006459 Table 2 (searched; the Blood PDF itself was not read).

=====  ===========================================================================================
grade  criteria
=====  ===========================================================================================
1      symptoms not life-threatening, symptomatic treatment only (fever, nausea, fatigue, ...)
2      oxygen requirement < 40 % FiO2, or hypotension responsive to fluids or a low dose of one
       vasopressor, or grade 2 organ toxicity
3      oxygen requirement >= 40 % FiO2, or hypotension requiring high-dose or multiple
       vasopressors, or grade 3 organ toxicity or grade 4 transaminitis
4      life-threatening: requirement for ventilator support, or grade 4 organ toxicity
       (excluding transaminitis)
5      death
=====  ===========================================================================================

High dose (Table 2): norepinephrine-equivalent >= 20 µg/min alone, >= 10 µg/min with
vasopressin, >= 20 µg/min in combination (the user converts dopamine/phenylephrine/epinephrine).

Implementation choices: fever is the grade-1 finding (constitutional symptoms are not in the
table) and, unlike ASTCT, fever is not required for grades 2-4; FiO2 is estimated from the device
where ``fio2_pct`` is absent (:data:`~cartwin.clinic.grading.schema.FIO2_ASSUMED_PCT`); without
a dose, one vasopressor is 'low dose' and two, or one plus vasopressin, are 'multiple';
'ventilator support' includes CPAP/BiPAP (*interpretation*). Not graded: organ toxicity (no
column), grade 5. Neurotoxicity is not part of this scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.clinic.grading import schema as s

VERSION = "Lee 2014 (Lee DW et al. Blood 2014;124:188-195)"


_FIO2 = np.arange(21, 101)


def grade_crs(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Lee 2014 CRS grade (0-4) and the deciding rule, one per row of ``obs``."""
    fev = s.fever(obs)
    n = s.pressors(obs)
    vp = s.column(obs, "vasopressin")
    multiple = (n >= 2) | ((n >= 1) & vp)
    hypotension = s.choose(
        [multiple, s.high_dose_pressors(obs), s.hypotension(obs)],
        [3, 3, 2],
        ["hypotension requiring multiple vasopressors",
         "hypotension requiring high-dose vasopressors",
         "hypotension responsive to fluids or one low-dose vasopressor"],
    )
    device = s.o2_device(obs)
    fio2 = s.fio2_pct(obs)
    on_o2 = device != "none"
    grade = np.select([np.isin(device, s.POSITIVE_PRESSURE), on_o2 & (fio2 >= 40.0), on_o2], [4, 3, 2], 0)
    # rule codes carry the FiO2 used (measured or estimated), 21-100 %
    f = np.clip(np.round(fio2), 21, 100).astype(np.int64) - 20
    code = np.select([grade == 4, grade == 3, grade == 2], [1, 1 + f, 81 + f], 0)
    oxygen = (grade, code, ("", "requirement for ventilator support",
                            *(f"oxygen requirement >= 40 % FiO2 (FiO2 {v} %)" for v in _FIO2),
                            *(f"oxygen requirement < 40 % FiO2 (FiO2 {v} %)" for v in _FIO2)))
    fever = s.choose([fev], [1], ["fever (symptomatic treatment only)"])
    return s.most_severe([hypotension, oxygen, fever], "no fever, hypotension or oxygen requirement")
