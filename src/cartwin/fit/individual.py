"""Individual fits: the maximum a posteriori (MAP) parameters of each patient, with standard errors.

Each patient's objective is ``-2 log p(y | theta) - 2 log p(theta)``: the residual error model
with BLQ observations by M3 (:mod:`cartwin.fit.problem`) and a log-normal prior on each
estimated parameter (centre: the model table's value, or a population fit's; variance
``omega2``), inside the table's bounds. All patients are solved together by
:func:`scipy.optimize.least_squares` (trust-region reflective, bounds) on the stacked residuals
of every patient, with the Jacobian's block-diagonal sparsity declared, so one finite-difference
Jacobian costs ``K`` batched simulations whatever the number of patients. BLQ terms enter as
residuals ``sqrt(-2 log Phi(z))``; the prior as ``(phi - mu) / omega``.

Standard errors: the inverse of ``J'J`` of a patient's residuals at the optimum (the Laplace
approximation of the posterior covariance on the estimation scale); on the natural scale by the
delta method, and 95 % intervals ``exp(phi +- 1.96 se)`` for log-scale parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse
from scipy.special import log_ndtr

from cartwin.fit.problem import Problem
from cartwin.foundation.errors import ValidationError

DEFAULT_PRIOR_OMEGA2 = 1.0


def residuals(problem: Problem, phi: np.ndarray, mu: np.ndarray, omega2: np.ndarray, sigma: float,
              f: np.ndarray | None = None) -> np.ndarray:
    """Stacked residuals (M observation rows, then N*K prior rows) whose squares sum to -2 log
    posterior up to a constant (exact for the log and additive error models)."""
    f = problem.predict(phi) if f is None else f
    sd = problem.residual_sd(f, sigma)
    gf = problem.g(f)
    c = problem.obs_cens == 1
    r = np.empty(problem.n_obs)
    y = problem.g(problem.obs_dv)
    r[~c] = ((y - gf) / sd)[~c]
    z = (problem.g(problem.obs_lloq) - gf) / sd
    r[c] = np.sqrt(np.maximum(-2.0 * log_ndtr(z[c]), 0.0))
    r = np.where(np.isfinite(r), r, 1e6)
    prior = ((phi - mu) / np.sqrt(omega2)).reshape(-1)
    return np.concatenate([r, prior])


def _sparsity(problem: Problem) -> sparse.csr_matrix:
    K, N, M = problem.K, problem.n_subjects, problem.n_obs
    rows = np.repeat(np.arange(M), K)
    cols = (problem.obs_subject[:, None] * K + np.arange(K)[None, :]).reshape(-1)
    obs = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(M, N * K))
    return sparse.vstack([obs, sparse.identity(N * K, format="csr")]).tocsr()


def map_estimates(problem: Problem, mu: np.ndarray, omega2: np.ndarray, sigma: float,
                  x0: np.ndarray | None = None, max_nfev: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MAP ``phi`` (N, K), posterior covariance (N, K, K) and a per-patient converged flag.

    ``mu``: prior centre per patient (N, K) or shared (K,); ``omega2``: prior variances (K,)."""
    N, K = problem.n_subjects, problem.K
    mu = np.broadcast_to(np.asarray(mu, float), (N, K))
    omega2 = np.asarray(omega2, float)
    lo, hi = problem.phi_bounds()
    lo_b, hi_b = np.tile(lo, N), np.tile(hi, N)
    x = np.array(mu if x0 is None else x0, dtype=float).reshape(-1)
    span = np.where(np.isfinite(hi_b - lo_b), hi_b - lo_b, 1.0)
    x = np.clip(x, lo_b + 1e-9 * span, hi_b - 1e-9 * span)
    res = optimize.least_squares(
        lambda v: residuals(problem, v.reshape(N, K), mu, omega2, sigma), x, jac_sparsity=_sparsity(problem),
        # scipy's bounded "trf" steps through a 2-D trust-region subproblem that fails with an
        # IndexError on a one-variable problem (one patient, one parameter; scipy 1.17), so that
        # case takes "dogbox", which handles bounds the same way for our purpose.
        bounds=(lo_b, hi_b), method="trf" if N * K > 1 else "dogbox", x_scale="jac", ftol=1e-8, xtol=1e-8, gtol=1e-8, max_nfev=max_nfev,
        diff_step=1e-6)
    phi = res.x.reshape(N, K)
    J = res.jac.tocsr() if sparse.issparse(res.jac) else sparse.csr_matrix(res.jac)
    blocks = [J[:, i * K:(i + 1) * K].toarray() for i in range(N)]
    converged = np.full(N, bool(res.status > 0))
    if N > 1:
        _polish(problem, phi, blocks, converged, mu, omega2, sigma, res.fun, max_nfev)
    cov = np.empty((N, K, K))
    for i in range(N):
        h = blocks[i].T @ blocks[i]
        try:
            cov[i] = np.linalg.inv(h)
        except np.linalg.LinAlgError:
            cov[i] = np.full((K, K), np.nan)
    return phi, cov, converged


#: A patient whose data residuals after the joint solve average more than this (squared,
#: standardised) is refitted alone from several starts (:func:`_polish`).
POLISH_MEAN_SQUARE = 2.0


