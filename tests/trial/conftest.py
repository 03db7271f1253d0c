"""Synthetic patients tables (the runner that makes real ones comes later)."""

import numpy as np
import pandas as pd
import pytest


def synthetic_patients(n: int = 60, seed: int = 0, n_not_infused: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    infused = np.ones(n, dtype=bool)
    infused[:n_not_infused] = False
    resp = rng.choice(["CR", "PR", "SD", "PD"], size=n, p=[0.5, 0.2, 0.2, 0.1]).astype(object)
    resp[~infused] = None
    crs = np.where(infused, rng.choice([0, 1, 2, 3, 4], size=n, p=[0.2, 0.4, 0.25, 0.1, 0.05]), 0)
    icans = np.where(infused, rng.choice([0, 1, 2, 3], size=n, p=[0.5, 0.2, 0.2, 0.1]), 0)
    pfs = rng.exponential(300.0, n)
    os_ = pfs + rng.exponential(200.0, n)
    pfs_event = pfs < 730
    os_event = os_ < 730
    responders = np.isin(resp.astype(str), ["CR", "PR"])
    return pd.DataFrame({
        "patient_id": np.arange(n),
        "arm": "A",
        "infused": infused,
        "not_infused_reason": np.where(infused, None, "manufacturing failure"),
        "best_response": resp,
        "mrd_negative": np.where(infused, resp == "CR", False),
        "pfs_day": np.minimum(pfs, 730.0),
        "pfs_event": pfs_event,
        "os_day": np.minimum(os_, 730.0),
        "os_event": os_event,
        "dor_day": np.where(responders, np.maximum(np.minimum(pfs, 730.0) - 30.0, 0.0), np.nan),
        "crs_max_grade_astct": crs,
        "icans_max_grade_astct": icans,
        "crs_max_grade_lee2014": np.minimum(crs + (crs >= 2), 5),
        "icans_max_grade_lee2014": icans,
        "crs_onset_day": np.where(crs > 0, rng.uniform(1, 9, n), np.nan),
        "crs_duration_day": np.where(crs > 0, rng.uniform(2, 10, n), np.nan),
        "icans_onset_day": np.where(icans > 0, rng.uniform(3, 12, n), np.nan),
        "tocilizumab": infused & (crs >= 2),
        "steroids": infused & (icans >= 2),
        "cmax_copies_per_ug": np.where(infused, rng.lognormal(np.log(2e4), 1.0, n), np.nan),
        "tmax_day": np.where(infused, rng.integers(7, 15, n).astype(float), np.nan),
        "auc0_28_day_copies_per_ug": np.where(infused, rng.lognormal(np.log(2e5), 1.0, n), np.nan),
    })


def synthetic_timecourses(n: int = 8) -> pd.DataFrame:
    days = np.arange(0, 61, 1.0)
    rows = []
    for pid in range(n):
        peak = 1e4 * (1 + pid)
        conc = np.where(days < 10, peak * np.exp(0.9 * (days - 10)), peak * np.exp(-0.15 * (days - 10)))
        rows.append(pd.DataFrame({"patient_id": pid, "day": days, "transgene_copies_per_ug": conc}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def patients():
    return synthetic_patients()


@pytest.fixture
def timecourses():
    return synthetic_timecourses()


@pytest.fixture
def make_patients():
    return synthetic_patients
