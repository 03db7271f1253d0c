"""Log-normal IIV: omegas reproduced, PSD validation, clipping into parameter bounds, simulate_course input."""

import numpy as np
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.model.cart import CarTPatientModel
from cartwin.population import VirtualPopulation
from cartwin.population.variability import IIV_MODELS, IIVModel, IIVTerm, typical_values


def test_log_variance_and_median_match_omega():
    m = IIV_MODELS["stein2019"]
    typ = typical_values("tisa-cel", "all")
    draw = m.sample(4000, seed=1, typical=typ)
    for name, term in m.terms.items():
        logs = np.log(draw[name] / typ[name])
        assert np.var(logs) == pytest.approx(term.omega2, rel=0.1), name
        assert abs(np.median(logs)) < 0.1, name
    # Stein 2019: omega2 alpha = 0.91 maps onto effector death
    assert m.terms["d_effector_per_day"].omega2 == 0.91
    r = np.corrcoef(np.log(draw["k_prolif_per_day"]), np.log(draw["p_il6_myeloid_pg_per_ml_day"]))[0, 1]
    assert abs(r - 0.3) < 0.06
    assert np.array_equal(draw["r_tumour_neg_per_day"], draw["r_tumour_per_day"])  # tied


def test_non_psd_omega_rejected_with_field():
    terms = {"k_prolif_per_day": IIVTerm(0.4, "t"), "gamma_kill_per_day": IIVTerm(0.4, "t"), "d_effector_per_day": IIVTerm(0.4, "t")}
    bad = {("k_prolif_per_day", "gamma_kill_per_day"): 0.9, ("k_prolif_per_day", "d_effector_per_day"): 0.9,
           ("gamma_kill_per_day", "d_effector_per_day"): -0.9}
    with pytest.raises(ValidationError) as err:
        IIVModel("bad", terms, bad)
    assert err.value.field == "iiv.bad.omega"
    with pytest.raises(ValidationError, match="iiv.bad.terms.not_a_parameter"):
        IIVModel("bad", {"not_a_parameter": IIVTerm(0.1, "t")})
    with pytest.raises(ValidationError, match="iiv.bad.terms.k_prolif_per_day.omega2"):
        IIVModel("bad", {"k_prolif_per_day": IIVTerm(-0.1, "t")})
    with pytest.raises(ValidationError, match=r"iiv.bad.correlations\[k_prolif_per_day, gamma_kill_per_day\]"):
        IIVModel("bad", terms, {("k_prolif_per_day", "gamma_kill_per_day"): 1.5})


def test_values_truncated_into_bounds_not_clipped():
    # Truncated log-normal by the quantile map: every value in bounds, no point mass at a bound,
    # the shape inside the bounds that of the truncated normal on the log scale (KS test).
    from scipy import stats

    spec = CarTPatientModel.parameter_specs()["r_tumour_per_day"]
    m = IIVModel("wide", {"r_tumour_per_day": IIVTerm(9.0, "test")})
    draw = m.sample(20000, seed=2, typical={"r_tumour_per_day": 0.5})
    v = draw["r_tumour_per_day"]
    assert v.max() <= spec.high and v.min() >= spec.low
    assert np.sum(v == spec.high) <= 2  # rounding only, where clipping put ~2,000 there
    assert draw.clipped["r_tumour_per_day"] > 1000  # what the untruncated log-normal put outside
    b = np.log(spec.high / 0.5) / 3.0
    ks = stats.kstest(np.log(v / 0.5) / 3.0, stats.truncnorm(-np.inf, b).cdf)
    assert ks.pvalue > 1e-3


def test_negligible_tails_leave_the_draw_untouched():
    from cartwin.population.variability import truncated_lognormal

    z = np.linspace(-5, 5, 101)
    values, outside = truncated_lognormal(1.0, z, 0.5, 1e-30, 1e30)
    assert np.array_equal(values, 1.0 * np.exp(0.5 * z)) and not outside.any()


@pytest.mark.parametrize("name", ["zuma-1", "zuma-2", "juliet", "eliana", "karmma", "transcend", "cartitude-1",
                                  "alpha-allo501", "liu2020-car-nk", "ct041"])
def test_1e5_patients_parameters_stay_in_bounds(name):
    from cartwin.trial.protocol import load_protocol

    specs = CarTPatientModel.parameter_specs()
    draw = load_protocol(name).virtual_population().sample(100_000, seed=11)
    for param, values in draw.overrides.items():
        if param in specs:
            assert np.all(np.isfinite(values)), param
            assert values.min() >= specs[param].low and values.max() <= specs[param].high, param


def test_population_feeds_simulate_course():
    from cartwin.therapy import Regimen, simulate_course

    pop = VirtualPopulation("zuma-1", "stein2019", product="axi-cel", indication="lbcl")
    draw = pop.sample(3, seed=4)
    assert {"age_years", "tumour_baseline_cells", "param_k_prolif_per_day"} <= set(draw.table.columns)
    res = simulate_course(Regimen("axi-cel", "lbcl"), draw.covariates(), days=30, param_overrides=draw.overrides)
    summary = res.summary()
    assert len(summary) == 3 and (summary["status"] == "success").all()
    assert summary["cmax_copies_per_ug"].nunique() == 3


def test_myeloma_population_sets_m_protein():
    draw = VirtualPopulation("karmma", "none", product="ide-cel", indication="mm").sample(5, seed=1)
    assert np.array_equal(draw.overrides["m_protein_baseline_g_per_dl"], draw.table["m_protein_g_per_dl"].to_numpy())
