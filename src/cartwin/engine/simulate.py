"""``simulate``: the one call that joins model, solver, saving, step control and events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartwin.engine.control import SaveAt, StepController
from cartwin.engine.events import DecisionPoints, Dose, Schedule, Setting
from cartwin.engine.solvers import IntegrationState, Rosenbrock4, namespace
from cartwin.foundation.errors import SolveStatus, ValidationError
from cartwin.foundation.results import Provenance, parameters_digest
from cartwin.model.base import Model, ParameterSet


@dataclass
class Solution:
    """States at the save times for every patient, with per-patient solve status.

    ``ys`` has shape (n_patients, n_times, n_states); ``status`` holds
    :class:`~cartwin.foundation.errors.SolveStatus` codes. Failed patients keep the values
    they had when they failed and are flagged by ``status``; they are never silently mixed in.
    """

    model: Model
    params: ParameterSet
    ts: np.ndarray
    ys: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    provenance: Provenance
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_patients(self) -> int:
        return self.ys.shape[0]

    @property
    def ok(self) -> np.ndarray:
        return self.status == SolveStatus.SUCCESS

    def state(self, name: str) -> np.ndarray:
        """One state, shape (n_patients, n_times)."""
        return self.ys[:, :, self.model.state_index(name)]

    def observables(self) -> dict[str, np.ndarray]:
        """Observables, each shape (n_patients, n_times)."""
        n_p, n_t, n_s = self.ys.shape
        y = np.moveaxis(self.ys, 2, 0).reshape(n_s, n_p * n_t)
        p = namespace(self.params.broadcast(n_p))
        rep = {k: (np.repeat(v, n_t) if np.ndim(v) == 1 else v) for k, v in vars(p).items()}
        t = np.tile(self.ts, n_p)
        obs = self.model.observables(t, y, _Attrs(rep))
        return {k: np.broadcast_to(np.asarray(v, dtype=float), (n_p * n_t,)).reshape(n_p, n_t) for k, v in obs.items()}

    def to_frame(self, patient_ids=None) -> pd.DataFrame:
        """Tidy long table: one row per patient per save time, units in column names."""
        n_p, n_t, _ = self.ys.shape
        ids = np.arange(n_p) if patient_ids is None else np.asarray(patient_ids)
        frame = {
            "patient_id": np.repeat(ids, n_t),
            "day": np.tile(self.ts, n_p),
            "status": np.repeat([SolveStatus(int(s)).name.lower() for s in self.status], n_t),
        }
        for k, v in self.observables().items():
            frame[k] = v.reshape(-1)
        df = pd.DataFrame(frame)
        df.attrs["provenance"] = self.provenance.to_dict()
        return df


class _Attrs(dict):
    __getattr__ = dict.__getitem__


def _setting_value(setting: Setting, y: np.ndarray, p_ns, n_patients: int) -> np.ndarray:
    value = setting.value(y, p_ns) if callable(setting.value) else setting.value
    return np.broadcast_to(np.asarray(value, dtype=float), (n_patients,))


def _observe(model: Model, t: float, y: np.ndarray, p_ns) -> dict[str, np.ndarray]:
    return model.observables(np.full(y.shape[1], t), y, p_ns)


def simulate(
    model: Model,
    params: ParameterSet,
    *,
    n_patients: int | None = None,
    y0: np.ndarray | None = None,
    t0: float = 0.0,
    solver: Any = None,
    saveat: SaveAt,
    controller: StepController | None = None,
    schedule: Schedule | None = None,
    decisions: DecisionPoints | None = None,
    seed: int | None = None,
) -> Solution:
    """Solve ``model`` for a batch of patients.

    Parameters
    ----------
    model: the model (terms).
    params: its parameters; per-patient arrays define the batch size.
    n_patients: batch size when every parameter is a scalar.
    y0: state-major initial state (n_states, n_patients); default ``model.initial_state``.
    t0: start time (days), e.g. -5 for the first lymphodepletion day.
    solver: :class:`Rosenbrock4` (default) or :class:`ScipyReference`.
    saveat: times to record (after scheduled doses at that time, before the policy's doses).
    controller: tolerances and step limits.
    schedule: scheduled doses.
    decisions: decision points and the policy consulted at each.
    seed: recorded in the provenance (the engine itself is deterministic).
    """
    solver = solver or Rosenbrock4()
    controller = controller or StepController()
    schedule = schedule or Schedule()
    if params.n_patients is not None:
        if n_patients not in (None, params.n_patients):
            raise ValidationError("n_patients", f"{params.n_patients} (the length of the parameter arrays)", n_patients)
        n_patients = params.n_patients
    n_patients = 1 if n_patients is None else n_patients
    if not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise ValidationError("n_patients", "a positive integer", n_patients)
    params = params.broadcast(n_patients)
    names = model.state_names()
    for dose in schedule.doses:
        if dose.state not in names:
            raise ValidationError(f"dose[{dose.label or dose.state}].state", "one of " + ", ".join(names), dose.state)
    y = model.initial_state(params, n_patients) if y0 is None else np.array(y0, dtype=float, copy=True)
    if y.shape != (len(names), n_patients):
        raise ValidationError("y0", f"an array of shape ({len(names)}, {n_patients})", y.shape)
    save = np.asarray(saveat.days)
    if save[0] < t0:
        raise ValidationError("saveat.days", f"times at or after t0={t0}", save[0])
    t_end = float(save[-1])
    decision_times = decisions.times(t0, t_end) if decisions is not None else np.zeros(0)
    boundaries = np.unique(np.concatenate([[t0], save, schedule.times(), decision_times]))
    boundaries = boundaries[(boundaries >= t0) & (boundaries <= t_end)]

    atol = controller.atol_vector(names)
    bp = model.breakpoints(params, n_patients)
    state = IntegrationState(
        status=np.zeros(n_patients, dtype=np.int8),
        h=np.full(n_patients, controller.first_step_day),
        steps=np.zeros(n_patients, dtype=np.int64),
        breakpoints=None if bp is None else np.asarray(bp, dtype=float),
    )
    p_ns = namespace(params)
    extinction = model.extinction_rules()
    is_decision = set(np.round(decision_times, 10).tolist())
    save_index = {round(float(s), 10): k for k, s in enumerate(save)}
    ys = np.full((n_patients, save.size, len(names)), np.nan)
    events: list[dict[str, Any]] = []

    def apply(dose: Dose) -> None:
        amount = np.broadcast_to(np.asarray(dose.amount, dtype=float), (n_patients,))
        alive = state.status == SolveStatus.SUCCESS
        y[model.state_index(dose.state)] += np.where(alive, amount, 0.0)
        given = np.flatnonzero(alive & (amount > 0))
        if given.size:
            events.append({"day": dose.time_day, "event": dose.label or dose.state, "state": dose.state, "patients": given})

    # A boundary with no scheduled dose, before the end, is a soft stop: engines with dense
    # output step through it and interpolate (a policy dose or an extinction there changes y,
    # and the engine restarts from it).
    hard = set(np.round(schedule.times(), 10).tolist()) | {round(t_end, 10)}
    t = float(boundaries[0])
    for k, tb in enumerate(boundaries):
        tb = float(tb)
        if k > 0:
            state.soft_stop = round(tb, 10) not in hard
            y = solver.advance(model, t, tb, y, params, controller, state, atol)
            t = tb
        key = round(tb, 10)
        if key in is_decision:
            for i, floor, zeroed in extinction:
                gone = y[i] < floor
                for j in zeroed:
                    y[j] = np.where(gone, 0.0, y[j])
        due = schedule.at(tb)
        settings = [(d, _setting_value(d, y, p_ns, n_patients)) for d in due if isinstance(d, Setting)]
        for dose in due:
            if not isinstance(dose, Setting):
                apply(dose)
        for setting, value in settings:
            i = model.state_index(setting.state)
            y[i] = np.where(state.status == SolveStatus.SUCCESS, value, y[i])
            events.append({"day": tb, "event": setting.label or setting.state, "state": setting.state,
                           "patients": np.flatnonzero(state.status == SolveStatus.SUCCESS)})
        # Saved after scheduled doses (the infusion shows at day 0) and before the policy acts:
        # the record is what the care team saw when it decided.
        if key in save_index:
            ys[:, save_index[key], :] = y.T
        if key in is_decision and decisions.policy is not None:
            obs = _observe(model, tb, y, p_ns)
            for dose in decisions.policy(tb, obs, y) or ():
                apply(Dose(tb, dose.state, dose.amount, dose.label))

    provenance = Provenance(
        model=model.name,
        model_version=model.version,
        engine=getattr(solver, "name", type(solver).__name__),
        seed=seed,
        rtol=controller.rtol,
        atol=float(np.max(atol)),
        parameters_sha256=parameters_digest(params.as_dict()),
    )
    return Solution(model, params, save, ys, state.status.copy(), state.steps.copy(), provenance, events)