def _polish(problem: Problem, phi, blocks, converged, mu, omega2, sigma, fun, max_nfev) -> None:
    """Refit alone the patients the joint solve left far from their data: one trust region
    for all patients (the joint solve) lets a patient in a poor basin hold the step size, and the
    stopping rule is on the total cost, which such a patient dominates. Each is solved from its
    joint result, then (while still far) its prior centre and the prior centre +- one prior SD on
    each parameter; the best posterior is kept (never worse than the joint result)."""
    N, K = phi.shape
    M = problem.n_obs
    sq = np.bincount(problem.obs_subject, weights=fun[:M] ** 2, minlength=N)
    counts = np.maximum(np.bincount(problem.obs_subject, minlength=N), 1)
    poor = np.flatnonzero(sq / counts > POLISH_MEAN_SQUARE)
    for i in poor:
        sub = problem.subset([i])
        lo, hi = sub.phi_bounds()
        span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        sd = np.sqrt(omega2)
        starts = [phi[i], mu[i]] + [mu[i] + s * sd[k] * np.eye(K)[k] for k in range(K) for s in (-1.0, 1.0)]
        best = (float(np.sum(fun[:M][problem.obs_subject == i] ** 2) + np.sum(((phi[i] - mu[i]) / sd) ** 2)), None)
        for x0 in starts:
            x0 = np.clip(x0, lo + 1e-9 * span, hi - 1e-9 * span)
            r = optimize.least_squares(lambda v, sub=sub, m=mu[i]: residuals(sub, v[None, :], m[None, :], omega2, sigma), x0,
                                       bounds=(lo, hi), method="trf", x_scale="jac", ftol=1e-8, xtol=1e-8, gtol=1e-8,
                                       max_nfev=max_nfev, diff_step=1e-6)
            cost = float(np.sum(r.fun ** 2))
            if cost < best[0] - 1e-9:
                best = (cost, r)
            if np.mean(r.fun[:sub.n_obs] ** 2) <= POLISH_MEAN_SQUARE:
                break  # in the data's basin: the remaining starts are for patients still far from it
        if best[1] is not None:
            phi[i] = best[1].x
            blocks[i] = np.asarray(best[1].jac)
            converged[i] = bool(best[1].status > 0)
        problem.n_simulations += sub.n_simulations


@dataclass
class IndividualFit:
    """MAP estimates per patient: ``table`` (tidy: ID, parameter, estimate, se, ci95 low/high),
    ``phi``/``cov`` on the estimation scale, the prior and sigma used."""

    problem: Problem
    phi: np.ndarray
    cov: np.ndarray
    prior_mu: np.ndarray
    prior_omega2: np.ndarray
    sigma: float
    sigma_estimated: bool
    table: pd.DataFrame
    converged: np.ndarray

    def estimates(self) -> pd.DataFrame:
        """One row per patient, one column per parameter (natural scale)."""
        return self.table.pivot(index="ID", columns="parameter", values="estimate").loc[self.problem.ids].reset_index()

    def predictions(self) -> np.ndarray:
        return self.problem.predict(self.phi)


def _table(problem: Problem, phi: np.ndarray, cov: np.ndarray, z: float = 1.959964) -> pd.DataFrame:
    rows = []
    values = problem.from_phi(phi)
    for i, pid in enumerate(problem.ids):
        for k, (name, tr) in enumerate(zip(problem.estimate, problem.transforms, strict=True)):
            se_phi = float(np.sqrt(cov[i, k, k])) if np.isfinite(cov[i, k, k]) and cov[i, k, k] >= 0 else np.nan
            est = float(values[name][i])
            if tr == "log":
                se, low, high = est * se_phi, float(np.exp(phi[i, k] - z * se_phi)), float(np.exp(phi[i, k] + z * se_phi))
            else:
                se, low, high = se_phi, est - z * se_phi, est + z * se_phi
            rows.append({"ID": pid, "parameter": name, "estimate": est, "se": se, "ci95_low": low, "ci95_high": high,
                         "scale": tr})
    return pd.DataFrame(rows)


def fit_individual(problem: Problem, *, typical: Mapping[str, float] | None = None,
                   omega2: Mapping[str, float] | float | None = None, sigma: float | None = None,
                   sigma_iterations: int = 4) -> IndividualFit:
    """MAP per patient (module docstring).

    ``typical``: prior centres (default: the model table's values); ``omega2``: prior variances
    on the estimation scale (default ``DEFAULT_PRIOR_OMEGA2`` = 1 for each, a weak prior: a
    factor e within one SD); ``sigma``: the residual SD on the error scale; when not given it is
    estimated from the pooled residuals (alternating with the MAP fits, ``sigma_iterations``).
    """
    specs = problem.model.parameter_specs()
    typical = {k: problem.reference.get(k, specs[k].value) for k in problem.estimate} | dict(typical or {})
    for k in typical:
        if k not in problem.estimate:
            raise ValidationError("typical", "estimated parameters (" + ", ".join(problem.estimate) + ")", k)
    mu = problem.to_phi(typical)
    if omega2 is None or isinstance(omega2, (int, float)):
        om = np.full(problem.K, DEFAULT_PRIOR_OMEGA2 if omega2 is None else float(omega2))
    else:
        om = np.array([float(omega2.get(k, DEFAULT_PRIOR_OMEGA2)) for k in problem.estimate])
    if np.any(~(om > 0)):
        raise ValidationError("omega2", "positive prior variances", omega2)
    estimated = sigma is None
    s = 0.5 if estimated else float(sigma)
    if not s > 0:
        raise ValidationError("sigma", "a positive residual SD", sigma)
    x0 = None
    for _ in range(sigma_iterations if estimated else 1):
        phi, cov, conv = map_estimates(problem, mu, om, s, x0=x0)
        x0 = phi
        if estimated:
            f = problem.predict(phi)
            c = problem.obs_cens == 1
            r = (problem.g(problem.obs_dv) - problem.g(f))[~c]
            if problem.error == "proportional":
                r = r / np.maximum(np.abs(f[~c]), 1e-300)
            s = float(np.sqrt(np.mean(r * r)))
    return IndividualFit(problem, phi, cov, np.broadcast_to(mu, phi.shape).copy(), om, s, estimated,
                         _table(problem, phi, cov), conv)
