"""Qualitative behaviour of the composite model, as the clinic knows it."""

import numpy as np
import pytest

from cartwin.engine import Dose
from cartwin.model.dosing import NO_LYMPHODEPLETION
from cartwin.therapy import Covariates, Regimen, simulate_course


@pytest.fixture(scope="module")
def typical_lbcl():
    return simulate_course(Regimen("axi-cel", "lbcl"), Covariates(weight_kg=70.0), days=90)


def test_expansion_peaks_in_the_second_week(typical_lbcl):
    """YESCARTA USPI 12.3: peak expansion within days 7-14. The calibration's reference patient
    (Kimmel 2021: 1.8e8 cells, 9.486e10 tumour cells) peaks on day 7 on the daily grid; at the
    labelled 2e6/kg for 70 kg (1.4e8 cells) model v2's peak is at ~6.5 days (docs/model.md), so
    the labelled-dose check allows day 6."""
    summary = typical_lbcl.summary().iloc[0]
    assert 6 <= summary["tmax_car_t_day"] <= 14
    reference = simulate_course(Regimen("axi-cel", "lbcl", dose_cells=1.8e8, per_kg=False),
                                Covariates(weight_kg=70.0, tumour_baseline_cells=9.486e10), days=28)
    assert 7 <= reference.summary().iloc[0]["tmax_car_t_day"] <= 14


def test_higher_tumour_burden_gives_higher_cmax_and_il6():
    res = simulate_course(
        Regimen("axi-cel", "lbcl"),
        Covariates(weight_kg=70.0, tumour_baseline_cells=np.array([1e10, 1e11, 5e11])),
        days=28,
    )
    s = res.summary()
    assert np.all(np.diff(s["cmax_car_t_per_ul"]) > 0)
    assert np.all(np.diff(s["il6_max_pg_per_ml"]) > 0)


def test_lymphodepletion_raises_expansion():
    with_ld = simulate_course(Regimen("axi-cel", "lbcl"), days=28).summary().iloc[0]
    without = simulate_course(Regimen("axi-cel", "lbcl", lymphodepletion=NO_LYMPHODEPLETION), days=28).summary().iloc[0]
    assert with_ld["cmax_car_t_per_ul"] > 2 * without["cmax_car_t_per_ul"]


def test_preexisting_antigen_negative_clone_relapses_antigen_negative():
    res = simulate_course(
        Regimen("tisa-cel", "all"),
        Covariates(weight_kg=40.0, height_cm=145.0, antigen_negative_fraction=1e-4),
        days=365,
    )
    tc = res.timecourse()
    end = tc.iloc[-1]
    nadir = tc["tumor_cells"].min()
    assert end["tumor_cells"] > 100 * nadir  # relapse
    # Antigen-negative: the realism table counts a relapse as antigen-negative above half
    # (trial.realism). Since v2.2's duration-driven exhaustion, CAR-T cells that faced the
    # residual CD19+ cells for months no longer re-expand against them, so ~3 % of this relapse
    # stays CD19+ (measured 0.973; ~1.0 with the program off), a mixed CD19-/dim relapse.
    assert end["tumor_antigen_neg_cells"] / end["tumor_cells"] > 0.9


def test_without_antigen_negative_clone_no_antigen_negative_relapse():
    res = simulate_course(Regimen("tisa-cel", "all"), Covariates(weight_kg=40.0, height_cm=145.0), days=120)
    assert res.timecourse()["tumor_antigen_neg_cells"].max() == 0.0


def test_tocilizumab_lowers_fever_driver_and_raises_serum_il6():
    def toci_day2(t, obs, y):
        return [Dose(t, "toci_central", 560.0, "tocilizumab")] if t == 2.0 else []

    base = simulate_course(Regimen("axi-cel", "lbcl"), days=6).timecourse().set_index("day")
    toci = simulate_course(Regimen("axi-cel", "lbcl"), days=6, policy=toci_day2).timecourse().set_index("day")
    for day in (3.0, 4.0, 5.0):
        assert toci.loc[day, "fever_driver"] < 0.5 * base.loc[day, "fever_driver"]
        assert toci.loc[day, "il6_pg_per_ml"] > 1.5 * base.loc[day, "il6_pg_per_ml"]
    assert toci.loc[2.0, "tocilizumab_ug_per_ml"] == 0.0  # recorded before the dose
    assert toci.loc[3.0, "tocilizumab_ug_per_ml"] > 50


def test_b_cell_aplasia_while_car_t_persist(typical_lbcl):
    tc = typical_lbcl.timecourse().set_index("day")
    assert tc.loc[28.0, "b_cells_per_ul"] < 0.1 * 150.0


def test_poor_infiltration_and_suppression_blunt_solid_tumour_killing():
    cov = Covariates(weight_kg=70.0, tumour_baseline_cells=5e10)
    open_access = simulate_course(Regimen("satri-cel", "gastric"), cov, days=90,
                                  param_overrides={"tumour_infiltration_fraction": 1.0, "tme_suppression": 0.0})
    solid = simulate_course(Regimen("satri-cel", "gastric"), cov, days=90)
    def antigen_positive_end(result):
        row = result.summary().iloc[0]
        return row["tumor_cells_end"] - row["tumor_antigen_neg_cells_end"]

    assert antigen_positive_end(solid) > 100 * antigen_positive_end(open_access)
    # Heterogeneous antigen: the CLDN18.2-negative share survives.
    assert solid.timecourse()["tumor_antigen_neg_cells"].iloc[-1] > 0
