"""Per-patient streams: patient k's draws do not depend on batch size, shard or order."""

import numpy as np
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.population import VirtualPopulation
from cartwin.population.covariates import COVARIATE_MODELS
from cartwin.population.streams import patient_rng, patient_streams, standard_normals
from cartwin.population.variability import IIV_MODELS


def test_patient_draws_independent_of_batch_and_order():
    a = patient_rng(1, 7).standard_normal(4)
    assert np.array_equal(a, patient_streams(1, range(10))[7].standard_normal(4))
    assert np.array_equal(a, patient_streams(1, [9, 7, 3])[1].standard_normal(4))
    assert np.array_equal(a, standard_normals(1, range(5, 1000), 4, "covariates")[2])


def test_streams_differ_by_patient_seed_and_purpose():
    x = standard_normals(1, range(200), 3, "covariates")
    assert len({tuple(r) for r in x}) == 200
    assert not np.array_equal(x, standard_normals(2, range(200), 3, "covariates"))
    assert not np.array_equal(x, standard_normals(1, range(200), 3, "variability"))
    # independence across patients: sample correlation of a draw between neighbours is small
    assert abs(np.corrcoef(x[:-1, 0], x[1:, 0])[0, 1]) < 0.2


def test_bad_seed_and_purpose():
    with pytest.raises(ValidationError, match="seed"):
        patient_rng(-1, 0)
    with pytest.raises(ValidationError, match="purpose"):
        patient_rng(1, 0, "weather")


@pytest.mark.parametrize("key", sorted(COVARIATE_MODELS))
def test_covariate_shards_equal_whole(key):
    m = COVARIATE_MODELS[key]
    whole = m.sample(30, seed=3)
    shard = m.sample(10, seed=3, start=20)
    assert np.allclose(whole.iloc[20:].drop(columns="patient_index").to_numpy(dtype=float),
                       shard.drop(columns="patient_index").to_numpy(dtype=float))


def test_population_shards_equal_whole():
    pop = VirtualPopulation("zuma-1", "stein2019", product="axi-cel", indication="lbcl")
    whole = pop.sample(12, seed=9)
    parts = [pop.sample(4, seed=9, start=s) for s in (0, 4, 8)]
    for name, values in whole.overrides.items():
        assert np.array_equal(values, np.concatenate([p.overrides[name] for p in parts]))
    one = IIV_MODELS["stein2019"].sample(1, seed=9, start=11)
    assert one["k_prolif_per_day"][0] != whole.overrides["k_prolif_per_day"][0]
