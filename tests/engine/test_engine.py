"""Engine contracts: per-patient status, batch independence, events, validation."""

import numpy as np
import pytest

from cartwin.engine import DecisionPoints, Dose, SaveAt, Schedule, StepController, simulate
from cartwin.foundation import SolveStatus, ValidationError
from cartwin.model.library import Kimmel2021


def test_patient_result_does_not_depend_on_batch():
    model = Kimmel2021()
    rates = np.array([0.1, 0.5, 1.15, 2.0])
    save = SaveAt([0, 7, 28, 90])
    batch = simulate(model, model.parameters(gamma_B_per_day=rates), saveat=save)
    for i, r in enumerate(rates):
        alone = simulate(model, model.parameters(gamma_B_per_day=r), saveat=save)
        np.testing.assert_array_equal(batch.ys[i], alone.ys[0])


def test_failure_is_per_patient():
    model = Kimmel2021()
    # A tiny step budget fails the fast-growing patient only.
    p = model.parameters(r_B_per_day=np.array([0.01, 0.01]), b_per_day=np.array([0.525, 0.525]))
    ok = simulate(model, p, saveat=SaveAt([0, 28]), controller=StepController(max_steps=100_000))
    assert (ok.status == SolveStatus.SUCCESS).all()
    starved = simulate(model, p, saveat=SaveAt([0, 28]), controller=StepController(max_steps=5))
    assert (starved.status == SolveStatus.MAX_STEPS_REACHED).all()
    frame = starved.to_frame()
    assert set(frame["status"]) == {"max_steps_reached"}


def test_scheduled_dose_and_policy_dose_are_applied():
    model = Kimmel2021()
    save = SaveAt([0, 1, 2])
    sched = Schedule([Dose(1.0, "car_t", 10.0, "boost")])
    base = simulate(model, model.parameters(), saveat=save)
    dosed = simulate(model, model.parameters(), saveat=save, schedule=sched)
    assert dosed.ys[0, 1, 1] == pytest.approx(base.ys[0, 1, 1] + 10.0)
    calls = []

    def policy(t, obs, y):
        calls.append(t)
        return [Dose(t, "car_t", 1.0)] if t == 1.0 else []

    pol = simulate(model, model.parameters(), saveat=save, decisions=DecisionPoints(1.0, policy))
    assert calls == [0.0, 1.0, 2.0]
    # The day-1 record precedes the policy's dose; the dose shows from then on.
    assert pol.ys[0, 1, 1] == pytest.approx(base.ys[0, 1, 1])
    assert pol.ys[0, 2, 1] > base.ys[0, 2, 1]
    assert any(e["event"] == "car_t" for e in pol.events)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"saveat": SaveAt([0, 1]), "schedule": Schedule([Dose(0.5, "nonexistent", 1.0)])}, "state"),
        ({"saveat": SaveAt([0, 1]), "n_patients": 0}, "n_patients"),
        ({"saveat": SaveAt([0, 1]), "y0": np.zeros((2, 1))}, "y0"),
    ],
)
def test_bad_engine_input_names_field(kwargs, field):
    model = Kimmel2021()
    with pytest.raises(ValidationError, match=field):
        simulate(model, model.parameters(), **kwargs)


@pytest.mark.parametrize("bad", [[], [1, 0], [0, float("nan")]])
def test_saveat_validation(bad):
    with pytest.raises(ValidationError, match="saveat"):
        SaveAt(bad)


def test_controller_validation():
    with pytest.raises(ValidationError, match="rtol"):
        StepController(rtol=0.0)
    with pytest.raises(ValidationError, match="atol"):
        StepController(atol={"nonexistent": 1.0}).atol_vector(("a",))
    with pytest.raises(ValidationError, match="amount"):
        Dose(0.0, "car_t", -1.0)
