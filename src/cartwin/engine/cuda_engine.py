"""CUDA engine (prototype): the compiled Rosenbrock kernel, one GPU thread per patient (numba CUDA).

:class:`CudaRosenbrock` has the interface of :class:`~cartwin.engine.solvers.Rosenbrock4`
(``advance(model, t0, t1, y, p, controller, state, atol)``), so
``simulate(..., solver=CudaRosenbrock())`` works with doses, decision points, policies,
breakpoints, per-patient status and clipping. :func:`run_on_device` runs a whole course in
*one* kernel launch (each thread loops over its patient's segments, doses and extinction
checks), state kept on the device, and returns per-patient summaries: the path for 10^6-patient
runs (management policies are not called there), with the arguments of
:func:`cartwin.engine.jax_engine.run_on_device`.

Nothing here is a second copy of the model or of the method. The CUDA module is *generated*
from the sources the compiled CPU engine (:mod:`cartwin.engine.compiled`) is built from:

* the model class's own ``rhs``, compiled as it stands as a CUDA device function (called with
  ``self=None``, ``y`` a per-thread local array, ``p`` the patient's parameter record, ``xp`` a
  scalar namespace of device functions);
* that namespace is the text of :mod:`cartwin.engine._numba_xp` with ``@njit`` swapped for
  ``@cuda.jit(device=True)``;
* the exact Jacobian (:func:`cartwin.engine._codegen.jacobian_source`) and the static sparse LU
  (:func:`cartwin.engine._codegen.lu_source`) are the same generated text as on the CPU, compiled
  as device functions;
* the per-patient step is the text of :mod:`cartwin.engine._kernel_src` (the stages of the
  chosen tableau, :mod:`cartwin.engine.tableaus`, Rodas5P by default; error control,
  breakpoints, clipping, status codes, dense output through soft stops: line for line the CPU
  kernel's) with a
  short list of mechanical rewrites (:data:`KERNEL_REWRITES`): decorators to device functions,
  ``np.empty(n)`` to ``cuda.local.array`` of the model's (literal) size, ``np.inf``/
  ``np.isfinite``/``np.power``/``np.nextafter`` to their scalar ``math``/libdevice forms,
  ``numba.literal_unroll`` to the CUDA target's. Every
  rewrite must match the template or generation fails (tested), so a change of the template
  cannot silently leave the two engines apart. Only the launchers (one thread = one patient)
  are written here.

Status: tested on numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``; pure Python, slow) against
:class:`~cartwin.engine.compiled.NumbaRosenbrock`: same steps, same states to round-off; the
generated kernels compile to PTX with NVVM (see docs/gpu.md). Not yet run on a GPU.

numba is optional (``pip install "cartwin[fast]"``); a GPU run needs the CUDA driver and NVVM
(e.g. ``pip install numba-cuda nvidia-cuda-nvcc-cu12``; see docs/gpu.md).
"""

from __future__ import annotations

import hashlib
import inspect
import types
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np

from cartwin.engine.compiled import RHS_BINDING, KernelOptions, carried, carry_arrays
from cartwin.engine.tableaus import MAX_STAGES
from cartwin.foundation.errors import CartwinError, ValidationError

#: (old, new) text rewrites that turn the CPU per-patient kernel template
#: (:mod:`cartwin.engine._kernel_src`) into CUDA device code. ``{N}``, ``{NV}``, ``{NJ}``, ``{S}``
#: are the number of states, LU values, Jacobian entries and stages of the largest method
#: (literals: local arrays need a static size).
#: Each ``old`` must occur in the template.
KERNEL_REWRITES: tuple[tuple[str, str], ...] = (
    ("from numba import njit, prange\n", "import math\nfrom numba import cuda\n"),
    ("from cartwin.engine import _numba_xp as xp\n", "xp = _cuda_xp  # set by cartwin.engine.cuda_engine\n"),
    ("@njit(**opts)\n", "@cuda.jit(device=True)\n"),
    ("np.empty(n, dtype=np.int64)", "cuda.local.array({N}, numba.int64)"),
    ("np.empty((max_stages, n))", "cuda.local.array(({S}, {N}), numba.float64)"),
    ("np.empty((n, n))", "cuda.local.array(({N}, {N}), numba.float64)"),
    ("np.empty(n_values)", "cuda.local.array({NV}, numba.float64)"),
    ("np.empty(col_rows.shape[0])", "cuda.local.array({NJ}, numba.float64)"),
    ("np.empty(n)", "cuda.local.array({N}, numba.float64)"),
    ("numba.literal_unroll(", "_literal_unroll("),
    ("np.nextafter(", "_nextafter("),
    ("np.inf", "math.inf"),
    ("np.isfinite(", "math.isfinite("),
    ("np.power(", "math.pow("),
)

