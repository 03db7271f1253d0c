"""CAR-HEMATOTOX (Rejeski 2021) and EASIX (Luft 2017; Korell 2022; Pennisi 2021)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwin.clinic.grading import car_hematotox, easix

BASE = {"anc_per_ul": 2000.0, "hemoglobin_g_per_dl": 12.0, "platelets_per_nl": 200.0, "crp_mg_per_l": 5.0, "ferritin_ng_per_ml": 300.0}


@pytest.mark.parametrize(
    "change, score",
    [
        ({}, 0),
        ({"anc_per_ul": 1199.0}, 1),
        ({"anc_per_ul": 1200.0}, 0),
        ({"hemoglobin_g_per_dl": 8.9}, 1),
        ({"hemoglobin_g_per_dl": 9.0}, 0),
        ({"platelets_per_nl": 175.0}, 0),
        ({"platelets_per_nl": 174.0}, 1),
        ({"platelets_per_nl": 75.0}, 1),
        ({"platelets_per_nl": 74.0}, 2),
        ({"crp_mg_per_l": 29.9}, 0),
        ({"crp_mg_per_l": 30.0}, 1),  # 3.0 mg/dL
        ({"ferritin_ng_per_ml": 649.0}, 0),
        ({"ferritin_ng_per_ml": 650.0}, 1),
        ({"ferritin_ng_per_ml": 2000.0}, 1),
        ({"ferritin_ng_per_ml": 2001.0}, 2),
        ({"anc_per_ul": 100.0, "hemoglobin_g_per_dl": 7.0, "platelets_per_nl": 20.0, "crp_mg_per_l": 100.0, "ferritin_ng_per_ml": 5000.0}, 7),
    ],
)
def test_hematotox_cutoffs(change, score):
    out = car_hematotox(pd.DataFrame([{**BASE, **change}])).iloc[0]
    assert out["score"] == score
    assert out["risk"] == ("high" if score >= 2 else "low")


def test_hematotox_missing_marker_is_unknown():
    out = car_hematotox(pd.DataFrame([{**BASE, "ferritin_ng_per_ml": np.nan}])).iloc[0]
    assert np.isnan(out["score"]) and out["risk"] == "unknown"


def test_easix_formulas_and_cutoff():
    obs = pd.DataFrame({"patient_id": [1, 2, 3], "ldh_u_per_l": [250.0, 500.0, 300.0], "creatinine_mg_per_dl": [0.8, 1.2, 1.0],
                        "platelets_per_nl": [100.0, 100.0, 0.0], "crp_mg_per_l": [20.0, 50.0, 10.0]})
    out = easix(obs)
    np.testing.assert_allclose(out["easix"][:2], [2.0, 6.0])
    np.testing.assert_allclose(out["log2_easix"][:2], [1.0, np.log2(6.0)])
    np.testing.assert_allclose(out["m_easix"][:2], [250 * 2.0 / 100, 500 * 5.0 / 100])
    np.testing.assert_allclose(out["s_easix"][:2], [2.5, 5.0])
    assert out["easix_above_pre_ld_cutoff"].tolist() == [False, True, False]
    assert np.isnan(out["easix"][2])  # platelets 0: undefined, not infinite
