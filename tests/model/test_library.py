"""Published library models reproduce their papers' numbers with their published parameters."""

import math

import numpy as np
import pytest

from cartwin.engine import SaveAt, StepController, simulate
from cartwin.model.library import Kimmel2021, Stein2019


def test_kimmel2021_reproduces_axicel_median_car_t_counts():
    # Kimmel 2021 Table 1 medians (ZUMA-1, Moffitt subset), cells/uL at days 7/14/28.
    published = {7: 27.5, 14: 9.1, 28: 2.1}
    model = Kimmel2021()
    sol = simulate(model, model.parameters(), saveat=SaveAt([0, 7, 14, 28]),
                   controller=StepController(rtol=1e-8, atol=1e-10))
    car = sol.observables()["car_t_per_ul"][0]
    for k, day in enumerate([7, 14, 28], start=1):
        ratio = car[k] / published[day]
        assert 1 / 1.5 <= ratio <= 1.5, (day, car[k])


def _log_slope(t, c):
    return -np.polyfit(t, np.log(c), 1)[0]


def test_stein2019_half_lives():
    # Stein 2019 Discussion: initial decline half-life ~4.3 d, terminal ~220 d (typical values).
    model = Stein2019()
    p = model.parameters()
    tmax = p.T_max_day
    early = tmax + np.arange(0, 6.0)
    late = tmax + np.arange(250.0, 356.0, 5.0)
    days = np.concatenate([[0.0], early, late])
    sol = simulate(model, p, saveat=SaveAt(days), controller=StepController(rtol=1e-9, atol=1e-9))
    c = sol.observables()["transgene_copies_per_ug"][0]
    assert c[1] == pytest.approx(p.C_max_copies_per_ug, rel=1e-6)  # peak reached at T_max
    initial = math.log(2) / _log_slope(early, c[1:1 + early.size])
    terminal = math.log(2) / _log_slope(late, c[1 + early.size:])
    assert initial == pytest.approx(4.3, rel=0.10)
    assert terminal == pytest.approx(220.0, rel=0.10)