#: Where the CPU template's parallel launchers start: the CUDA module replaces them.
LAUNCHERS_START = "@njit(parallel=True"

#: The same for the scalar namespace (:mod:`cartwin.engine._numba_xp`).
XP_REWRITES: tuple[tuple[str, str], ...] = (
    ("from numba import njit\n", "from numba import cuda\n"),
    ("@njit(**_opts)\n", "@cuda.jit(device=True)\n"),
)

_PRELUDE = '''
# --- CUDA: literal_unroll (NVIDIA's numba-cuda types its own), nextafter (libdevice on the
# GPU; Python's in the simulator) -------------------------------------------------------------
_literal_unroll = getattr(cuda, "literal_unroll", numba.literal_unroll)
if numba.config.ENABLE_CUDASIM:
    _nextafter = math.nextafter
else:
    from numba.cuda import libdevice as _libdevice

    _nextafter = _libdevice.nextafter
'''

_LAUNCHERS = '''
# --- CUDA launchers: one thread per patient (cartwin.engine.cuda_engine) ---------------------
# soft and the carry-over arrays (t_ret, y_ret, t_prev, t_int, y_prev, y_int, dense) are the CPU
# engine's dense output through soft stops (see _kernel_src.advance_patients), kept on the device.
@cuda.jit
def advance_kernel(y, t0, t1, h_state, status, steps, dense_steps, recs, bps, atol, nonneg, rtol,
                   min_step, max_steps, rel_step, group_ptr, group_cols, col_ptr, col_rows, lu, sparse_lu,
                   max_multiplier, exact_jac, soft, t_ret, y_ret, t_prev, t_int, y_prev, y_int, dense):
    i = cuda.grid(1)
    if i < y.shape[1]:
        advance_patients(y, i, i + 1, t0, t1, h_state, status, steps, dense_steps, recs, bps, atol,
                         nonneg, rtol, min_step, max_steps, rel_step, group_ptr, group_cols, col_ptr,
                         col_rows, lu, sparse_lu, max_multiplier, exact_jac, soft, t_ret, y_ret, t_prev,
                         t_int, y_prev, y_int, dense)


@cuda.jit
def course_kernel(y, h_state, status, steps, dense_steps, recs, bps, atol, nonneg, rtol, min_step,
                  max_steps, rel_step, group_ptr, group_cols, col_ptr, col_rows, lu, sparse_lu,
                  max_multiplier, exact_jac, boundaries, decision, dose_ptr, dose_state, dose_amount,
                  floor, linked, summary, best, best_day, soft, t_ret, y_ret, t_prev, t_int, y_prev, y_int, dense):
    # A whole course per thread: segments between boundaries, extinction at decision points
    # (states below `floor` set to 0, with the state `linked` names, if any), scheduled doses to patients still solving, and the
    # running maximum of state `summary` at boundaries from day 0 (as jax_engine.run_on_device).
    i = cuda.grid(1)
    if i >= y.shape[1]:
        return
    t = boundaries[0]
    for b in range(boundaries.shape[0]):
        tb = boundaries[b]
        if tb > t:
            advance_patients(y, i, i + 1, t, tb, h_state, status, steps, dense_steps, recs, bps, atol,
                             nonneg, rtol, min_step, max_steps, rel_step, group_ptr, group_cols, col_ptr,
                             col_rows, lu, sparse_lu, max_multiplier, exact_jac, soft[b], t_ret, y_ret,
                             t_prev, t_int, y_prev, y_int, dense)
            t = tb
        if decision[b]:
            for k in range(y.shape[0]):
                if y[k, i] < floor[k]:
                    y[k, i] = 0.0
                    if linked[k] >= 0:
                        y[linked[k], i] = 0.0
        for q in range(dose_ptr[b], dose_ptr[b + 1]):
            if status[i] == 0:
                y[dose_state[q], i] += dose_amount[q, i]
        if tb >= 0.0:
            v = y[summary, i]
            if v > best[i]:
                best[i] = v
                best_day[i] = tb
'''

_RHS = '''
# --- generated: exact Jacobian (or a stub), perhaps the rhs with hoisted parameter expressions,
# and the static LU (cartwin.engine._codegen) --------------------------------------------------
'''

