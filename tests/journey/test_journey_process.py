"""Per-patient process: table shape, consistency of times, reproducibility, stream independence."""

import math

import numpy as np
import pandas as pd
import pytest

from cartwin.foundation.errors import ValidationError
from cartwin.foundation.results import read_parquet, write_parquet
from cartwin.journey import PATIENT_COLUMNS, preset_config, simulate_journeys
from cartwin.journey.process import draw, patient_rng, timeline


@pytest.fixture(scope="module")
def juliet():
    return simulate_journeys(preset_config("juliet"), 600, seed=11)


def test_table_has_fixed_columns_and_types(juliet):
    assert tuple(juliet.columns) == PATIENT_COLUMNS
    assert juliet["patient_id"].tolist() == list(range(600))
    assert juliet["infused"].dtype == bool
    assert set(juliet["not_infused_reason"].dropna()) <= {
        "manufacturing_failure", "out_of_specification", "progression", "death", "ineligible"}
    assert juliet.loc[juliet.infused, "not_infused_reason"].isna().all()
    assert juliet.loc[~juliet.infused, "not_infused_reason"].notna().all()
    assert juliet.attrs["provenance"]["seed"] == 11


def test_times_are_ordered(juliet):
    inf = juliet[juliet.infused]
    order = ["enrolled_day", "apheresis_day", "manufacturing_start_day", "manufacturing_end_day",
             "release_day", "product_at_site_day", "lymphodepletion_day", "infusion_day"]
    for a, b in zip(order, order[1:], strict=False):
        assert (inf[a] <= inf[b]).all(), (a, b)
    assert np.allclose(inf["vein_to_vein_day"], inf["infusion_day"] - inf["apheresis_day"])
    drop = juliet[juliet["not_infused_reason"].isin(["progression", "death", "ineligible"])]
    assert drop["dropout_day"].notna().all() and drop["infusion_day"].isna().all()


def test_product_attributes_present_for_infused(juliet):
    inf = juliet[juliet.infused]
    for col in ("dose_cells", "cd8_fraction", "memory_fraction", "viability_fraction"):
        assert inf[col].notna().all(), col
    assert (inf["dose_cells"] <= 5e8).all() and (inf["dose_cells"] >= 1e7).all()
    assert inf["viability_fraction"].between(0.75, 1).all()
    assert juliet.loc[juliet.not_infused_reason == "manufacturing_failure", "dose_cells"].isna().all()


def test_tumour_burden_factor(juliet):
    cfg = preset_config("juliet")
    inf = juliet[juliet.infused]
    expected = np.exp(cfg.tumour_growth_rate_per_day * inf["enrolment_to_infusion_day"]) * np.where(
        inf["bridging"], cfg.bridging_burden_factor, 1.0)
    assert np.allclose(inf["tumour_burden_factor_at_infusion"], expected)
    assert juliet.loc[~juliet.infused, "tumour_burden_factor_at_infusion"].isna().all()
    assert 0.8 < juliet["bridging"].mean() < 0.97  # JULIET bridging 90% (pivotal_trials.csv)


def test_simpy_times_match_vectorised_timeline():
    cfg = preset_config("eliana")
    df = simulate_journeys(cfg, 40, seed=3)
    for pid in df.index[df.infused][:10]:
        d = draw(cfg, patient_rng(3, int(pid)))
        assert df.loc[pid, "infusion_day"] == pytest.approx(float(timeline(cfg, d)["infusion"]))


def test_same_seed_same_table_and_streams_independent_of_count():
    cfg = preset_config("juliet")
    a = simulate_journeys(cfg, 80, seed=9)
    b = simulate_journeys(cfg, 80, seed=9)
    pd.testing.assert_frame_equal(a, b)
    big = simulate_journeys(cfg, 300, seed=9)
    pd.testing.assert_frame_equal(a, big.iloc[:80].reset_index(drop=True))
    other = simulate_journeys(cfg, 80, seed=10)
    assert not np.allclose(a["dose_cells"].fillna(0), other["dose_cells"].fillna(0))


@pytest.mark.parametrize("preset", ["zuma-1", "eliana"])
def test_chunked_environments_give_the_one_environment_table(preset, monkeypatch):
    # Without shared resources patients never meet: one SimPy environment per chunk (bounded
    # memory at 10^6 patients) must not change a single row.
    import cartwin.journey.process as process

    cfg = preset_config(preset)
    whole = simulate_journeys(cfg, 250, seed=4)
    monkeypatch.setattr(process, "JOURNEY_CHUNK", 37)
    chunked = simulate_journeys(cfg, 250, seed=4)
    pd.testing.assert_frame_equal(chunked, whole)
    stamp = "created_utc"  # the only field allowed to differ between the two calls
    assert {k: v for k, v in chunked.attrs["provenance"].items() if k != stamp} == {
        k: v for k, v in whole.attrs["provenance"].items() if k != stamp}
    assert (~whole["infused"]).sum() > 5 and whole["dropout_day"].notna().any()


def test_parquet_round_trip_keeps_provenance(juliet, tmp_path):
    path = write_parquet(juliet, tmp_path / "p.parquet")
    back = read_parquet(path)
    assert back.attrs["provenance"]["model"] == "cartwin.journey"
    assert list(back.columns) == list(juliet.columns)


@pytest.mark.parametrize("n, seed, field", [(0, 1, "n_patients"), (10, -1, "seed"), (2.5, 1, "n_patients")])
def test_bad_arguments(n, seed, field):
    with pytest.raises(ValidationError) as err:
        simulate_journeys(preset_config("juliet"), n, seed=seed)
    assert err.value.field == field


def test_hazard_rising_with_wait_increases_late_dropouts():
    cfg = preset_config("juliet")
    rising = cfg.replace(hazard_increase_per_week=0.5)
    a = simulate_journeys(cfg, 800, seed=4)
    b = simulate_journeys(rising, 800, seed=4)
    assert b["dropout_day"].notna().sum() > a["dropout_day"].notna().sum()
    assert math.isfinite(b["dropout_day"].max())


def test_first_patient_gives_the_rows_of_the_whole_run():
    # Sharded trials run journeys in slices of patient ids: a slice is the whole run's rows.
    cfg = preset_config("juliet")
    whole = simulate_journeys(cfg, 30, seed=4)
    part = simulate_journeys(cfg, 12, seed=4, first_patient=15)
    assert part["patient_id"].tolist() == list(range(15, 27))
    pd.testing.assert_frame_equal(whole.iloc[15:27].reset_index(drop=True), part)
