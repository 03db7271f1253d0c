"""Grading scales for CAR-T toxicities, one module per scale, each naming its version.

* :mod:`~cartwin.clinic.grading.astct` — ASTCT 2019 CRS and ICANS (Lee 2019)
* :mod:`~cartwin.clinic.grading.lee2014` — Lee 2014 CRS
* :mod:`~cartwin.clinic.grading.penn` — Penn CRS (Porter 2018)
* :mod:`~cartwin.clinic.grading.ctcae5` — CTCAE v5.0 CRS
* :mod:`~cartwin.clinic.grading.scores` — CAR-HEMATOTOX, EASIX and m-EASIX
* :mod:`~cartwin.clinic.grading.course` — daily grades, course summary, bedside alerts

All graders take the bedside-observation table of docs/grading.md
(:mod:`~cartwin.clinic.grading.schema`) and work column-wise.
"""

from cartwin.clinic.grading.core import SCALES, Scale, grade_frame, grade_observation
from cartwin.clinic.grading.schema import COLUMNS, validate_observations

__all__ = [
    "COLUMNS",
    "SCALES",
    "Scale",
    "grade_frame",
    "grade_observation",
    "validate_observations",
]
