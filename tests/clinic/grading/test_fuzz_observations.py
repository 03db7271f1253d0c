"""Fuzz campaign over observation files (issue 24): 0 tracebacks, 0 rows graded from an
unobserved input without saying so.

Bounded for CI (a few dozen generated files, each a fraction of a second). A longer run:

    CARTWIN_FUZZ_EXAMPLES=5000 PYTHONPATH=src python -m pytest tests/clinic/grading/test_fuzz_observations.py -q

Each generated file mixes good cells, missing-value spellings, bad text, out-of-range numbers,
odd ids, trailing commas, short/long rows, duplicate or misnamed columns and time stamps with and
without offsets. Reading and grading must either succeed or raise a cartwin error naming the
file (never another exception); every graded row whose measured inputs are not all observed must
say so (status other than 'observed', and the missing input named).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cartwin.clinic.grading import SCALES, grade_frame
from cartwin.clinic.grading.course import course_summary, daily_grades
from cartwin.clinic.grading.ctcae_labs import grade_labs
from cartwin.clinic.grading.icaht import icaht
from cartwin.clinic.grading.observed import SCALE_INPUTS
from cartwin.clinic.grading.schema import read_observations
from cartwin.foundation.errors import CartwinError

EXAMPLES = int(os.environ.get("CARTWIN_FUZZ_EXAMPLES", "40"))

MISSING = ["", "NaN", "NA", "null", "-", "n/a", "none"]
# column -> (good values, bad values); missing-value spellings are mixed into every column
COLUMNS = {
    "patient_id": (["1", "007", "7", "1.0", "1e20", "99999999999999999999", "a b", " 3 "], ["", "NA"]),
    "time_day": (["0", "1.5", "-5", "3650", "2", "14.25", "40"], ["3651", "-61", "x", "1e400"]),
    "datetime": (["2025-01-02T06:00", "2025-01-03T18:30", "2025-02-20"], ["2025-01-02T06:00+02:00", "2049-01-01", "1990-01-01T00:00", "2025-13-01", "yesterday"]),
    "infusion_datetime": (["2025-01-01T00:00"], ["2025-01-01T00:00+00:00", "bad"]),
    "temperature_c": (["37.0", "38.0", "37.99", "39.5", "45"], ["hot", "50"]),
    "map_mmhg": (["80", "64", "65"], ["low", "-1"]),
    "sbp_mmhg": (["120", "89", "90"], ["?x"]),
    "hypotension": (["true", "false", "yes"], ["maybe"]),
    "vasopressors": (["0", "1", "2"], ["1.5"]),
    "vasopressin": (["true", "false", "0"], ["sometimes"]),
    "o2_support": (["none", "low_flow", "High flow", "cpap", "face mask"], ["tent"]),
    "o2_flow_l_per_min": (["0", "3", "7"], ["lots"]),
    "ice_score": (["10", "7", "6", "2", "0"], ["11", "7.5"]),
    "capd_score": (["0", "9"], ["40"]),
    "age_years": (["45", "8"], ["-1"]),
    "consciousness": (["alert", "voice", "unarousable", "awakens spontaneously"], ["asleep"]),
    "seizure": (["none", "brief", "prolonged"], ["yes"]),
    "anc_per_ul": (["2500", "500", "499", "100", "0"], ["-3"]),
    "platelets_per_nl": (["150", "25", "24.9"], ["x"]),
    "temp": (["39.0"], []),
    "ward": (["A", "B"], []),
}
MEASURED = ["temperature_c", "map_mmhg", "o2_support", "ice_score", "consciousness", "anc_per_ul"]


@st.composite
def observation_files(draw):
    optional = [c for c in COLUMNS if c not in ("patient_id", "time_day", "datetime")]
    chosen = [c for c in MEASURED if draw(st.integers(0, 9)) > 0]  # usually every measured column
    chosen += draw(st.lists(st.sampled_from(optional), max_size=8, unique=True))
    chosen = list(dict.fromkeys(chosen))
    time = draw(st.sampled_from(["time_day"] * 12 + ["datetime"] * 4 + ["none"]))
    header = ["patient_id"] + ([time] if time != "none" else []) + chosen
    if time == "datetime" and draw(st.booleans()):
        header.append("infusion_datetime")
    header = list(dict.fromkeys(header))
    if chosen and draw(st.integers(0, 29)) == 0:
        header.append(draw(st.sampled_from(chosen)))  # a duplicate column
    noise = draw(st.sampled_from([0.0] * 6 + [0.02, 0.1, 0.4]))  # share of bad cells
    missing = draw(st.sampled_from([0.0, 0.05, 0.3]))
    trailing = draw(st.integers(0, 5)) == 0
    malformed = draw(st.integers(0, 9)) == 0  # short rows and values beyond the header
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 10)) if draw(st.integers(0, 9)) == 0 else draw(st.integers(1, 10))):
        cells = []
        for c in header:
            good, bad = COLUMNS[c]
            u = draw(st.floats(0, 1))
            if u < noise and bad:
                cells.append(draw(st.sampled_from(bad)))
            elif u < noise + missing:
                cells.append(draw(st.sampled_from(MISSING)))
            else:
                cells.append(draw(st.sampled_from(good)))
        shape = draw(st.integers(0, 3)) if malformed else 9
        if shape == 0:
            cells = cells[:-1]  # short row
        elif shape == 1:
            cells.append("9")  # a value beyond the header
        lines.append(",".join(cells) + ("," if trailing else ""))
    return "\n".join(lines) + "\n"


def _check_graded(graded: pd.DataFrame, scale: str, obs: pd.DataFrame) -> None:
    for syndrome, inputs in SCALE_INPUTS[scale].items():
        status = graded[f"{syndrome}_status"].to_numpy()
        names = graded[f"{syndrome}_unobserved"].to_numpy()
        for inp in inputs:
            missing = np.ones(len(obs), dtype=bool)
            for c in inp.columns:
                if c in obs.columns:
                    missing &= obs[c].isna().to_numpy()
            # an unobserved input is always said: never a plain 'observed', and named
            assert not (missing & (status == "observed")).any(), (scale, syndrome, inp.name)
            assert all(inp.name in str(x).split(";") for x in names[missing]), (scale, syndrome, inp.name)
        grade = pd.to_numeric(graded[f"{syndrome}_grade"], errors="coerce")
        assert grade.isna().to_numpy().tolist() == (status == "not assessable").tolist()
        upper = graded[f"{syndrome}_grade_upper"].to_numpy(dtype=float)
        assert (grade.fillna(0).to_numpy() <= upper).all()


@settings(max_examples=EXAMPLES, deadline=2000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=observation_files(), scale=st.sampled_from(sorted(SCALES)), assume_normal=st.booleans(), skip_bad=st.booleans())
def test_fuzzed_files_never_traceback_and_never_hide_an_unobserved_input(tmp_path_factory, text, scale, assume_normal, skip_bad):
    path = tmp_path_factory.mktemp("fuzz") / "obs.csv"
    path.write_text(text)
    try:
        obs, _ = read_observations(path, skip_bad=skip_bad)
        graded = grade_frame(obs, scale, validate=False, source=str(path), assume_normal=assume_normal)
    except CartwinError as exc:
        assert str(path) in str(exc)
        event("refused with a named error")
        return
    event("graded")
    assert len(graded) == len(obs) > 0
    assert obs["patient_id"].map(type).eq(str).all()  # ids stay text
    if not assume_normal:
        _check_graded(graded, scale, obs)
    else:
        assert (graded["assumptions"] != "").all()
    daily = daily_grades(graded)
    for syndrome in ("crs", "icans"):
        course_summary(graded, syndrome)
        if f"{syndrome}_status" in daily and SCALES[scale].icans is not None or syndrome == "crs":
            g = pd.to_numeric(daily[f"{syndrome}_grade"], errors="coerce")
            assert g.isna().tolist() == (daily[f"{syndrome}_status"] == "not assessable").tolist()
    try:
        grade_labs(obs)
        icaht(obs)
    except CartwinError as exc:
        assert "column" in str(exc) or "laboratory" in str(exc)
