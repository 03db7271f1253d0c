"""The batched outcome functions equal the per-patient loops they replaced (kept here as the
reference), on random assessment sequences with deaths, duplicates, shuffled rows and MRD."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwin.clinic.response import CATEGORIES
from cartwin.trial.outcomes import (
    REFRACTORY_FAILURE_DAY,
    RESPONDING,
    death_days,
    efficacy,
    survival,
)

DAYS = (28.0, 90.0, 180.0, 270.0, 365.0)


def reference_efficacy(timecourse, measure, assessment_days, death_day=None):
    """cartwin.trial.outcomes.efficacy as of 2026-12-06 (one pandas group per patient), with the
    B-ALL treatment-failure rule of 2026-12-07."""
    days = np.asarray(assessment_days, dtype=float)
    tc = timecourse[timecourse["day"].isin(days)]
    order = {c: i for i, c in enumerate(CATEGORIES[measure])}
    deaths = {} if death_day is None else {int(k): float(v) for k, v in death_day.items()}
    has_mrd = "mrd_fraction" in tc
    rows = []
    for pid, g in tc.groupby("patient_id", sort=True):
        g = g.sort_values("day", kind="stable")
        day = g["day"].to_numpy(dtype=float)
        alive = day < deaths.get(int(pid), np.inf)
        cats = g["response"].to_numpy()[alive]
        day = day[alive]
        responding = np.isin(cats, list(RESPONDING))
        responded = np.flatnonzero(responding)
        progressed = np.flatnonzero(cats == "PD")
        if responded.size:
            after = np.flatnonzero((np.arange(cats.size) > responded[0]) & ~responding)
            candidates = np.concatenate([progressed, after])
        elif measure in REFRACTORY_FAILURE_DAY:  # never responded: treatment failure at the window
            candidates = np.concatenate([progressed, np.flatnonzero(day >= REFRACTORY_FAILURE_DAY[measure])[:1]])
        else:
            candidates = progressed
        stop = int(candidates.min()) + 1 if candidates.size else cats.size
        pd_day = float(day[stop - 1]) if candidates.size else np.nan
        ranks = np.array([order[c] for c in cats[:stop]], dtype=int)
        best = CATEGORIES[measure][int(ranks.min())] if ranks.size else "NE"
        first_response = float(day[responded[0]]) if responded.size and responded[0] < stop else np.nan
        row = {"patient_id": pid, "best_response": best, "response_day": first_response, "progression_day": pd_day}
        if has_mrd:
            row["mrd_negative"] = bool((g["mrd_fraction"].to_numpy()[alive][:stop] < 1e-4).any())
        rows.append(row)
    columns = ["patient_id", "best_response", "response_day", "progression_day"] + (["mrd_negative"] if has_mrd else [])
    return pd.DataFrame(rows, columns=columns)


def reference_survival(eff, indication, follow_up_days, seed):
    """cartwin.trial.outcomes.survival as of 2026-12-06 (one dict per patient)."""
    death = death_days(eff, indication, seed).to_numpy()
    out = []
    for row, dead in zip(eff.itertuples(index=False), death, strict=True):
        progression = row.progression_day if np.isfinite(row.progression_day) else np.inf
        end = min(progression, dead)
        dor = np.nan
        if np.isfinite(row.response_day):
            dor = max(min(end, follow_up_days) - row.response_day, 0.0)
        out.append({"patient_id": row.patient_id, "pfs_day": float(min(end, follow_up_days)),
                    "pfs_event": bool(end <= follow_up_days), "os_day": float(min(dead, follow_up_days)),
                    "os_event": bool(dead <= follow_up_days), "dor_day": float(dor),
                    "dor_event": bool(np.isfinite(row.response_day) and end <= follow_up_days)})
    return pd.DataFrame(out, columns=["patient_id", "pfs_day", "pfs_event", "os_day", "os_event", "dor_day", "dor_event"])


@st.composite
def timecourses(draw):
    measure = draw(st.sampled_from(sorted(CATEGORIES)))
    cats = CATEGORIES[measure]
    n = draw(st.integers(1, 10))
    rows = []
    for pid in draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n, unique=True)):
        for day in draw(st.lists(st.sampled_from(DAYS + (7.0, 400.0)), min_size=1, max_size=8)):  # duplicates, off-schedule days
            rows.append({"patient_id": pid, "day": day, "response": draw(st.sampled_from(cats)),
                         "mrd_fraction": draw(st.sampled_from([1e-6, 1e-3, 0.5]))})
    tc = pd.DataFrame(rows)
    tc = tc.sample(frac=1.0, random_state=draw(st.integers(0, 2**31 - 1))).reset_index(drop=True)
    if not draw(st.booleans()):
        tc = tc.drop(columns="mrd_fraction")
    deaths = None
    if draw(st.booleans()):
        ids = pd.unique(tc["patient_id"])
        chosen = [int(i) for i in ids if draw(st.booleans())]
        deaths = pd.Series([draw(st.sampled_from([10.0, 28.0, 100.0, 180.0, 1e9])) for _ in chosen], index=chosen, dtype=float)
    return measure, tc, deaths


@settings(max_examples=300, deadline=None)
@given(case=timecourses(), seed=st.integers(0, 2**32 - 1), follow=st.sampled_from([28.0, 200.0, 730.0]))
def test_batched_outcomes_equal_the_per_patient_reference(case, seed, follow):
    measure, tc, deaths = case
    got = efficacy(tc, measure, DAYS, death_day=deaths)
    want = reference_efficacy(tc, measure, DAYS, death_day=deaths)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    pd.testing.assert_frame_equal(survival(got, "lbcl", follow, seed), reference_survival(want, "lbcl", follow, seed),
                                  check_exact=True)


def test_no_assessment_rows_give_the_reference_shape():
    tc = pd.DataFrame({"patient_id": [1, 2], "day": [3.0, 4.0], "response": ["CR", "PD"]})
    pd.testing.assert_frame_equal(efficacy(tc, "spd_cm2", DAYS), reference_efficacy(tc, "spd_cm2", DAYS))
    empty = efficacy(tc, "spd_cm2", DAYS)
    pd.testing.assert_frame_equal(survival(empty, "lbcl", 365.0, 1), reference_survival(empty, "lbcl", 365.0, 1))


def test_never_remitting_leukaemia_is_a_treatment_failure_at_the_response_window_and_lymphoma_sd_is_not():
    """B-ALL without remission by day 91 has an event there (ELIANA's EFS); lymphoma SD does not
    (its refractory tumour grows to PD, which the model simulates)."""
    days = (28.0, 56.0, 91.0, 182.0)
    rows = [{"patient_id": 1, "day": d, "response": "NR"} for d in days]
    rows += [{"patient_id": 2, "day": d, "response": r} for d, r in zip(days, ("NR", "CR", "CR", "CR"), strict=True)]
    rows += [{"patient_id": 3, "day": d, "response": r} for d, r in zip(days, ("NR", "PD", "NR", "NR"), strict=True)]
    got = efficacy(pd.DataFrame(rows), "marrow_blasts_pct", days).set_index("patient_id")
    assert got.loc[1, "progression_day"] == 91.0 and got.loc[1, "best_response"] == "NR"
    assert np.isnan(got.loc[2, "progression_day"]) and got.loc[2, "response_day"] == 56.0
    assert got.loc[3, "progression_day"] == 56.0  # PD before the window stays the event
    # A patient who dies before the window has no failure event (death is the event).
    dead = efficacy(pd.DataFrame(rows), "marrow_blasts_pct", days, death_day=pd.Series({1: 60.0})).set_index("patient_id")
    assert np.isnan(dead.loc[1, "progression_day"])
    sd = pd.DataFrame([{"patient_id": 1, "day": d, "response": "SD"} for d in days])
    assert np.isnan(efficacy(sd, "spd_cm2", days)["progression_day"].iloc[0])
