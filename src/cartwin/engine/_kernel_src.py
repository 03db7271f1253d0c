"""Per-patient Rosenbrock kernel: the source template of the compiled engines.

Not imported for use: :mod:`cartwin.engine.compiled` writes this text, followed by the lines
that bind ``_rhs`` to the numba-compiled ``rhs`` of one model class, the generated Jacobian and
LU, and the method's tableau (:mod:`cartwin.engine.tableaus`), into a generated module (one per
model class, model source version and method) so that numba's on-disk cache is keyed by all of
them. The ``_``-prefixed names below are those placeholders.

The stages are those of any tableau in C form (Hairer & Wanner's form; see
:mod:`cartwin.engine.tableaus`). Acceptance test, step-size control, breakpoints, clipping and
status codes are those of :class:`cartwin.engine.solvers.Rosenbrock4`, for one patient at a time;
with the ``shampine4`` tableau the kernel is that method.
"""

import numba
import numpy as np
from numba import njit, prange

from cartwin.engine import _numba_xp as xp
from cartwin.engine import solvers as _s
from cartwin.engine import tableaus as _t

_rhs = None  # replaced in the generated module by the model's compiled rhs
_jac = None  # replaced by the compiled exact Jacobian (cartwin.engine._codegen) or a stub
_lu_factor = None  # replaced by the generated static LU of the model's pattern (_codegen.lu_source)
_lu_solve = None
# The method (cartwin.engine.tableaus.RosenbrockTableau.source binds these).
_tab_gamma = None
_tab_a = _tab_c = _tab_t = _tab_b = _tab_e = _tab_new = _tab_h = None
_tab_exponent = None
max_stages = _t.MAX_STAGES

opts = {"cache": True, "error_model": "numpy", "nogil": True}
safety, grow, shrink = _s._SAFETY, _s._GROW, _s._SHRINK


@njit(**opts)
def evaluate(t, y, rec, out):
    k = 0
    for value in numba.literal_unroll(_rhs(None, t, y, rec, xp)):
        out[k] = value
        k += 1

@njit(**opts)
def lu_factor(a, piv):
    # In place, partial pivoting (Doolittle); a singular pivot yields inf/NaN, caught by
    # the finiteness test of the step.
    n = a.shape[0]
    for k in range(n):
        p = k
        big = abs(a[k, k])
        for i in range(k + 1, n):
            v = abs(a[i, k])
            if v > big:
                big = v
                p = i
        piv[k] = p
        if p != k:
            for j in range(n):
                tmp = a[k, j]
                a[k, j] = a[p, j]
                a[p, j] = tmp
        inv = 1.0 / a[k, k]
        for i in range(k + 1, n):
            a[i, k] *= inv
            f = a[i, k]
            if f != 0.0:
                for j in range(k + 1, n):
                    a[i, j] -= f * a[k, j]

