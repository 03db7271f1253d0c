"""Solvers: a batched Rosenbrock method (fast path) and a scipy reference.

Both expose ``advance(model, t0, t1, y, p, controller, state)``, which moves every patient
whose status is still SUCCESS from ``t0`` to ``t1`` (a segment with no event inside), stopping
at the model's breakpoints. ``y`` is state-major, shape (n_states, n_patients).

Rosenbrock4 runs a Rosenbrock tableau of :mod:`cartwin.engine.tableaus` batched over patients;
by default Shampine's fourth-order method with an embedded third-order error estimate
(Shampine LF. Implementation of Rosenbrock methods. ACM Trans Math Softw 1982;8:93-113).
Every patient has its own time and step size, so a patient's trajectory does not depend on
which other patients share its batch. The step-size controller's constants below are shared by
the compiled and JAX engines.

May import NumPy, SciPy, :mod:`cartwin.foundation` and :mod:`cartwin.engine.tableaus`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from cartwin.engine.tableaus import tableau
from cartwin.foundation.errors import SolveStatus

_SAFETY, _GROW, _SHRINK = 0.9, 4.0, 0.2


@dataclass
class IntegrationState:
    """Per-patient bookkeeping carried across segments."""

    status: np.ndarray
    h: np.ndarray
    steps: np.ndarray
    breakpoints: np.ndarray | None = None  # (k, n_patients)
    # The segment's end may be passed and its state interpolated (a decision or save time with
    # no scheduled dose; see simulate). Solvers with dense output use it, others stop there.
    soft_stop: bool = False
    carry: dict = field(default_factory=dict)  # solver-owned data kept between segments


def namespace(p, index=None) -> SimpleNamespace:
    """Plain attribute namespace of parameter arrays (the inner loop skips validation)."""
    values = {}
    for k, v in p.items():
        arr = np.asarray(v, dtype=float)
        values[k] = arr[index] if (index is not None and arr.ndim == 1) else arr
    return SimpleNamespace(**values)


def _tile(ns: SimpleNamespace, reps: int) -> SimpleNamespace:
    return SimpleNamespace(**{k: (np.tile(v, reps) if v.ndim == 1 else v) for k, v in vars(ns).items()})


def _stops(t: np.ndarray, t1: float, breakpoints: np.ndarray | None, index: np.ndarray) -> np.ndarray:
    stop = np.full(t.shape, t1)
    if breakpoints is not None:
        bp = breakpoints[:, index]
        ahead = np.where(bp > t[None, :] + 1e-12, bp, np.inf)
        stop = np.minimum(stop, ahead.min(axis=0))
    return stop


@dataclass(frozen=True)
class Rosenbrock4:
    """Batched Rosenbrock solver (NumPy), per-patient adaptive steps.

    ``method``: a tableau of :mod:`cartwin.engine.tableaus` (default ``shampine4``, Shampine's
    order-4 method; ``rodas5p`` and ``rodas4`` are those of the compiled engines, without their
    dense output). The Jacobian is taken by forward differences of the model's ``rhs`` for all
    states and patients in one vectorised call.
    """

    name: str | None = None  # default: "rosenbrock4-numpy" for shampine4, "<method>-numpy" otherwise
    jacobian_rel_step: float = 1e-7
    method: str = "shampine4"

    def __post_init__(self) -> None:
        tableau(self.method)  # a clear error for an unknown method
        if self.name is None:
            object.__setattr__(self, "name", "rosenbrock4-numpy" if self.method == "shampine4" else f"{self.method}-numpy")

    def _rhs(self, model, t, y, p):
        out = model.rhs(t, y, p, np)
        arr = np.empty((len(out),) + y.shape[1:])
        for i, d in enumerate(out):
            arr[i] = d  # broadcasts scalar derivatives
        return arr

    def _jacobian(self, model, t, y, f0, p_tiled, atol):
        n_s, n_p = y.shape
        delta = self.jacobian_rel_step * np.maximum(np.abs(y), atol[:, None] * 1e3 + 1e-12)
        # Perturbed copies: block j perturbs state j for every patient.
        yy = np.tile(y, (1, n_s))
        for j in range(n_s):
            yy[j, j * n_p:(j + 1) * n_p] += delta[j]
        tt = np.tile(t, n_s)
        ff = self._rhs(model, tt, yy, p_tiled)  # (n_s, n_s * n_p)
        jac = (ff.reshape(n_s, n_s, n_p) - f0[:, None, :]) / delta[None, :, :]
        return np.moveaxis(jac, 2, 0)  # (n_p, n_s, n_s): jac[p, i, j] = d f_i / d y_j

    def advance(self, model, t0, t1, y, p, controller, state: IntegrationState, atol):
        n_s, n_total = y.shape
        t = np.full(n_total, float(t0))
        rtol = controller.rtol
        tab = tableau(self.method)
        new_evaluation = tab.new_evaluation
        eye = np.eye(n_s)
        nonneg = np.array([s.nonnegative for s in model.states])
        working = np.flatnonzero(state.status == SolveStatus.SUCCESS)
        cache_key = None
        ns = tiled = None
        while working.size:
            if cache_key is None or cache_key.size != working.size or not np.array_equal(cache_key, working):
                ns = namespace(p, working)
                tiled = _tile(ns, n_s)
                cache_key = working.copy()
            tw = t[working]
            yw = y[:, working]
            stop = _stops(tw, t1, state.breakpoints, working)
            h = np.minimum(state.h[working], stop - tw)
            # Stage times never reach a breakpoint from the left (piecewise rhs stay on their piece).
            t_left = np.nextafter(stop, -np.inf)

            f0 = self._rhs(model, tw, yw, ns)
            jac = self._jacobian(model, tw, yw, f0, tiled, atol)
            mat = eye[None] / (tab.gamma * h)[:, None, None] - jac
            inv = np.linalg.inv(mat)

            def solve(rhs_vec, inv=inv):
                # Row-wise products summed along a fixed-length axis: a patient's result is
                # bit-identical whatever the batch around it (einsum/BLAS may reorder sums).
                return (inv * rhs_vec.T[:, None, :]).sum(axis=2).T

            # Stages in C form (tableaus module docstring); each sum in stage order, as the
            # compiled kernel sums it.
            stages = []
            f_stage = f0
            for i in range(tab.stages):
                if new_evaluation[i]:
                    arg = yw
                    for j in range(i):
                        arg = arg + tab.a[i, j] * stages[j]
                    f_stage = self._rhs(model, np.minimum(tw + tab.c_time[i] * h, t_left), arg, ns)
                coupling = 0.0
                for j in range(i):
                    coupling = coupling + tab.c_matrix[i, j] * stages[j]
                stages.append(solve(f_stage + coupling / h))
            y_new = yw
            err_vec = 0.0
            for j, stage in enumerate(stages):
                y_new = y_new + tab.b[j] * stage
                err_vec = err_vec + tab.e[j] * stage
            scale = atol[:, None] + rtol * np.maximum(np.abs(yw), np.abs(y_new))
            err = np.max(np.abs(err_vec) / scale, axis=0)
            finite = np.all(np.isfinite(y_new), axis=0) & np.isfinite(err)
            err = np.where(finite, err, np.inf)
            accept = err <= 1.0

            # Accepted steps: advance, keep non-negative states non-negative.
            acc = working[accept]
            y_acc = y_new[:, accept]
            y_acc[nonneg] = np.maximum(y_acc[nonneg], 0.0)
            y[:, acc] = y_acc
            reached = tw + h
            at_stop = np.isclose(reached, stop, rtol=0, atol=1e-12)
            t[acc] = np.where(at_stop, stop, reached)[accept]
            state.steps[working] += 1

            factor = np.where(
                err > 0,
                _SAFETY * np.power(np.maximum(err, 1e-300), -1.0 / (tab.error_order + 1)),
                _GROW,
            )
            factor = np.clip(np.where(np.isfinite(factor), factor, _SHRINK), _SHRINK, _GROW)
            new_h = h * factor
            # After landing on a stop, keep the step the controller wanted, not the clipped one.
            keep = accept & at_stop & (h < state.h[working])
            new_h = np.where(keep, np.maximum(new_h, state.h[working]), new_h)
            state.h[working] = new_h

            too_small = (~accept) & (new_h < controller.min_step_day)
            state.status[working[too_small & ~finite]] = SolveStatus.NONFINITE_STATE
            state.status[working[too_small & finite]] = SolveStatus.STEP_SIZE_TOO_SMALL
            over = state.steps[working] >= controller.max_steps
            state.status[working[over & (state.status[working] == SolveStatus.SUCCESS)]] = SolveStatus.MAX_STEPS_REACHED

            done = t[working] >= t1 - 1e-12
            still = (~done) & (state.status[working] == SolveStatus.SUCCESS)
            working = working[still]
        return y


@dataclass(frozen=True)
class ScipyReference:
    """Reference path: ``scipy.integrate.solve_ivp`` one patient at a time (default Radau).

    Slow by design; used to check the fast engines at tight tolerance.
    """

    method: str = "Radau"
    name: str = field(default="scipy-reference")

    def advance(self, model, t0, t1, y, p, controller, state: IntegrationState, atol):
        from scipy.integrate import solve_ivp

        n_s, n_total = y.shape
        nonneg = np.array([s.nonnegative for s in model.states])
        for i in np.flatnonzero(state.status == SolveStatus.SUCCESS):
            ns = namespace(p, np.array([i]))
            cuts = [t0, t1]
            if state.breakpoints is not None:
                cuts += [b for b in state.breakpoints[:, i] if t0 < b < t1]
            cuts = sorted(set(cuts))
            yi = y[:, i].copy()
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                b_left = np.nextafter(b, -np.inf)

                def fun(tt, yy, b_left=b_left, ns=ns):
                    out = model.rhs(np.array([min(tt, b_left)]), yy[:, None], ns, np)
                    return np.array([np.asarray(d, dtype=float).reshape(-1)[0] for d in out])

                sol = solve_ivp(fun, (a, b), yi, method=self.method, rtol=controller.rtol, atol=atol)
                if not sol.success or not np.all(np.isfinite(sol.y[:, -1])):
                    state.status[i] = SolveStatus.NONFINITE_STATE if sol.success else SolveStatus.STEP_SIZE_TOO_SMALL
                    break
                yi = sol.y[:, -1]
                yi[nonneg] = np.maximum(yi[nonneg], 0.0)
                state.steps[i] += sol.t.size - 1
            y[:, i] = yi
        return y
