"""Sobol indices through the one code path (sobol_table): Ishigami's known indices, a function
driven by one factor, clipping with a warning, and the trial endpoints around the calibration."""

import numpy as np
import pytest

from cartwin.foundation.errors import CartwinError, CartwinWarning
from cartwin.trial.sensitivity import sobol_table

PI = np.pi


def ishigami(x, a=7.0, b=0.1):
    return np.sin(x[0]) + a * np.sin(x[1]) ** 2 + b * x[2] ** 4 * np.sin(x[0])


def test_ishigami_indices_lie_in_0_1_within_their_intervals():
    # Analytic values: Ishigami & Homma 1990; Sobol' & Levitan 1999 (a = 7, b = 0.1).
    s1 = np.array([0.3139, 0.4424, 0.0])
    st = np.array([0.5576, 0.4424, 0.2437])
    table = sobol_table(["x1", "x2", "x3"], [(-PI, PI)] * 3, ishigami, base_samples=2048, seed=3)
    assert table.resolved.all()
    assert ((table.S1 >= 0) & (table.S1 <= 1) & (table.ST >= 0) & (table.ST <= 1)).all()
    assert np.all(np.abs(table.S1_raw - s1) <= table.S1_conf + 0.02)
    assert np.all(np.abs(table.ST_raw - st) <= table.ST_conf + 0.02)


def test_a_quantity_driven_by_one_factor_gets_all_the_variance():
    table = sobol_table(["a", "b", "c"], [(-1.0, 1.0)] * 3, lambda x: 3.0 * x[0] + 0.5 * x[0] ** 3,
                        base_samples=512, seed=1)
    assert table.S1.iloc[0] == pytest.approx(1.0, abs=0.05) and table.ST.iloc[0] == pytest.approx(1.0, abs=0.05)
    assert (table.ST.iloc[1:] < 0.01).all()


def test_unresolved_indices_are_clipped_with_a_warning():
    with pytest.warns(CartwinWarning, match="not resolved at 2 base samples"):
        table = sobol_table(["x1", "x2", "x3"], [(-PI, PI)] * 3, ishigami, base_samples=2, seed=1)
    assert ((table.S1 >= 0) & (table.S1 <= 1) & (table.ST >= 0) & (table.ST <= 1)).all()
    assert not table.resolved.all()


def test_a_constant_quantity_warns_and_a_missing_value_is_an_error():
    with pytest.warns(CartwinWarning, match="did not change over the design"):
        table = sobol_table(["a", "b"], [(0, 1)] * 2, lambda x: 0.25, base_samples=4, seed=1)
    assert (table.S1 == 0).all()
    with pytest.raises(CartwinError, match="could not be estimated at"):
        sobol_table(["a", "b"], [(0, 1)] * 2, lambda x: np.nan, base_samples=4, seed=1)


def test_trial_sensitivity_scales_the_calibrated_multipliers(monkeypatch):
    import cartwin.trial.runner as runner
    from cartwin.trial.calibration import calibrated_multipliers
    from cartwin.trial.sensitivity import sobol_indices

    seen = []
    real = runner.run_trial

    def spy(protocol, n=None, seed=1, **kw):
        seen.append((kw.get("follow_up_days"), dict(kw["overrides"])))
        return real(protocol, n, seed, **{**kw, "follow_up_days": 40.0})

    monkeypatch.setattr(runner, "run_trial", spy)
    with pytest.warns(CartwinWarning):
        table = sobol_indices("zuma-1", "crs_any", base_samples=1, n=4, seed=2)
    cal = calibrated_multipliers(__import__("cartwin.trial.protocol", fromlist=["load_protocol"]).load_protocol("zuma-1"))
    assert seen[0][0] is None  # the protocol's follow-up, not a hard-coded 120 days
    for _, overrides in seen:
        for name, value in overrides.items():
            ratio = value / cal.get(name, 1.0)
            assert 0.5 - 1e-12 <= ratio <= 2.0 + 1e-12, (name, value)  # around the calibrated value
    assert list(table.calibrated_multiplier) == [cal.get(n, 1.0) for n in table.parameter]
