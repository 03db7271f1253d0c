"""EHA/EBMT grading of immune effector cell-associated haematotoxicity (ICAHT), early and late.

Rejeski K, Subklewe M, Aljurf M, et al. Immune effector cell-associated hematotoxicity: EHA/EBMT
consensus grading and best practice recommendations. Blood 2023;142(10):865-877.
doi:10.1182/blood.2023020578. Grading by depth and duration of neutropenia (absolute
neutrophil count, ANC), early (day 0 to +30) and late (after day +30). The rule table
implemented:

===========================  =========  =========  ==========================  ==========================
                             grade 1    grade 2    grade 3                     grade 4
===========================  =========  =========  ==========================  ==========================
early (days 0-30):
  days with ANC <= 500/µL    1-6        7-13       14-30                       all 31 (never > 500)
  days with ANC <= 100/µL    --         --         7-13                        >= 14
late (after day +30):
  ANC (>= 2 measurements)    <= 1500/µL <= 1000/µL <= 500/µL                   <= 100/µL
===========================  =========  =========  ==========================  ==========================

The grade is the highest any row reaches. **Provenance** (the 2023 paper's table itself was not
read; what was checked, rule by rule, is in docs/grading.md "ICAHT: what was checked"): the
thresholds (<= 500 and <= 100/µL early; <= 1500/1000/500/100 late), the durations 1-6 / 7-13 /
14-30 days <= 500, 7-13 / >= 14 days <= 100, and grade 4 for an ANC <= 500/µL on every day 0-30
("never recovering ANC > 500 cells/µL", one of the grade-4 definitions) are those of the
automated EHA/EBMT grader of Liang EC et al. (Fred Hutchinson; github.com/emilyliangmd/
automatedicahtgrading, index.Rmd and "Manual Code.R", which cite Rejeski 2023 as their source).
The cumulative count and the non-stable-recovery rule are the group's own restatement in its
T-ICAHT paper (Table 1 footnote: T-ICAHT "follows the principal logic of the existing N-ICAHT
grading ... the cumulative length beneath the respective threshold is calculated ... Days of
nonstable count recovery (<3 days) are counted to the cumulative total of days"; late: "Two or
more laboratory tests or nontransient" cytopenia).

Early duration is the *cumulative* number of days below the threshold in days 0-30 (a biphasic
course adds up), and days of non-stable recovery — fewer than 3 consecutive days above the
threshold between days below it — count as days below. (Liang's grader counts the *longest*
episode, joined across such gaps; the two agree on a single episode.) Late ICAHT needs the count
at or below the threshold on at least two measurements after day +30 (not necessarily
consecutive; "non-transient"); the paper's alternative, neutropenia needing G-CSF, has no column
and is not graded. Liang's extra grade-4 case (neutropenia from days 0-3 that never recovers
before the last count, e.g. an early death) is not applied as such: without counts to day 30 the
unmeasured days make the grade a lower bound whose upper bound is 4.

Implementation choices (*assumptions*, documented): a day's ANC is its lowest measurement (day =
floor(time_day); as Liang's grader); a day without a measurement between two measured days on
the same side of the threshold, at most :data:`MAX_BRIDGE_DAYS` apart, takes that side (Liang
interpolates linearly across up to 7 missing days); any other unmeasured day in 0-30 is
*unknown*, and the early grade is bounded over every assignment of the unknown days (status
``observed`` with none unknown, ``determined`` when the bounds meet, ``lower bound`` or ``not
assessable`` otherwise, as for CRS/ICANS). Censoring at progression, a new line of therapy or
death is not applied (no column).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwin.foundation.errors import DataError

VERSION = "EHA/EBMT ICAHT (Rejeski K et al. Blood 2023;142:865-877)"
EARLY_LAST_DAY = 30
#: Days in the early window (days 0-30); ANC <= 500/µL on all of them is grade 4 ("never > 500").
EARLY_DAYS = EARLY_LAST_DAY + 1
#: Longest gap between two measurements across which an unmeasured day takes their common side.
MAX_BRIDGE_DAYS = 7
#: Days above the threshold fewer than this, between days below it, are non-stable recovery.
STABLE_RECOVERY_DAYS = 3
LATE_THRESHOLDS_PER_UL = (1500.0, 1000.0, 500.0, 100.0)  # grades 1..4, "<="


def anc_per_ul(obs: pd.DataFrame, source: str = "observations") -> np.ndarray:
    """The ANC in cells/µL from ``anc_per_ul`` or ``anc_per_nl`` (x 1000)."""
    given = [c for c in ("anc_per_ul", "anc_per_nl") if c in obs.columns]
    if not given:
        raise DataError(source, "ICAHT grading needs the absolute neutrophil count: a column 'anc_per_ul' or 'anc_per_nl'",
                        column="anc_per_ul")
    if len(given) == 2:
        raise DataError(source, "the neutrophil count is given in two columns (anc_per_ul, anc_per_nl): give one",
                        column="anc_per_nl")
    values = pd.to_numeric(obs[given[0]], errors="coerce").to_numpy(dtype=float)
    return values * 1000.0 if given[0] == "anc_per_nl" else values


def early_grade(days_le_500: np.ndarray, days_le_100: np.ndarray) -> np.ndarray:
    """Early ICAHT grade from cumulative days with ANC <= 500 and <= 100 /µL (table above): 4 for
    >= 14 days <= 100 or every one of days 0-30 (:data:`EARLY_DAYS`) <= 500; 3 for 14-30 days
    <= 500 or 7-13 days <= 100; 2 for 7-13 days <= 500; 1 for 1-6 days."""
    d5, d1 = np.asarray(days_le_500), np.asarray(days_le_100)
    return np.select([(d1 >= 14) | (d5 >= EARLY_DAYS), (d5 >= 14) | (d1 >= 7), d5 >= 7, d5 >= 1],
                     [4, 3, 2, 1], 0).astype(np.int64)


def _below_days(state: np.ndarray) -> np.ndarray:
    """Days counted below the threshold, rows = patients, ``state`` 1 below / 0 above (no unknown):
    runs above shorter than :data:`STABLE_RECOVERY_DAYS` between days below count as below."""
    counted = state.astype(bool).copy()
    for i in np.flatnonzero(state.any(axis=1) & ~state.all(axis=1)):
        row = state[i]
        below = np.flatnonzero(row)
        gaps = np.diff(below) - 1
        for start, gap in zip(below[:-1], gaps, strict=True):
            if 0 < gap < STABLE_RECOVERY_DAYS:
                counted[i, start + 1:start + 1 + gap] = True
    return counted.sum(axis=1)


def _bridge(state: np.ndarray) -> np.ndarray:
    """Unknown days (-1) between two measured days on the same side, at most MAX_BRIDGE_DAYS apart,
    take that side."""
    out = state.copy()
    n, d = state.shape
    idx = np.arange(d)
    known = state >= 0
    prev = np.where(known, idx, -1)
    prev = np.maximum.accumulate(prev, axis=1)
    nxt = np.where(known, idx, d)
    nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(n)[:, None]
    has_both = (prev >= 0) & (nxt < d)
    p = np.clip(prev, 0, d - 1)
    q = np.clip(nxt, 0, d - 1)
    same = has_both & (state[rows, p] == state[rows, q]) & (nxt - prev <= MAX_BRIDGE_DAYS)
    fill = ~known & same
    out[fill] = state[rows, p][fill]
    return out


def icaht(obs: pd.DataFrame, *, source: str = "observations") -> pd.DataFrame:
    """Early and late ICAHT per patient from an observation table with an ANC column.

    Returns one row per patient: ``early_icaht_grade`` (empty where not assessable),
    ``early_icaht_grade_upper``, ``early_icaht_status``, ``early_days_anc_le_500`` and
    ``early_days_anc_le_100`` (cumulative days counted, lower bounds), ``early_unknown_days``,
    ``late_icaht_grade``, ``late_icaht_status``, ``late_anc_measurements``, ``icaht_rule``.

    >>> import numpy as np, pandas as pd
    >>> days = np.arange(0, 31)
    >>> anc = np.where((days >= 3) & (days < 17), 300.0, 2500.0)   # 14 days <= 500
    >>> g = icaht(pd.DataFrame({"patient_id": 1, "time_day": days, "anc_per_ul": anc})).iloc[0]
    >>> int(g.early_icaht_grade), g.early_icaht_status
    (3, 'observed')
    """
    anc = anc_per_ul(obs, source)
    pid = obs["patient_id"].to_numpy()
    t = pd.to_numeric(obs["time_day"]).to_numpy(dtype=float)
    codes, patients = pd.factorize(pd.Series(pid), sort=True)
    n = len(patients)
    day = np.floor(t).astype(np.int64)
    measured = np.isfinite(anc)
    # early window: daily lowest ANC on days 0..30
    early = measured & (day >= 0) & (day <= EARLY_LAST_DAY)
    nd = EARLY_LAST_DAY + 1
    daily = np.full((n, nd), np.inf)
    np.minimum.at(daily, (codes[early], day[early]), anc[early])
    have = np.isfinite(daily)
    result = {}
    counts_low, counts_high = {}, {}
    unknown_days = None
    for threshold in (500.0, 100.0):
        state = np.where(have, (daily <= threshold).astype(np.int8), -1).astype(np.int8)
        state = _bridge(state)
        unknown = state < 0
        if unknown_days is None:
            unknown_days = unknown.sum(axis=1)
        counts_low[threshold] = _below_days(np.where(unknown, 0, state))
        counts_high[threshold] = _below_days(np.where(unknown, 1, state))
    lower = early_grade(counts_low[500.0], counts_low[100.0])
    upper = np.maximum(early_grade(counts_high[500.0], counts_high[100.0]), lower)
    any_early = have.any(axis=1)
    status = np.select([~any_early, unknown_days == 0, upper == lower, lower > 0],
                       ["not assessable", "observed", "determined", "lower bound"], "not assessable").astype(object)
    grade = pd.array(lower, dtype="Int64")
    grade[status == "not assessable"] = pd.NA
    result["patient_id"] = np.asarray(patients)
    result["early_icaht_grade"] = grade
    result["early_icaht_grade_upper"] = np.where(any_early, upper, 4)
    result["early_icaht_status"] = status
    result["early_days_anc_le_500"] = counts_low[500.0]
    result["early_days_anc_le_100"] = counts_low[100.0]
    result["early_unknown_days"] = unknown_days
    # late: after day +30, the grade reached by at least two measurements
    late = measured & (t > EARLY_LAST_DAY + 1e-12) & (day > EARLY_LAST_DAY)
    n_late = np.bincount(codes[late], minlength=n)
    late_grade = np.zeros(n, dtype=np.int64)
    for g, threshold in enumerate(LATE_THRESHOLDS_PER_UL, start=1):
        k = np.bincount(codes[late & (anc <= threshold)], minlength=n)
        late_grade = np.where(k >= 2, g, late_grade)
    late_status = np.where(n_late >= 2, "observed", "not assessable").astype(object)
    lg = pd.array(late_grade, dtype="Int64")
    lg[late_status == "not assessable"] = pd.NA
    result["late_icaht_grade"] = lg
    result["late_icaht_status"] = late_status
    result["late_anc_measurements"] = n_late
    out = pd.DataFrame(result)
    early_text = np.where(
        ~any_early, "early: no ANC on days 0-30",
        "early: " + pd.Series(counts_low[500.0]).astype(str) + " day(s) ANC <= 500/uL, "
        + pd.Series(counts_low[100.0]).astype(str) + " day(s) <= 100/uL"
        + np.where(unknown_days > 0, " (" + pd.Series(unknown_days).astype(str) + " day(s) unmeasured)", ""))
    late_text = np.where(n_late >= 2, "late: grade reached by >= 2 ANC after day 30",
                         "late: fewer than 2 ANC after day 30 (not assessable)")
    out["icaht_rule"] = pd.Series(early_text, dtype=object) + "; " + pd.Series(late_text, dtype=object)
    out["icaht_scale"] = VERSION
    return out
