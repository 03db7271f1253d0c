"""Rosenbrock tableaus: published coefficients checked against their order and stability."""

import numpy as np
import pytest

from cartwin.engine.tableaus import METHODS, RODAS4, RODAS5P, SHAMPINE4, tableau
from cartwin.foundation.errors import ValidationError


def _stages(tab, f, jac, y, h):
    """The stage vectors k_i of one step of the C form (the kernel's stages, written
    independently with dense algebra)."""
    m = np.eye(y.size) / (tab.gamma * h) - jac(y)
    ks = []
    f_stage = f(y)
    for i in range(tab.stages):
        if tab.new_evaluation[i]:
            f_stage = f(y + sum(tab.a[i, j] * ks[j] for j in range(i)))
        rhs = f_stage + sum(tab.c_matrix[i, j] * ks[j] for j in range(i)) / h
        ks.append(np.linalg.solve(m, rhs))
    return ks


def _step(tab, f, jac, y, h):
    """One step: the new state and the error estimate."""
    ks = _stages(tab, f, jac, y, h)
    y_new = y + sum(b * k for b, k in zip(tab.b, ks, strict=True))
    err = sum(e * k for e, k in zip(tab.e, ks, strict=True))
    return y_new, err


def _stability(tab, z):
    """R(z) and the error estimate's E(z) on y' = z y (h = 1)."""
    y_new, err = _step(tab, lambda y: z * y, lambda y: np.array([[z]]), np.array([1.0]), 1.0)
    return y_new[0], err[0]


@pytest.mark.parametrize("tab", list(METHODS.values()), ids=list(METHODS))
def test_linear_local_error_has_the_methods_order(tab):
    # |R(z) - e^z| ~ z^(p+1) and |E(z)| ~ z^(p_hat+1): halving z divides them by 2^(p+1), 2^(p_hat+1).
    (r1, e1), (r2, e2) = _stability(tab, -0.2), _stability(tab, -0.1)
    assert np.log2(abs(r1 - np.exp(-0.2)) / abs(r2 - np.exp(-0.1))) >= tab.order + 1 - 0.4
    assert np.log2(abs(e1) / abs(e2)) == pytest.approx(tab.error_order + 1, abs=0.4)


def test_rodas_methods_are_l_stable_and_shampine_is_not():
    for tab in (RODAS4, RODAS5P):
        r, e = _stability(tab, -1e10)
        assert abs(r) < 1e-8 and abs(e) < 1e-8
        for z in -np.logspace(-2, 6, 40):
            assert abs(_stability(tab, z)[0]) <= 1.0
    r, e = _stability(SHAMPINE4, -1e10)
    assert r == pytest.approx(1 / 3, rel=1e-6)  # Hairer & Wanner Table IV.7.2: R(inf) = 1/3


def _van_der_pol_like(y):
    # A smooth nonlinear non-stiff test problem (nonlinear order conditions are exercised).
    return np.array([y[1], (1 - y[0] ** 2) * y[1] - y[0] + 0.3 * np.sin(y[0])])


def _jac(y):
    return np.array([[0.0, 1.0], [-2 * y[0] * y[1] - 1 + 0.3 * np.cos(y[0]), 1 - y[0] ** 2]])


@pytest.mark.parametrize("tab", list(METHODS.values()), ids=list(METHODS))
def test_observed_global_order_on_a_nonlinear_problem(tab):
    y0, t_end = np.array([2.0, 0.0]), 1.0

    def solve(n_steps):
        y = y0.copy()
        for _ in range(n_steps):
            y, _ = _step(tab, _van_der_pol_like, _jac, y, t_end / n_steps)
        return y

    ref = solve(2048)
    errors = [np.max(np.abs(solve(n) - ref)) for n in (16, 32)]
    assert np.log2(errors[0] / errors[1]) == pytest.approx(tab.order, abs=0.35)


def test_stiffly_accurate_methods_step_to_the_last_stage():
    for tab in (RODAS4, RODAS5P):
        np.testing.assert_array_equal(tab.b[:-1], tab.a[-1, :-1])
        assert tab.b[-1] == 1.0 and tab.e[-1] == 1.0 and not tab.e[:-1].any()
    assert SHAMPINE4.evaluations == 3 and RODAS4.evaluations == 6 and RODAS5P.evaluations == 8


def test_unknown_method_names_the_choices():
    with pytest.raises(ValidationError, match="rodas5p"):
        tableau("rk4")


def _dense(tab, y0, h, theta):
    """One step from y0 and its dense output at theta (the kernel's formula)."""
    ks = _stages(tab, _van_der_pol_like, _jac, y0, h)
    y1 = y0 + sum(b * k for b, k in zip(tab.b, ks, strict=True))
    d = [sum(tab.dense[r, j] * ks[j] for j in range(tab.stages)) for r in range(tab.dense.shape[0])]
    inner = np.zeros_like(y0)
    for r in range(len(d) - 1, -1, -1):
        inner = d[r] + theta * inner
    return (1 - theta) * y0 + theta * (y1 + (1 - theta) * inner)


@pytest.mark.parametrize("tab, dense_order", [(RODAS4, 3), (RODAS5P, 4)], ids=["rodas4", "rodas5p"])
def test_dense_output_has_its_published_order(tab, dense_order):
    from scipy.integrate import solve_ivp

    y0, theta = np.array([2.0, 0.0]), 0.4
    errors = []
    for h in (0.025, 0.0125):  # small enough for the asymptotic rate
        exact = solve_ivp(lambda t, y: _van_der_pol_like(y), (0, theta * h), y0, method="DOP853",
                          rtol=1e-13, atol=1e-15).y[:, -1]
        errors.append(np.max(np.abs(_dense(tab, y0, h, theta) - exact)))
    # Local error of a dense output of order q: O(h^(q+1)).
    assert np.log2(errors[0] / errors[1]) == pytest.approx(dense_order + 1, abs=0.4)
    # At theta = 1 it is the step itself.
    np.testing.assert_allclose(_dense(tab, y0, 0.1, 1.0), _step(tab, _van_der_pol_like, _jac, y0, 0.1)[0],
                               rtol=1e-14)
    assert not SHAMPINE4.has_dense_output