@njit(**opts)
def lu_solve(a, piv, b):
    n = a.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= a[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= a[i, j] * b[j]
        b[i] = s / a[i, i]

@njit(**opts)
def sparse_factor_inverse(v, lower_ptr, lower_pos, lower_row, update_ptr, update_target, update_l,
                          update_u, pivot_pos, scale, max_multiplier):
    # Static-order LU on the value array; False when a multiplier exceeds max_multiplier (a
    # pivot too small against its column: the threshold test of threshold partial pivoting).
    # The test is on the matrix scaled by the error weights, D^-1 M D with D = diag(scale)
    # (permuted order), so that it does not depend on the states' units. The pivot positions
    # receive the inverse pivots (the solves multiply).
    n = pivot_pos.shape[0]
    for k in range(n):
        piv = v[pivot_pos[k]]
        if not (abs(piv) > 0.0):
            return False
        inv = 1.0 / piv
        v[pivot_pos[k]] = inv
        for q in range(lower_ptr[k], lower_ptr[k + 1]):
            m = v[lower_pos[q]] * inv
            if not (abs(m) * scale[k] <= max_multiplier * scale[lower_row[q]]):
                return False
            v[lower_pos[q]] = m
        for q in range(update_ptr[k], update_ptr[k + 1]):
            v[update_target[q]] -= v[update_l[q]] * v[update_u[q]]
    return True

@njit(**opts)
def sparse_solve_inverse(v, perm, lower_ptr, lower_pos, lower_row, upper_ptr, upper_pos, upper_row,
                         pivot_pos, b, work):
    n = perm.shape[0]
    for k in range(n):
        work[k] = b[perm[k]]
    for k in range(n):
        x = work[k]
        for q in range(lower_ptr[k], lower_ptr[k + 1]):
            work[lower_row[q]] -= v[lower_pos[q]] * x
    for k in range(n - 1, -1, -1):
        x = work[k] * v[pivot_pos[k]]
        work[k] = x
        for q in range(upper_ptr[k], upper_ptr[k + 1]):
            work[upper_row[q]] -= v[upper_pos[q]] * x
    for k in range(n):
        b[perm[k]] = work[k]

@njit(**opts)
def advance_patients(y, first, last, t0, t1, h_state, status, steps, dense_steps, recs, bps, atol, nonneg,
                     rtol, min_step, max_steps, rel_step, group_ptr, group_cols, col_ptr, col_rows, lu,
                     sparse_lu, max_multiplier, exact_jac, soft, t_ret, y_ret, t_prev, t_int, y_prev, y_int,
                     dense):
    # lu: (perm, entry_pos, diag_pos, lower_ptr, lower_pos, lower_row, update_ptr, update_target,
    #      update_l, update_u, upper_ptr, upper_pos, upper_row, pivot_pos, value_row, value_col)
    # soft: t1 is a "soft" stop (a decision or save time): the patient may step past it and
    # y[:, i] at t1 comes from the dense output of the step that passed it. That step is kept
    # (t_prev, y_prev -> t_int, y_int, dense rows; patient-major) with what was returned (t_ret,
    # y_ret); the next call resumes it if it starts at t_ret and finds y[:, i] unchanged (no dose,
    # no extinction), and restarts from t0 otherwise. Without soft, every call ends on t1.
    # Patients first..last-1 (one per CUDA thread; a chunk per CPU work item), sharing the work
    # arrays below: they are allocated once per call, not once per patient.
    n = y.shape[0]
    n_values = lu[14].shape[0]
    n_dense = _tab_h.shape[0]
    yw = np.empty(n)
    f0 = np.empty(n)
    fj = np.empty(n)
    yy = np.empty(n)
    jac = np.empty((n, n))
    piv = np.empty(n, dtype=np.int64)
    vals = np.empty(n_values)
    saved = np.empty(n_values)
    work = np.empty(n)
    dl = np.empty(n)
    jv = np.empty(col_rows.shape[0])
    stage = np.empty((max_stages, n))
    rhs_k = np.empty(n)
    fi = np.empty(n)
    y_new = np.empty(n)
    n_stages = _tab_a.shape[0]
    n_bp = bps.shape[0]
    # LU plan arrays the step loop reads, taken out of the tuple once per chunk.
    perm, entry_pos, diag_pos, value_row, value_col = lu[0], lu[1], lu[2], lu[14], lu[15]
    for i in range(first, last):
        if status[i] != 0:
            continue
        rec = recs[i]
        t = t0
        resume = soft and t_ret[i] == t0 and t_int[i] > t0
        if resume:
            for k in range(n):
                if y[k, i] != y_ret[i, k]:
                    resume = False
        if resume:
            t = t_int[i]
            for k in range(n):
                yw[k] = y_int[i, k]
        else:
            if soft:
                t_int[i] = -np.inf  # a step kept from before is void once y changed
            for k in range(n):
                yw[k] = y[k, i]
        while not (resume and t >= t1):
            stop = np.inf if soft else t1
            if n_bp > 0:
                ahead = np.inf
                for k in range(n_bp):
                    b = bps[k, i]
                    if b > t + 1e-12 and b < ahead:
                        ahead = b
                if ahead < stop:
                    stop = ahead
            h_wanted = h_state[i]
            h = min(h_wanted, stop - t)
            t_left = np.nextafter(stop, -np.inf)

            evaluate(t, yw, rec, f0)
            for k in range(n_values):
                vals[k] = 0.0
            if exact_jac:
                # Generated exact Jacobian entries (compressed-column order of the pattern).
                _jac(t, yw, rec, jv)
                for r in range(jv.shape[0]):
                    vals[entry_pos[r]] = -jv[r]
            else:
                # Forward-difference Jacobian d f / d y as in Rosenbrock4; the columns of one group
                # share no row, so one rhs call gives all of them (bit-identical to one per column).
                # Entries go straight into the value array of M = I/(gam h) - J.
                for g in range(group_ptr.shape[0] - 1):
                    for k in range(n):
                        yy[k] = yw[k]
                    for q in range(group_ptr[g], group_ptr[g + 1]):
                        j = group_cols[q]
                        delta = rel_step * max(abs(yw[j]), atol[j] * 1e3 + 1e-12)
                        dl[j] = delta
                        yy[j] += delta
                    evaluate(t, yy, rec, fj)
                    for q in range(group_ptr[g], group_ptr[g + 1]):
                        j = group_cols[q]
                        for r in range(col_ptr[j], col_ptr[j + 1]):
                            k = col_rows[r]
                            vals[entry_pos[r]] = -((fj[k] - f0[k]) / dl[j])
            diag = 1.0 / (_tab_gamma * h)
            for k in range(n):
                vals[diag_pos[k]] += diag
            for q in range(n_values):
                saved[q] = vals[q]  # the unfactored matrix, for the dense LU
            use_dense = True
            if sparse_lu:
                for k in range(n):
                    j = perm[k]
                    work[k] = atol[j] + rtol * abs(yw[j])
                use_dense = not _lu_factor(vals, work, max_multiplier)
            if use_dense:
                # Dense LU with partial pivoting: always without sparse_lu, else when the static
                # order meets a pivot too small for its column.
                dense_steps[i] += 1
                for k in range(n):
                    for j in range(n):
                        jac[k, j] = 0.0
                for q in range(n_values):
                    jac[value_row[q], value_col[q]] = saved[q]
                lu_factor(jac, piv)

            for k in range(n):
                fi[k] = f0[k]
            for st in range(n_stages):
                # Loops over k innermost (contiguous, vectorised); each element still sums its
                # terms in stage order, as the NumPy engine does.
                if _tab_new[st]:
                    for k in range(n):
                        yy[k] = yw[k]
                    for j in range(st):
                        coef = _tab_a[st, j]
                        for k in range(n):
                            yy[k] += coef * stage[j, k]
                    evaluate(min(t + _tab_t[st] * h, t_left), yy, rec, fi)
                for k in range(n):
                    work[k] = 0.0
                for j in range(st):
                    coef = _tab_c[st, j]
                    for k in range(n):
                        work[k] += coef * stage[j, k]
                for k in range(n):
                    rhs_k[k] = fi[k] + work[k] / h
                if use_dense:
                    lu_solve(jac, piv, rhs_k)
                else:
                    _lu_solve(vals, rhs_k, work)
                for k in range(n):
                    stage[st, k] = rhs_k[k]

            err = 0.0
            finite = True
            for k in range(n):
                y_new[k] = yw[k]
                fi[k] = 0.0  # the error estimate
            for j in range(n_stages):
                cb = _tab_b[j]
                ce = _tab_e[j]
                for k in range(n):
                    y_new[k] += cb * stage[j, k]
                    fi[k] += ce * stage[j, k]
            for k in range(n):
                yn = y_new[k]
                ev = fi[k]
                scale = atol[k] + rtol * max(abs(yw[k]), abs(yn))
                r = abs(ev) / scale
                if not np.isfinite(yn):
                    finite = False
                if r > err or r != r:
                    err = r
            if not np.isfinite(err):
                finite = False
            if not finite:
                err = np.inf
            accept = err <= 1.0

            reached = t + h
            at_stop = abs(reached - stop) <= 1e-12
            if accept:
                t_new = stop if at_stop else reached
                crossing = soft and t_new > t1 + 1e-12
                if crossing:
                    # Only the step that passes t1 is kept, with its dense output.
                    t_prev[i] = t
                    for k in range(n):
                        y_prev[i, k] = yw[k]
                    for r in range(n_dense):
                        for k in range(n):
                            dense[i, r, k] = 0.0
                        for j in range(n_stages):
                            coef = _tab_h[r, j]
                            for k in range(n):
                                dense[i, r, k] += coef * stage[j, k]
                for k in range(n):
                    v = y_new[k]
                    if nonneg[k] and v < 0.0:
                        v = 0.0
                    yw[k] = v
                t = t_new
                if crossing:
                    t_int[i] = t
                    for k in range(n):
                        y_int[i, k] = yw[k]
            steps[i] += 1

            if err > 0:
                factor = safety * np.power(max(err, 1e-300), -_tab_exponent)
            else:
                factor = grow
            if not np.isfinite(factor):
                factor = shrink
            factor = min(max(factor, shrink), grow)
            new_h = h * factor
            # After landing on a stop, keep the step the controller wanted, not the clipped one.
            if accept and at_stop and h < h_wanted:
                new_h = max(new_h, h_wanted)
            h_state[i] = new_h

            if (not accept) and new_h < min_step:
                status[i] = 2 if finite else 3  # STEP_SIZE_TOO_SMALL / NONFINITE_STATE
            if steps[i] >= max_steps and status[i] == 0:
                status[i] = 1  # MAX_STEPS_REACHED
            if t >= t1 - 1e-12 or status[i] != 0:
                break
        if soft and status[i] == 0 and t > t1 + 1e-12:
            # Dense output of the last step (Hairer & Wanner's form; rows of _tab_h):
            # y(th) = (1 - th) y_prev + th (y_int + (1 - th) (d_0 + th (d_1 + th d_2))).
            th = (t1 - t_prev[i]) / (t_int[i] - t_prev[i])
            for k in range(n):
                inner = 0.0
                for r in range(n_dense - 1, -1, -1):
                    inner = dense[i, r, k] + th * inner
                v = (1.0 - th) * y_prev[i, k] + th * (y_int[i, k] + (1.0 - th) * inner)
                if nonneg[k] and v < 0.0:
                    v = 0.0
                yw[k] = v
        for k in range(n):
            y[k, i] = yw[k]
        if soft:
            t_ret[i] = t1
            for k in range(n):
                y_ret[i, k] = yw[k]


@njit(parallel=True, **opts)
def advance_all(y, t0, t1, h_state, status, steps, dense_steps, recs, bps, atol, nonneg, rtol,
                min_step, max_steps, rel_step, group_ptr, group_cols, col_ptr, col_rows, lu, sparse_lu,
                max_multiplier, exact_jac, soft, t_ret, y_ret, t_prev, t_int, y_prev, y_int, dense,
                chunk):
    n_p = y.shape[1]
    n_chunks = (n_p + chunk - 1) // chunk
    # Chunks are handed out in order; each patient is independent of the others.
    for c in prange(n_chunks):
        advance_patients(y, c * chunk, min((c + 1) * chunk, n_p), t0, t1, h_state, status, steps, dense_steps,
                         recs, bps, atol, nonneg, rtol, min_step, max_steps, rel_step, group_ptr, group_cols,
                         col_ptr, col_rows, lu, sparse_lu, max_multiplier, exact_jac, soft, t_ret, y_ret, t_prev,
                         t_int, y_prev, y_int, dense)


@njit(**opts)
def advance_serial(y, t0, t1, h_state, status, steps, dense_steps, recs, bps, atol, nonneg, rtol,
                   min_step, max_steps, rel_step, group_ptr, group_cols, col_ptr, col_rows, lu, sparse_lu,
                   max_multiplier, exact_jac, soft, t_ret, y_ret, t_prev, t_int, y_prev, y_int, dense,
                   chunk):
    # Small batches: no parallel region (its start-up costs more than the work).
    advance_patients(y, 0, y.shape[1], t0, t1, h_state, status, steps, dense_steps, recs, bps, atol, nonneg,
                     rtol, min_step, max_steps, rel_step, group_ptr, group_cols, col_ptr, col_rows, lu, sparse_lu,
                     max_multiplier, exact_jac, soft, t_ret, y_ret, t_prev, t_int, y_prev, y_int, dense)