_TAIL = f'''
# The generated rhs where there is one, else the model's own, as a device function.
# `_model_cls` and `_cuda_xp` are set in this module's namespace by cartwin.engine.cuda_engine.
_rhs = cuda.jit(device=True)({RHS_BINDING})
_jac = cuda.jit(device=True)(jacobian_values)
_lu_factor = cuda.jit(device=True)(lu_factor_gen)
_lu_solve = cuda.jit(device=True)(lu_solve_gen)
'''


def _cuda():
    try:
        from numba import cuda
    except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without numba
        raise CartwinError("the CUDA engine needs numba: pip install 'cartwin[fast]' (and numba-cuda for GPUs)") from exc
    return cuda


def simulator() -> bool:
    """Whether numba's CUDA target is the simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    import numba

    return bool(numba.config.ENABLE_CUDASIM)


def _rewrite(text: str, rewrites, what: str, sizes: dict[str, int] | None = None) -> str:
    for old, new in rewrites:
        if old not in text:
            raise CartwinError(f"CUDA engine: the {what} template no longer contains {old!r}; "
                               "update cartwin.engine.cuda_engine's rewrites")
        text = text.replace(old, new.format(**sizes) if sizes else new)
    return text


def cuda_xp_source() -> str:
    """Source of the CUDA scalar namespace: :mod:`cartwin.engine._numba_xp` as device functions."""
    from cartwin.engine import _numba_xp

    return _rewrite(inspect.getsource(_numba_xp), XP_REWRITES, "_numba_xp")


def cuda_kernel_source(generated_src: str, n_states: int, n_values: int, n_jac: int) -> str:
    """Source of the CUDA module for one model: rewritten template + rhs + generated code + launchers.

    ``generated_src``: the Jacobian (or stub) and LU text the CPU engine compiles
    (``NumbaRosenbrock.structure``)."""
    from cartwin.engine import _kernel_src

    text = inspect.getsource(_kernel_src)
    cut = text.find(LAUNCHERS_START)
    if cut < 0:
        raise CartwinError(f"CUDA engine: the kernel template no longer contains {LAUNCHERS_START!r}")
    body = _rewrite(text[:cut], KERNEL_REWRITES, "_kernel_src",
                    {"N": n_states, "NV": n_values, "NJ": max(1, n_jac), "S": MAX_STAGES})
    leftover = [w for w in ("np.", "njit", "prange") if w in body[body.find("@cuda.jit"):]]
    if leftover:
        raise CartwinError(f"CUDA engine: the kernel template uses {leftover} that have no CUDA rewrite")
    return (body + _PRELUDE + _LAUNCHERS + _RHS + "import math  # noqa: E402\n\n" + generated_src + _TAIL)


def _load(name: str, text: str, **namespace) -> types.ModuleType:
    from cartwin.engine.compiled import load_generated

    return load_generated(name, text, "cuda", **namespace)


@lru_cache(maxsize=4)
def _xp_module(sim: bool) -> types.ModuleType:
    text = cuda_xp_source()
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return _load(f"cartwin_cuda_xp_{'sim_' if sim else ''}{digest}", text)


@lru_cache(maxsize=32)
def _module(model_cls: type, generated_src: str, n_states: int, n_values: int, n_jac: int, sim: bool):
    _cuda()
    text = cuda_kernel_source(generated_src, n_states, n_values, n_jac)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    name = f"cartwin_cuda_{model_cls.__name__}_{'sim_' if sim else ''}{digest}"
    return _load(name, text, _model_cls=model_cls, _cuda_xp=_xp_module(sim))


def _device_full(shape, value):
    """``np.full`` on the device (the allocator of compiled.carry_arrays for CUDA)."""
    return _cuda().to_device(np.full(shape, value))


@dataclass(frozen=True)
class CudaRosenbrock(KernelOptions):
    """The compiled kernel on a CUDA GPU, one thread per patient; the interface of :class:`Rosenbrock4`.

    The options are :class:`~cartwin.engine.compiled.KernelOptions`, as for
    :class:`~cartwin.engine.compiled.NumbaRosenbrock` (the same generated Jacobian and LU, the
    same method and dense output through soft stops, kept on the device);
    ``threads_per_block``: CUDA block size.

    Example (on numba's CUDA simulator, or a GPU)::

        from cartwin.engine.cuda_engine import CudaRosenbrock
        r = simulate_course(Regimen("axi-cel", "lbcl"), days=28, solver=CudaRosenbrock())
    """

    target: ClassVar[str] = "cuda"

    threads_per_block: int = 128
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def _cpu_twin(self):
        from cartwin.engine.compiled import NumbaRosenbrock

        twin = self._cache.get("twin")
        if twin is None:
            twin = self._cache["twin"] = NumbaRosenbrock(**self.kernel_options())
        return twin

    def generated_module(self, model, p):
        """The generated CUDA module for ``model`` and the host structure arrays (no GPU needed).

        Returns ``(module, (group_ptr, group_cols, col_ptr, col_rows, lu), exact_jac)``; the
        structure and the generated Jacobian/LU text are the CPU engine's own."""
        arrays, jac_source, generated = self._cpu_twin().structure(model, p)
        col_rows, lu = arrays[3], arrays[4]
        module = _module(type(model), generated, len(model.states), int(lu[14].shape[0]), int(col_rows.shape[0]),
                         simulator())
        return module, arrays, jac_source is not None

    def prepared(self, model, p):
        """The generated module and the device copies of the Jacobian/LU structure for ``model``.

        Returns ``(module, structure, exact_jac)`` where ``structure`` is
        ``(group_ptr, group_cols, col_ptr, col_rows, lu)`` on the device."""
        cuda = _cuda()
        key = ("prepared", type(model))
        hit = self._cache.get(key)
        if hit is None:
            module, arrays, exact = self.generated_module(model, p)

            def dev(a):  # no zero-size device arrays
                return cuda.to_device(a if a.size else np.zeros(1, dtype=np.int64))

            group_ptr, group_cols, col_ptr, col_rows, lu = arrays
            structure = (dev(group_ptr), dev(group_cols), dev(col_ptr), dev(col_rows), tuple(dev(a) for a in lu))
            hit = (module, structure, exact)
            self._cache[key] = hit
        return hit

    def _records(self, model, p, n_patients: int):
        from cartwin.engine.compiled import parameter_records

        hit = self._cache.get("records")
        if hit is not None and hit[0] is p and hit[2] is type(model) and hit[1].shape[0] == n_patients:
            return hit[1]
        derived = self._cpu_twin().derived_parameters(model, p)
        recs = _cuda().to_device(np.ascontiguousarray(parameter_records(p, n_patients, derived)))
        self._cache["records"] = (p, recs, type(model))
        return recs

    def _launch(self, kernel, n_p: int, *args) -> None:
        tpb = max(1, min(int(self.threads_per_block), n_p))
        kernel[(n_p + tpb - 1) // tpb, tpb](*args)

    def advance(self, model, t0, t1, y, p, controller, state, atol):
        cuda = _cuda()
        n_s, n_p = y.shape
        module, structure, exact = self.prepared(model, p)
        recs = self._records(model, p, n_p)
        bps = np.full((1, n_p), np.inf) if state.breakpoints is None else np.ascontiguousarray(state.breakpoints, dtype=float)
        if bps.shape[0] == 0:
            bps = np.full((1, n_p), np.inf)  # never ahead: the same as no breakpoint
        nonneg = np.array([s.nonnegative for s in model.states], dtype=np.bool_)
        d_y = cuda.to_device(np.ascontiguousarray(y, dtype=float))
        d_h = cuda.to_device(np.ascontiguousarray(state.h, dtype=float))
        d_status = cuda.to_device(state.status)
        d_steps = cuda.to_device(state.steps)
        d_dense = cuda.to_device(np.zeros(n_p, dtype=np.int64))
        self._launch(module.advance_kernel, n_p, d_y, float(t0), float(t1), d_h, d_status, d_steps, d_dense, recs,
                     cuda.to_device(bps), cuda.to_device(np.ascontiguousarray(atol, dtype=float)),
                     cuda.to_device(nonneg), float(controller.rtol), float(controller.min_step_day),
                     int(controller.max_steps), float(self.jacobian_rel_step), *structure, bool(self.sparse_lu),
                     float(self.max_multiplier), exact, self.steps_through(state),
                     *carried(state, "cuda", n_s, n_p, _device_full))
        y[...] = d_y.copy_to_host()
        state.h[:] = d_h.copy_to_host()
        state.status[:] = d_status.copy_to_host()
        state.steps[:] = d_steps.copy_to_host()
        self._cache["dense_lu_steps"] = self._cache.get("dense_lu_steps", 0) + int(d_dense.copy_to_host().sum())
        return y

    def dense_lu_steps(self) -> int:
        """Steps (all calls so far) that used the dense LU fallback (see NumbaRosenbrock)."""
        return int(self._cache.get("dense_lu_steps", 0))


def run_on_device(model, params, y0, *, t0, t_end, boundaries, doses, decision_days, rtol, atol,
                  summary_state: str, first_step_day: float = 1e-3, max_steps: int = 1_000_000,
                  min_step_day: float = 1e-12, solver: CudaRosenbrock | None = None, timings: dict | None = None):
    """Whole course in one CUDA launch; per-patient (max, day of max, final) of one state.

    Same arguments and result as :func:`cartwin.engine.jax_engine.run_on_device`: ``doses`` maps
    a boundary time to a list of ``(state_index, amount array)``; extinction thresholds apply at
    ``decision_days``; the maximum is taken at boundaries from day 0. ``t0``/``t_end`` are
    implied by ``boundaries`` (kept for the common signature). ``timings``, if given, receives
    ``prepare_s`` (generation, compilation on first use, transfers in) and ``kernel_s``.
    """
    import time

    cuda = _cuda()
    solver = solver or CudaRosenbrock()
    started = time.perf_counter()
    n_s, n_p = y0.shape
    params = params.broadcast(n_p)
    module, structure, exact = solver.prepared(model, params)
    recs = solver._records(model, params, n_p)
    bp = model.breakpoints(params, n_p)
    bps = np.full((1, n_p), np.inf) if bp is None or np.asarray(bp).shape[0] == 0 else np.ascontiguousarray(bp, dtype=float)
    boundaries = np.asarray(boundaries, dtype=float)
    decisions = set(np.round(np.asarray(decision_days, dtype=float), 10).tolist())
    decision = np.array([round(float(tb), 10) in decisions for tb in boundaries], dtype=np.bool_)
    # As simulate(): a boundary without a dose, before the last, is stepped through (dense output).
    soft = np.array([solver.interpolates and not doses.get(float(tb)) and b < boundaries.size - 1
                     for b, tb in enumerate(boundaries)], dtype=np.bool_)
    dose_ptr, dose_state, dose_rows = [0], [], []
    for tb in boundaries:
        for state_index, amount in doses.get(float(tb), ()):
            dose_state.append(int(state_index))
            dose_rows.append(np.broadcast_to(np.asarray(amount, dtype=float), (n_p,)))
        dose_ptr.append(len(dose_state))
    dose_amount = np.ascontiguousarray(np.stack(dose_rows)) if dose_rows else np.zeros((1, n_p))
    floor = np.full(n_s, -np.inf)
    linked = np.full(n_s, -1, dtype=np.int64)
    for i, below, zeroed in model.extinction_rules():
        if len(zeroed) > 2:
            raise ValidationError("model.states", "at most one state extinguished with another on the CUDA engine",
                                  model.states[i].extinguishes)
        floor[i] = below
        if len(zeroed) == 2:
            linked[i] = zeroed[1]
    nonneg = np.array([s.nonnegative for s in model.states], dtype=np.bool_)
    k = model.state_index(summary_state)
    d_y = cuda.to_device(np.ascontiguousarray(y0, dtype=float))
    d_h = cuda.to_device(np.full(n_p, float(first_step_day)))
    d_status = cuda.to_device(np.zeros(n_p, dtype=np.int8))
    d_steps = cuda.to_device(np.zeros(n_p, dtype=np.int64))
    d_dense = cuda.to_device(np.zeros(n_p, dtype=np.int64))
    d_best = cuda.to_device(np.full(n_p, -np.inf))
    d_best_day = cuda.to_device(np.zeros(n_p))
    args = (d_y, d_h, d_status, d_steps, d_dense, recs, cuda.to_device(bps),
            cuda.to_device(np.ascontiguousarray(atol, dtype=float)), cuda.to_device(nonneg), float(rtol),
            float(min_step_day), int(max_steps), float(solver.jacobian_rel_step), *structure, bool(solver.sparse_lu),
            float(solver.max_multiplier), exact, cuda.to_device(boundaries), cuda.to_device(decision),
            cuda.to_device(np.asarray(dose_ptr, dtype=np.int64)),
            cuda.to_device(np.asarray(dose_state or [0], dtype=np.int64)), cuda.to_device(dose_amount),
            cuda.to_device(floor), cuda.to_device(linked), int(k), d_best, d_best_day, cuda.to_device(soft), *carry_arrays(n_s, n_p, _device_full))
    cuda.synchronize()
    launched = time.perf_counter()
    solver._launch(module.course_kernel, n_p, *args)
    cuda.synchronize()
    done = time.perf_counter()
    y = d_y.copy_to_host()
    if timings is not None:
        timings["prepare_s"] = launched - started
        timings["kernel_s"] = done - launched
    return {
        "max": d_best.copy_to_host(),
        "day_of_max": d_best_day.copy_to_host(),
        "final": y[k].copy(),
        "y": y,
        "status": d_status.copy_to_host(),
        "steps": d_steps.copy_to_host(),
        "dense_lu_steps": d_dense.copy_to_host(),
    }
