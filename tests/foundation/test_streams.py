"""Per-patient streams: patient k's draws do not depend on batch size, shard or order."""

import numpy as np
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.foundation.streams import (
    PURPOSES,
    patient_generators,
    patient_rng,
    patient_streams,
    standard_normals,
    uniforms,
)
from cartwin.population import VirtualPopulation
from cartwin.population.covariates import COVARIATE_MODELS
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


def test_every_purpose_and_substream_is_its_own_stream():
    assert len(set(PURPOSES.values())) == len(PURPOSES)
    keys = [(purpose, None) for purpose in PURPOSES] + [(purpose, s) for purpose in ("survival", "clinic") for s in range(10)]
    first = {key: tuple(patient_rng(1, 13, *key).random(4)) for key in keys}
    assert len(set(first.values())) == len(keys)
    assert np.array_equal(uniforms(1, [13], 4, "trial")[0], patient_rng(1, 13, "trial").random(4))


def test_population_path_re_exports_the_foundation_streams():
    from cartwin.population import streams as old_path

    assert old_path.patient_rng is patient_rng


def test_journey_draws_are_not_the_covariates_draws():
    # Until 2026-12-02 the journey seeded spawn_key (1, patient), the covariates' stream.
    from cartwin.journey.process import patient_rng as journey_rng

    assert not np.array_equal(journey_rng(1, 7).standard_normal(4), patient_rng(1, 7, "covariates").standard_normal(4))
    assert np.array_equal(journey_rng(1, 7).standard_normal(4), patient_rng(1, 7, "journey").standard_normal(4))


def test_bad_substream():
    with pytest.raises(ValidationError, match="substream"):
        patient_rng(1, 0, "clinic", substream=-1)


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1, 2**32 + 5, 2**63 - 1])
def test_batched_generators_are_numpys_generators(seed):
    # patient_generators hashes the SeedSequence keys of all patients at once; every draw must
    # be numpy's own, for one-word and two-word seeds and indices, every purpose and substreams.
    indices = [0, 1, 13, 2**31, 2**32 - 1, 2**32, 2**40 + 3, 999_999]
    for purpose in PURPOSES:
        for substream in (None, 0, 3, 2**33):
            batched = [g.standard_normal(3) for g in patient_generators(seed, indices, purpose, substream)]
            for k, draws in zip(indices, batched, strict=True):
                assert np.array_equal(draws, patient_rng(seed, k, purpose, substream).standard_normal(3)), (purpose, substream, k)
            expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(PURPOSES[purpose], 5))))
            assert next(patient_generators(seed, np.array([5]), purpose)).random() == expected.random()


def test_batched_generators_validate_like_the_scalar_path():
    assert list(patient_generators(1, [], "clinic")) == []
    with pytest.raises(ValidationError, match="patient_index"):
        list(patient_generators(1, [3, -1], "clinic"))
    with pytest.raises(ValidationError, match="seed"):
        list(patient_generators(-2, [3], "clinic"))
    with pytest.raises(ValidationError, match="purpose"):
        list(patient_generators(1, [3], "weather"))
