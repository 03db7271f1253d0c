"""Grading scales for CAR-T toxicities, one module per scale, each naming its version.

* :mod:`~cartwin.clinic.grading.astct` — ASTCT 2019 CRS and ICANS (Lee 2019)
* :mod:`~cartwin.clinic.grading.lee2014` — Lee 2014 CRS
* :mod:`~cartwin.clinic.grading.penn` — Penn CRS (Porter 2018)
* :mod:`~cartwin.clinic.grading.ctcae5` — CTCAE v5.0 CRS
* :mod:`~cartwin.clinic.grading.scores` — CAR-HEMATOTOX, EASIX (and m-EASIX, s-EASIX)
* :mod:`~cartwin.clinic.grading.course` — daily grades, course summary, bedside alerts

All take the bedside-observation table of docs/grading.md
(:mod:`~cartwin.clinic.grading.schema`) and work column-wise (no per-row Python loops).
"""

from cartwin.clinic.grading.core import SCALES, Scale, grade_frame, grade_observation
from cartwin.clinic.grading.course import alerts, course_summary, daily_grades
from cartwin.clinic.grading.schema import COLUMNS, read_observations, validate_observations
from cartwin.clinic.grading.scores import car_hematotox, easix

__all__ = [
    "COLUMNS",
    "SCALES",
    "Scale",
    "alerts",
    "car_hematotox",
    "course_summary",
    "daily_grades",
    "easix",
    "grade_frame",
    "grade_observation",
    "read_observations",
    "validate_observations",
]
