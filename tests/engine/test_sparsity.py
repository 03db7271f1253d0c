"""Static sparse LU plan (cartwin.engine._sparsity.lu_plan) against dense linear algebra."""

import numpy as np
import pytest

from cartwin.engine._sparsity import jacobian_pattern, lu_plan, minimum_degree_order
from cartwin.model.cart import CarTPatientModel


def _factor_and_solve(plan, matrix, b):
    """The kernel's factor/solve, written out in NumPy (same index lists)."""
    v = matrix[plan["value_row"], plan["value_col"]].astype(float)
    n = matrix.shape[0]
    for k in range(n):
        lo = slice(plan["lower_ptr"][k], plan["lower_ptr"][k + 1])
        v[plan["lower_pos"][lo]] /= v[plan["pivot_pos"][k]]
        for q in range(plan["update_ptr"][k], plan["update_ptr"][k + 1]):
            v[plan["update_target"][q]] -= v[plan["update_l"][q]] * v[plan["update_u"][q]]
    x = b[plan["perm"]].astype(float)
    for k in range(n):
        for q in range(plan["lower_ptr"][k], plan["lower_ptr"][k + 1]):
            x[plan["lower_row"][q]] -= v[plan["lower_pos"][q]] * x[k]
    for k in range(n - 1, -1, -1):
        x[k] /= v[plan["pivot_pos"][k]]
        for q in range(plan["upper_ptr"][k], plan["upper_ptr"][k + 1]):
            x[plan["upper_row"][q]] -= v[plan["upper_pos"][q]] * x[k]
    out = np.empty(n)
    out[plan["perm"]] = x
    return out


@pytest.mark.parametrize("seed", range(5))
def test_plan_solves_random_sparse_systems(seed):
    rng = np.random.default_rng(seed)
    n = 20
    pattern = rng.random((n, n)) < 0.15
    matrix = np.where(pattern, rng.normal(size=(n, n)), 0.0) + np.diag(5.0 + rng.random(n))
    b = rng.normal(size=n)
    x = _factor_and_solve(lu_plan(pattern), matrix, b)
    np.testing.assert_allclose(x, np.linalg.solve(matrix, b), rtol=1e-10, atol=1e-12)


def test_entry_positions_follow_csc_order_of_the_pattern():
    rng = np.random.default_rng(7)
    pattern = rng.random((9, 9)) < 0.3
    plan = lu_plan(pattern)
    cols = [j for j in range(9) for _ in np.flatnonzero(pattern[:, j])]
    rows = [i for j in range(9) for i in np.flatnonzero(pattern[:, j])]
    np.testing.assert_array_equal(plan["value_row"][plan["entry_pos"]], rows)
    np.testing.assert_array_equal(plan["value_col"][plan["entry_pos"]], cols)
    np.testing.assert_array_equal(plan["value_row"][plan["diag_pos"]], np.arange(9))


def test_minimum_degree_keeps_the_composite_models_factors_sparse():
    model = CarTPatientModel()
    pattern = jacobian_pattern(model, model.parameters())
    assert pattern is not None
    natural = lu_plan(pattern, order=np.arange(pattern.shape[0]))
    md = lu_plan(pattern)
    assert sorted(minimum_degree_order(pattern)) == list(range(pattern.shape[0]))
    assert int(md["n_values"]) < int(natural["n_values"])
    assert int(md["n_values"]) < 0.2 * pattern.size  # 32 x 32 dense would be 1,024


@pytest.mark.parametrize("unrolled", [True, False])
def test_generated_lu_solves_like_numpy(unrolled, monkeypatch):
    pytest.importorskip("numba")
    from cartwin.engine import _codegen, _kernel_src

    rng = np.random.default_rng(3)
    n = 16
    pattern = rng.random((n, n)) < 0.2
    matrix = np.where(pattern, rng.normal(size=(n, n)), 0.0) + np.diag(4.0 + rng.random(n))
    plan = lu_plan(pattern)
    if not unrolled:
        monkeypatch.setattr(_codegen, "MAX_UNROLLED_UPDATES", -1)
    namespace = {"np": np, "sparse_factor_inverse": _kernel_src.sparse_factor_inverse,
                 "sparse_solve_inverse": _kernel_src.sparse_solve_inverse}
    exec(_codegen.lu_source(plan), namespace)  # noqa: S102 - our own generated source
    v = matrix[plan["value_row"], plan["value_col"]].astype(float)
    assert namespace["lu_factor_gen"](v, np.ones(n), 1e6)
    b = rng.normal(size=n)
    x = b.copy()
    namespace["lu_solve_gen"](v, x, np.empty(n))
    np.testing.assert_allclose(x, np.linalg.solve(matrix, b), rtol=1e-10, atol=1e-12)
    # a threshold no multiplier can meet rejects the static order
    v = matrix[plan["value_row"], plan["value_col"]].astype(float)
    assert not namespace["lu_factor_gen"](v, np.ones(n), 0.0)
