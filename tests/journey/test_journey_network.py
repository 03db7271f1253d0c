"""Capacity network: queueing makes the wait a result; fewer suites -> more dropouts."""

import numpy as np
import pandas as pd
import pytest

from cartwin.journey import NetworkConfig, preset_config, simulate_network

DROPOUT = ["progression", "death", "ineligible"]
SUITES = [1, 2, 3, 4, 6]


@pytest.mark.parametrize("seed", [1, 2])
def test_fewer_suites_more_dropouts_monotonically(seed):
    cfg = preset_config("juliet")
    dropouts, medians = [], []
    for suites in SUITES:
        r = simulate_network(cfg, NetworkConfig(arrivals_per_week=10, manufacturing_suites=suites, weeks=52), seed=seed)
        dropouts.append(int(r.patients["not_infused_reason"].isin(DROPOUT).sum()))
        medians.append(r.summary["vein_to_vein_day"]["median"])
    # More suites never increases dropouts or the median vein-to-vein time ...
    assert all(a >= b for a, b in zip(dropouts, dropouts[1:], strict=False)), dropouts
    assert all(a >= b for a, b in zip(medians, medians[1:], strict=False)), medians
    # ... and strictly reduces them while manufacturing is the bottleneck (1-4 suites).
    assert all(a > b for a, b in zip(dropouts[:4], dropouts[1:4], strict=False)), dropouts


def test_utilisation_and_queue():
    cfg = preset_config("juliet")
    tight = simulate_network(cfg, NetworkConfig(manufacturing_suites=2, weeks=26), seed=3)
    loose = simulate_network(cfg, NetworkConfig(manufacturing_suites=8, weeks=26), seed=3)
    assert set(tight.utilisation) == {"apheresis", "manufacturing", "qc", "beds"}
    assert all(0 <= u <= 1 for u in tight.utilisation.values())
    assert tight.utilisation["manufacturing"] > 0.9 > loose.utilisation["manufacturing"]
    assert tight.summary["manufacturing_queue_day"]["median"] > loose.summary["manufacturing_queue_day"]["median"]
    # Same seed -> same arrivals and same patients (common random numbers).
    assert tight.summary["n_enrolled"] == loose.summary["n_enrolled"]
    pd.testing.assert_series_equal(tight.patients["enrolled_day"], loose.patients["enrolled_day"])
    both = tight.patients["infused"] & loose.patients["infused"]
    assert np.allclose(tight.patients.loc[both, "dose_cells"], loose.patients.loc[both, "dose_cells"])


def test_network_is_reproducible_and_drains():
    cfg = preset_config("eliana")
    a = simulate_network(cfg, NetworkConfig(weeks=10), seed=5)
    b = simulate_network(cfg, NetworkConfig(weeks=10), seed=5)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    # No patient is left unresolved: infused or a reason.
    assert (a.patients["infused"] | a.patients["not_infused_reason"].notna()).all()
    assert a.patients["enrolled_day"].max() < 70


def test_arrival_rate():
    r = simulate_network(preset_config("zuma-1"), NetworkConfig(arrivals_per_week=20, weeks=52), seed=8)
    assert r.summary["n_enrolled"] == pytest.approx(20 * 52, rel=0.1)


def test_off_the_shelf_uses_no_manufacturing():
    cfg = preset_config("juliet").replace(product="allo-cd19", manufacturing_failure_probability=None)
    r = simulate_network(cfg, NetworkConfig(manufacturing_suites=1, weeks=12), seed=1)
    assert r.utilisation["manufacturing"] == 0 and r.utilisation["apheresis"] == 0
    assert r.patients["manufacturing_queue_day"].isna().all()
