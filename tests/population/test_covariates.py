"""Covariate copula: published medians reproduced within sampling error; correlations; validation."""

import numpy as np
import pytest
from scipy import stats

from cartwin.clinic.response import disease_measures
from cartwin.foundation.errors import ValidationError
from cartwin.population.covariates import (
    COVARIATE_MODELS,
    CovariateModel,
    SplitNormal,
    burden_to_cells,
)

N = 4000

# (model, column, published median) — values with their source in covariates.py
PUBLISHED_MEDIANS = [
    ("eliana", "age_years", 11.0),         # pivotal_trials.csv ELIANA
    ("eliana", "marrow_blasts_pct", 74.0),  # pivotal_trials.csv ELIANA
    ("zuma-1", "age_years", 58.0),          # Neelapu 2017 NEJM Table 1
    ("transcend", "age_years", 63.0),       # pivotal_trials.csv TRANSCEND
    ("karmma", "prior_lines", 6.0),         # pivotal_trials.csv KarMMa
    ("cartitude-1", "prior_lines", 6.0),    # pivotal_trials.csv CARTITUDE-1
    ("alpha-allo501", "age_years", 66.0),   # pivotal_trials.csv ALLO-501
]


@pytest.mark.parametrize(("key", "col", "median"), PUBLISHED_MEDIANS)
def test_marginal_medians_match_published(key, col, median):
    df = COVARIATE_MODELS[key].sample(N, seed=11)
    x = df[col].to_numpy(dtype=float)
    if col == "prior_lines":  # integer: the published median is the middle integer
        assert np.median(x) == median
        return
    # the sample median's standard error ~ 1 / (2 f(m) sqrt(N)); the share below the published
    # median is Binomial(N, 1/2): test that (4 SE)
    share = np.mean(x < median)
    assert abs(share - 0.5) < 4 * 0.5 / np.sqrt(N)
    m = COVARIATE_MODELS[key].marginals[col]
    assert x.min() >= m.low and x.max() <= m.high


def test_published_proportions():
    df = COVARIATE_MODELS["zuma-1"].sample(N, seed=4)
    for col, p in (("sex_male", 0.67), ("ecog", 0.58)):  # Neelapu 2017 Table 1
        k = int(df[col].astype(int).sum())
        assert stats.binomtest(k, N, p).pvalue > 1e-3
    cd19_neg = (df["antigen_negative_fraction"] > 0).mean()
    assert abs(cd19_neg - 0.10) < 0.02


def test_stated_correlations_appear_as_rank_correlations():
    m = COVARIATE_MODELS["eliana"]
    df = m.sample(N, seed=5)
    rho = stats.spearmanr(df["age_years"], df["weight_kg"]).statistic
    expected = 6 / np.pi * np.arcsin(0.8 / 2)  # Gaussian copula: Spearman from latent Pearson
    assert abs(rho - expected) < 0.05
    assert stats.spearmanr(df["ldh_u_per_l"], df["marrow_blasts_pct"]).statistic > 0.3


def test_non_psd_correlation_rejected():
    base = COVARIATE_MODELS["zuma-1"]
    bad = {("age_years", "weight_kg"): 0.9, ("age_years", "height_cm"): 0.9, ("weight_kg", "height_cm"): -0.9}
    with pytest.raises(ValidationError) as err:
        CovariateModel("x", "lbcl", "spd_cm2", base.marginals, bad)
    assert err.value.field == "covariates.x.correlations"
    with pytest.raises(ValidationError, match=r"covariates.x.correlations\[age_years, shoe_size\]"):
        CovariateModel("x", "lbcl", "spd_cm2", base.marginals, {("age_years", "shoe_size"): 0.1})
    with pytest.raises(ValidationError, match="covariates.x.marginals"):
        CovariateModel("x", "lbcl", "spd_cm2", {k: v for k, v in base.marginals.items() if k != "ldh_u_per_l"})


def test_burden_round_trips_through_clinic_measures():
    import pandas as pd

    blasts = np.array([5.0, 50.0, 90.0])
    cells = burden_to_cells("marrow_blasts_pct", blasts, "all")
    tc = disease_measures(pd.DataFrame({"tumor_cells": cells}), "marrow_blasts_pct")
    assert np.allclose(tc["marrow_blasts_pct"], blasts)
    spd = np.array([4.0, 32.0, 100.0])
    tc = disease_measures(pd.DataFrame({"tumor_cells": burden_to_cells("spd_cm2", spd, "lbcl")}), "spd_cm2")
    assert np.allclose(tc["spd_cm2"], spd)


def test_split_normal_rejects_bad_range():
    with pytest.raises(ValidationError):
        SplitNormal(10.0, 20.0, 30.0)
