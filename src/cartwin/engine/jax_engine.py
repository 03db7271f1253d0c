"""JAX engine: a Rosenbrock method per patient, vectorised with ``jax.vmap`` (CPU or GPU).

Generated from the model's own ``rhs`` (called with ``xp = jax.numpy``), with the exact
Jacobian from ``jax.jacfwd`` — no second copy of the equations. The stages are those of a
tableau from :mod:`cartwin.engine.tableaus` (``method``: Rodas5P by default, as the compiled
engines; ``shampine4`` is the NumPy engine's method), unrolled when JAX traces the step; the
step-size control is Rosenbrock4's. Segments end on their stops (no dense output here). Two
entry points:

* :class:`JaxRosenbrock` — a solver for :func:`cartwin.engine.simulate` (NumPy in, NumPy out,
  policies at decision points as with every engine);
* :func:`run_on_device` — the whole course inside JAX with the state kept on the device and
  only per-patient summaries returned: the path for 10^6-patient runs on a GPU. Management
  policies are not called there (scheduled doses only).

JAX is optional: ``pip install "cartwin[gpu]"`` (or ``jax[cuda12]`` for NVIDIA GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cartwin.engine import solvers as _s
from cartwin.foundation.errors import CartwinError, SolveStatus


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without jax
        raise CartwinError("the JAX engine needs jax: pip install 'cartwin[gpu]' (CPU) or 'jax[cuda12]' (GPU)") from exc
    jax.config.update("jax_enable_x64", True)
    return jax, jnp


class _Attrs(dict):
    __getattr__ = dict.__getitem__


@lru_cache(maxsize=16)
def _kernels(model_cls, param_names: tuple[str, ...], nonneg: tuple[bool, ...], rtol: float, max_iterations: int,
             method: str = "rodas5p"):
    jax, jnp = _jax()
    from jax.scipy.linalg import lu_factor, lu_solve

    from cartwin.engine.tableaus import tableau

    tab = tableau(method)
    model = model_cls()
    n_s = len(model.states)
    eye = jnp.eye(n_s)
    nonneg_mask = jnp.asarray(nonneg)

    def f(t, y, pvec):
        p = _Attrs({name: pvec[i] for i, name in enumerate(param_names)})
        return jnp.stack([jnp.asarray(d, dtype=y.dtype) for d in model.rhs(t, y, p, jnp)])

    jac = jax.jacfwd(f, argnums=1)

    def attempt(t, y, h, pvec, stop, atol):
        h = jnp.minimum(h, stop - t)
        t_left = jnp.nextafter(stop, -jnp.inf)
        f_stage = f(t, y, pvec)
        lu = lu_factor(eye / (tab.gamma * h) - jac(t, y, pvec))

        def combine(start, coefs, ks):
            # Terms in stage order, as the other engines sum them; zero coefficients are left out
            # (the NumPy and compiled engines add 0 * k, which changes no finite value).
            out = start
            for c, k in zip(coefs, ks, strict=False):
                if c != 0.0:
                    out = c * k if out is None else out + c * k
            return out

        ks = []
        for i in range(tab.stages):
            if i > 0 and tab.new_evaluation[i]:
                f_stage = f(jnp.minimum(t + float(tab.c_time[i]) * h, t_left), combine(y, tab.a[i, :i], ks), pvec)
            c_sum = combine(None, tab.c_matrix[i, :i], ks)
            ks.append(lu_solve(lu, f_stage if c_sum is None else f_stage + c_sum / h))
        y_new = combine(y, tab.b, ks)
        err_vec = combine(None, tab.e, ks)
        scale = atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y_new))
        err = jnp.max(jnp.abs(err_vec) / scale)
        finite = jnp.all(jnp.isfinite(y_new)) & jnp.isfinite(err)
        err = jnp.where(finite, err, jnp.inf)
        return h, y_new, err, finite

    def advance_one(y, t0, t1, h, pvec, bps, atol, min_step, status, steps, max_steps):
        def next_stop(t):
            ahead = jnp.where(bps > t + 1e-12, bps, jnp.inf)
            return jnp.minimum(t1, jnp.min(ahead, initial=jnp.inf))

        def cond(c):
            t, y, h, status, steps, it = c
            return (t < t1 - 1e-12) & (status == 0) & (it < max_iterations)

        def body(c):
            t, y, h_wanted, status, steps, it = c
            stop = next_stop(t)
            h, y_new, err, finite = attempt(t, y, h_wanted, pvec, stop, atol)
            accept = err <= 1.0
            y_acc = jnp.where(nonneg_mask, jnp.maximum(y_new, 0.0), y_new)
            reached = t + h
            at_stop = jnp.abs(reached - stop) <= 1e-12
            t = jnp.where(accept, jnp.where(at_stop, stop, reached), t)
            y = jnp.where(accept, y_acc, y)
            factor = jnp.where(err > 0, _s._SAFETY * jnp.power(jnp.maximum(err, 1e-300), -1.0 / (tab.error_order + 1)),
                               _s._GROW)
            factor = jnp.clip(jnp.where(jnp.isfinite(factor), factor, _s._SHRINK), _s._SHRINK, _s._GROW)
            new_h = h * factor
            keep = accept & at_stop & (h < h_wanted)
            new_h = jnp.where(keep, jnp.maximum(new_h, h_wanted), new_h)
            steps = steps + 1
            too_small = (~accept) & (new_h < min_step)
            status = jnp.where(too_small, jnp.where(finite, SolveStatus.STEP_SIZE_TOO_SMALL, SolveStatus.NONFINITE_STATE), status)
            status = jnp.where((status == 0) & (steps >= max_steps), SolveStatus.MAX_STEPS_REACHED, status)
            return t, y, new_h, status, steps, it + 1

        t = jnp.asarray(t0, dtype=y.dtype)
        out = jax.lax.while_loop(cond, body, (t, y, h, status, steps, 0))
        return out[1], out[2], out[3], out[4]

    batched = jax.vmap(advance_one, in_axes=(0, None, None, 0, 0, 0, None, None, 0, 0, None))
    return jax.jit(batched), f


@dataclass(frozen=True)
class JaxRosenbrock:
    """A Rosenbrock method in JAX, vmapped over patients; the interface of :class:`Rosenbrock4`.

    ``method``: a tableau of :mod:`cartwin.engine.tableaus` (default ``"rodas5p"``)."""

    name: str | None = None
    max_iterations: int = 1_000_000
    method: str = "rodas5p"

    def __post_init__(self):
        from cartwin.engine.tableaus import tableau

        tableau(self.method)
        if self.name is None:
            object.__setattr__(self, "name", f"{self.method}-jax")

    def advance(self, model, t0, t1, y, p, controller, state, atol):
        jax, jnp = _jax()
        names = tuple(p.keys())
        kernel, _ = _kernels(type(model), names, tuple(s.nonnegative for s in model.states), float(controller.rtol),
                             self.max_iterations, self.method)
        n_p = y.shape[1]
        pmat = np.stack([np.broadcast_to(np.asarray(p[k], dtype=float), (n_p,)) for k in names], axis=1)
        bps = np.full((n_p, 1), np.inf) if state.breakpoints is None else state.breakpoints.T
        ys, h, status, steps = kernel(
            jnp.asarray(y.T), float(t0), float(t1), jnp.asarray(state.h), jnp.asarray(pmat), jnp.asarray(bps),
            jnp.asarray(atol), float(controller.min_step_day), jnp.asarray(state.status.astype(np.int32)),
            jnp.asarray(state.steps), int(controller.max_steps),
        )
        working = state.status == SolveStatus.SUCCESS
        out = np.asarray(ys).T
        y[:, working] = out[:, working]
        state.h[working] = np.asarray(h)[working]
        state.status[:] = np.asarray(status).astype(state.status.dtype)
        state.steps[:] = np.asarray(steps)
        return y


def run_on_device(model, params, y0, *, t0, t_end, boundaries, doses, decision_days, rtol, atol,
                  summary_state: str, first_step_day: float = 1e-3, max_steps: int = 1_000_000,
                  min_step_day: float = 1e-12, method: str = "rodas5p"):
    """Whole course on the JAX device; returns per-patient (max, day of max, final) of one state.

    ``doses``: dict boundary_time -> list of (state_index, amount array). State never leaves the
    device between segments; extinction thresholds apply at ``decision_days``.
    """
    jax, jnp = _jax()
    names = tuple(params.keys())
    kernel, _ = _kernels(type(model), names, tuple(s.nonnegative for s in model.states), float(rtol), 10_000_000,
                         method)
    n_p = y0.shape[1]
    pmat = jnp.asarray(np.stack([np.broadcast_to(np.asarray(params[k], dtype=float), (n_p,)) for k in names], axis=1))
    bp = model.breakpoints(params, n_p)
    bps = jnp.asarray(np.full((n_p, 1), np.inf) if bp is None else np.asarray(bp).T)
    y = jnp.asarray(y0.T)
    h = jnp.full(n_p, first_step_day)
    status = jnp.zeros(n_p, dtype=jnp.int32)
    steps = jnp.zeros(n_p, dtype=jnp.int64)
    atol_v = jnp.asarray(atol)
    k = model.state_index(summary_state)
    best = jnp.full(n_p, -jnp.inf)
    best_day = jnp.zeros(n_p)
    extinction = model.extinction_rules()
    decisions = set(np.round(decision_days, 10).tolist())
    t = float(boundaries[0])
    for tb in boundaries:
        tb = float(tb)
        if tb > t:
            y, h, status, steps = kernel(y, t, tb, h, pmat, bps, atol_v, min_step_day, status, steps, max_steps)
            t = tb
        if round(tb, 10) in decisions:
            for i, floor, zeroed in extinction:
                gone = y[:, i] < floor
                for j in zeroed:
                    y = y.at[:, j].set(jnp.where(gone, 0.0, y[:, j]))
        for i, amount in doses.get(tb, ()):
            y = y.at[:, i].add(jnp.where(status == 0, jnp.asarray(amount), 0.0))
        if tb >= 0:
            better = y[:, k] > best
            best = jnp.where(better, y[:, k], best)
            best_day = jnp.where(better, tb, best_day)
    jax.block_until_ready(y)
    return {
        "max": np.asarray(best),
        "day_of_max": np.asarray(best_day),
        "final": np.asarray(y[:, k]),
        "status": np.asarray(status),
        "steps": np.asarray(steps),
    }
