"""Population fits: nonlinear mixed effects by SAEM, uncertainty by linearization.

Method
------
Stochastic approximation EM (Delyon, Lavielle & Moulines, Ann Stat 1999;27:94-128; Kuhn &
Lavielle, Comput Stat Data Anal 2005;49:1020-1038), the estimation method of Monolix (and of
nlmixr2's ``saem``), with its usual choices:

* individual parameters ``phi_i = X_i beta + eta_i``, ``eta_i ~ N(0, Omega)`` (diagonal),
  on the estimation scale of :mod:`cartwin.fit.problem` (log for positive parameters), with
  covariate columns in ``X_i`` (power model);
* E-step by Metropolis-Hastings: two draws from the population distribution, then three
  random-walk moves of all components, shaped by each patient's Laplace posterior covariance
  at the start (chains start at the MAP estimates) and scaled towards 30 % acceptance; proposals outside the table's bounds are rejected (the population is truncated to
  the bounds); several chains per patient when there are fewer than 50 patients;
* BLQ observations are imputed at each iteration from the residual distribution truncated
  at LLOQ (Samson, Lavielle & Mentré, Comput Stat Data Anal 2006;51:1562-1574), which is the M3
  likelihood in the EM;
* closed-form M-step from sufficient statistics; step size 1 for ``n_burn`` iterations (with
  simulated annealing: variances fall by at most 5 % per iteration), then 1/k for ``n_smooth``.

After SAEM: the individual estimates (conditional modes, :func:`cartwin.fit.individual.map_estimates`
with the population prior); the Fisher information by linearization of each patient's model at
its mode (Monolix's "linearization" method), giving standard errors of every fixed effect,
variance and sigma; ``-2 log L`` by importance sampling around the modes (Monolix's default;
BLQ rows by M3); shrinkage ``1 - sd(eta_hat) / omega``; CWRES from the same linearization
(Hooker, Staatz & Karlsson, Pharm Res 2007;24:2187-2197).

Why SAEM on NumPy/SciPy rather than NUTS: the fit needs the engine's batched ODE solves (every
patient and chain in one compiled call), which SAEM uses as they are; a gradient-based sampler
would need derivatives through the solver (the JAX engine) and is slower per effective sample
for these few-parameter models; SAEM gives the estimates nlmixr2/Monolix users compare against.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from cartwin.fit.individual import map_estimates
from cartwin.fit.problem import Problem
from cartwin.foundation.errors import ValidationError

Z90, Z95 = 1.6448536269514722, 1.959963984540054


@dataclass
class PopulationFit:
    """Estimates of a population fit; :meth:`table` is the tidy summary (nlmixr2-like)."""

    problem: Problem
    beta: dict[str, np.ndarray]          # per estimated parameter: [intercept, covariate slopes]
    omega2: np.ndarray
    sigma: float
    cov: np.ndarray                      # covariance of (beta..., omega2..., sigma2) by linearization
    names: list[str]                     # names of the entries of cov
    ofv: float                           # -2 log L (importance sampling)
    phi_hat: np.ndarray                  # conditional modes (N, K)
    phi_cov: np.ndarray
    shrinkage: np.ndarray
    predictions: pd.DataFrame
    history: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def mu(self) -> np.ndarray:
        return np.array([self.beta[k][0] for k in self.problem.estimate])

    def typical(self) -> dict[str, float]:
        """Typical values (natural scale, reference covariates)."""
        return {k: float(v) for k, v in self.problem.from_phi(self.mu).items()}

    def se(self, name: str) -> float:
        i = self.names.index(name)
        v = self.cov[i, i]
        return float(np.sqrt(v)) if np.isfinite(v) and v >= 0 else float("nan")

    def intervals(self, level: float = 0.90) -> pd.DataFrame:
        """Intervals at ``level`` for each typical value (natural scale), variance and sigma."""
        z = float(ndtri(0.5 + level / 2))
        rows = []
        for k, (name, tr) in enumerate(zip(self.problem.estimate, self.problem.transforms, strict=True)):
            est, se = self.beta[name][0], self.se(f"mu[{name}]")
            lo, hi = est - z * se, est + z * se
            back = (lambda x: math.exp(x)) if tr == "log" else (lambda x: x)
            rows.append({"quantity": name, "estimate": back(est), "low": back(lo), "high": back(hi)})
            w, se_w = self.omega2[k], self.se(f"omega2[{name}]")
            f = math.exp(z * se_w / w) if w > 0 and np.isfinite(se_w) else float("nan")
            rows.append({"quantity": f"omega2[{name}]", "estimate": w, "low": w / f, "high": w * f})
        s2, se_s2 = self.sigma ** 2, self.se("sigma2")
        f = math.exp(z * se_s2 / s2) if np.isfinite(se_s2) else float("nan")
        rows.append({"quantity": "sigma", "estimate": self.sigma, "low": math.sqrt(s2 / f), "high": math.sqrt(s2 * f)})
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """Tidy table like nlmixr2's: Parameter, Est., SE, %RSE, Back-transformed(95%CI),
        BSV(CV%), Shrink(SD)%."""
        rows = []
        for k, (name, tr) in enumerate(zip(self.problem.estimate, self.problem.transforms, strict=True)):
            est, se = float(self.beta[name][0]), self.se(f"mu[{name}]")
            back = math.exp if tr == "log" else (lambda x: x)
            w = float(self.omega2[k])
            bsv = 100 * math.sqrt(math.exp(w) - 1) if tr == "log" else 100 * math.sqrt(w)
            rows.append({"Parameter": f"{'log ' if tr == 'log' else ''}{name}", "Est.": est, "SE": se,
                         "%RSE": 100 * se / abs(est) if est else float("nan"), "Back-transformed": back(est),
                         "CI Lower": back(est - Z95 * se), "CI Upper": back(est + Z95 * se),
                         "BSV(CV%)": bsv, "omega2": w, "SE omega2": self.se(f"omega2[{name}]"),
                         "Shrink(SD)%": 100 * float(self.shrinkage[k])})
            for c, cov in enumerate(self.problem.covariate_names.get(name, ())):
                b, se_b = float(self.beta[name][c + 1]), self.se(f"beta[{name},{cov}]")
                rows.append({"Parameter": f"beta {cov} on {name}", "Est.": b, "SE": se_b,
                             "%RSE": 100 * se_b / abs(b) if b else float("nan"), "Back-transformed": b,
                             "CI Lower": b - Z95 * se_b, "CI Upper": b + Z95 * se_b})
        se_s2 = self.se("sigma2")
        rows.append({"Parameter": f"sigma ({self.problem.error} error)", "Est.": self.sigma,
                     "SE": se_s2 / (2 * self.sigma), "%RSE": 100 * se_s2 / (2 * self.sigma ** 2),
                     "Back-transformed": self.sigma})
        return pd.DataFrame(rows)

    def individual(self) -> pd.DataFrame:
        """Individual estimates (conditional modes) per patient, natural scale, with etas."""
        values = self.problem.from_phi(self.phi_hat)
        out = pd.DataFrame({"ID": self.problem.ids, **values})
        mu_i = self._mu_i()
        for k, name in enumerate(self.problem.estimate):
            out[f"eta_{name}"] = self.phi_hat[:, k] - mu_i[:, k]
        return out

    def _mu_i(self) -> np.ndarray:
        return _mu_i(self.problem, self.beta)

    def fitted_population(self):
        """The estimated population as a :class:`cartwin.population.fitted.FittedPopulation`
        (what ``population.json`` holds; ``cartwin trial --population`` draws from it)."""
        from cartwin.population.fitted import CovariateEffect, FittedParameter, FittedPopulation

        p = self.problem
        specs = p.model.parameter_specs()
        params = []
        for k, (name, tr) in enumerate(zip(p.estimate, p.transforms, strict=True)):
            b = self.beta[name]
            covs = tuple(CovariateEffect(col, float(p.covariate_refs[name][c]), float(b[c + 1]),
                                         p.covariate_forms.get(name, ("power",) * len(p.covariate_names[name]))[c])
                         for c, col in enumerate(p.covariate_names.get(name, ())))
            params.append(FittedParameter(name, specs[name].unit, float(np.exp(b[0]) if tr == "log" else b[0]), tr,
                                          float(self.omega2[k]), covs, float(specs[name].low), float(specs[name].high)))
        fixed = {k: {"value": float(np.asarray(v, dtype=float).ravel()[0]) if np.ndim(v) else float(v),
                     "unit": specs[k].unit} for k, v in p.fixed.items()}
        return FittedPopulation(p.model.name, str(p.model.version), tuple(params), fixed=fixed,
                                residual_error={"model": p.error, "sigma": float(self.sigma),
                                                "scale": {"log": "natural log of DV", "additive": p.dataset.dv_unit,
                                                          "proportional": "fraction of the prediction"}[p.error]},
                                observable=p.observable, dv_unit=p.dataset.dv_unit, source=str(p.dataset.source),
                                n_patients=p.n_subjects, ofv=float(self.ofv),
                                context={k: p.dosing[k] for k in ("product", "indication", "lymphodepletion", "amt_units")
                                         if k in p.dosing})

    def sample_parameters(self, n: int, seed: int, covariates: Mapping[str, np.ndarray] | None = None):
        """A virtual population from the fit: a ParameterSet of ``n`` patients (reference
        covariates unless given), e.g. for ``cartwin trial``; draws outside the table's bounds
        are redrawn."""
        rng = np.random.default_rng(seed)
        p = self.problem
        phi = np.empty((n, p.K))
        for k, name in enumerate(p.estimate):
            mu = np.full(n, self.beta[name][0])
            for c, cov in enumerate(p.covariate_names.get(name, ())):
                v = np.asarray((covariates or {})[cov], float) if covariates and cov in covariates else np.full(n, p.covariate_refs[name][c])
                ref = p.covariate_refs[name][c]
                mu = mu + self.beta[name][c + 1] * (np.log(v / ref) if np.all(v > 0) and ref > 0 else v - ref)
            phi[:, k] = mu + rng.normal(0, math.sqrt(self.omega2[k]), n)
        for _ in range(1000):
            bad = ~p.in_bounds(phi)
            if not bad.any():
                break
            phi[bad] = np.array([self.beta[name][0] for name in p.estimate]) + \
                rng.normal(0, 1, (int(bad.sum()), p.K)) * np.sqrt(self.omega2)
        values = {k: np.broadcast_to(np.asarray(v, float).ravel()[0] if np.size(v) > 1 else v, (n,)).copy()
                  for k, v in p.base_values.items()}  # the regimen's typical values (composite model)
        values.update({k: np.broadcast_to(v, (n,)).copy() for k, v in p.fixed.items()})
        values.update(p.from_phi(phi))
        return p.model.parameters(**values)


def _design(problem: Problem) -> list[np.ndarray]:
    N = problem.n_subjects
    return [problem.covariate_design.get(name, np.ones((N, 1))) for name in problem.estimate]


def _mu_i(problem: Problem, beta: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([X @ beta[name] for X, name in zip(_design(problem), problem.estimate, strict=True)])


def _impute(problem: Problem, f: np.ndarray, sigma: float, rng) -> np.ndarray:
    """Residuals on the error scale (R, M), BLQ ones drawn from the truncated residual law."""
    gf = problem.g(f)
    sd = problem.residual_sd(f, sigma)
    r = problem.g(problem.obs_dv) - gf
    c = problem.obs_cens == 1
    if c.any():
        upper = ((problem.g(problem.obs_lloq) - gf) / sd)[..., c]
        u = rng.random(upper.shape) * np.clip(ndtr(upper), 1e-300, 1.0)
        z = ndtri(np.clip(u, 1e-300, 1 - 1e-16))
        r[..., c] = z * sd[..., c]
    if problem.error == "proportional":
        r = r / np.maximum(np.abs(f), 1e-300)
    return np.where(np.isfinite(r), r, 0.0)


def fit_population(problem: Problem, *, initial: Mapping[str, float] | None = None,
                   omega2_initial: float | Mapping[str, float] = 1.0, sigma_initial: float | None = None,
                   n_burn: int = 150, n_smooth: int = 100, seed: int = 0, n_is: int = 300,
                   progress=None) -> PopulationFit:
    """SAEM population fit (module docstring). ``initial``: starting typical values (default
    the model table's); ``n_burn``/``n_smooth``: SAEM iterations; ``n_is``: importance samples
    per patient for ``-2 log L``; ``progress(iteration, estimates)`` is called every 25
    iterations."""
    rng = np.random.default_rng(seed)
    specs = problem.model.parameter_specs()
    start = {k: problem.reference.get(k, specs[k].value) for k in problem.estimate} | dict(initial or {})
    for k in start:
        if k not in problem.estimate:
            raise ValidationError("initial", "estimated parameters", k)
    N, K = problem.n_subjects, problem.K
    design = _design(problem)
    beta = {name: np.zeros(X.shape[1]) for name, X in zip(problem.estimate, design, strict=True)}
    mu0 = problem.to_phi(start)
    for k, name in enumerate(problem.estimate):
        beta[name][0] = mu0[k]
    if isinstance(omega2_initial, Mapping):
        omega2 = np.array([float(omega2_initial.get(k, 1.0)) for k in problem.estimate])
    else:
        omega2 = np.full(K, float(omega2_initial))
    sigma = float(sigma_initial) if sigma_initial is not None else (1.0 if problem.error != "additive" else
                                                                   float(np.nanstd(problem.obs_dv)))
    chains = max(1, math.ceil(50 / N))
    XtX_inv = [np.linalg.pinv(X.T @ X) for X in design]
    mu_i = _mu_i(problem, beta)
    # Start the chains at the MAP estimates under the initial population, and shape the
    # random-walk proposals by each patient's Laplace posterior covariance there (the
    # parameters of kinetic models are strongly correlated within a patient, e.g. Stein's
    # foldx, T_max and C_max; independent moves would mix slowly).
    phi0, cov0, _ = map_estimates(problem, mu_i, omega2, sigma, max_nfev=60)
    cov0 = np.where(np.isfinite(cov0), cov0, 0.0)
    cov0 = 0.5 * (cov0 + np.swapaxes(cov0, 1, 2)) + 1e-6 * np.eye(K)
    try:
        chol = np.linalg.cholesky(cov0)
    except np.linalg.LinAlgError:
        chol = np.broadcast_to(np.diag(np.sqrt(omega2)), (N, K, K)).copy()
    phi = np.broadcast_to(phi0, (chains, N, K)).copy()
    f = problem.predict(phi)
    ll = problem.loglik_by_subject(f, sigma)
    scale = 2.38 / math.sqrt(K)
    S1 = [np.zeros(X.shape[1]) for X in design]
    S2 = np.zeros(K)
    S3 = 0.0
    hist = []
    total = n_burn + n_smooth
    for it in range(1, total + 1):
        mu_i = _mu_i(problem, beta)
        sd = np.sqrt(omega2)

        def prior(ph, mu_i=mu_i, sd=sd):
            return -0.5 * np.sum(((ph - mu_i) / sd) ** 2, axis=-1)

        # Kernel 1: draws from the population distribution (prior cancels in the ratio).
        for _ in range(2):
            prop = mu_i + rng.normal(size=phi.shape) * sd
            ok = problem.in_bounds(prop)
            prop = np.where(ok[..., None], prop, phi)
            fp = problem.predict(prop)
            llp = problem.loglik_by_subject(fp, sigma)
            acc = ok & (np.log(rng.random(ll.shape)) < llp - ll)
            phi = np.where(acc[..., None], prop, phi)
            f = np.where(acc[..., problem.obs_subject], fp, f)
            ll = np.where(acc, llp, ll)
        # Kernel 2: random walk of all components, scales adapted.
        for _ in range(3):
            prop = phi + scale * np.einsum("nkl,cnl->cnk", chol, rng.normal(size=phi.shape))
            ok = problem.in_bounds(prop)
            prop = np.where(ok[..., None], prop, phi)
            fp = problem.predict(prop)
            llp = problem.loglik_by_subject(fp, sigma)
            acc = ok & (np.log(rng.random(ll.shape)) < llp + prior(prop) - ll - prior(phi))
            phi = np.where(acc[..., None], prop, phi)
            f = np.where(acc[..., problem.obs_subject], fp, f)
            ll = np.where(acc, llp, ll)
            rate = float(acc.mean())
            scale = float(np.clip(scale * math.exp(0.4 * (rate - 0.3)), 0.01, 10.0))
        # Stochastic approximation of the sufficient statistics.
        gamma = 1.0 if it <= n_burn else 1.0 / (it - n_burn)
        res = _impute(problem, f, sigma, rng)
        for k, X in enumerate(design):
            S1[k] = S1[k] + gamma * (np.mean([X.T @ phi[c, :, k] for c in range(chains)], axis=0) - S1[k])
        S2 = S2 + gamma * (np.mean(np.sum(phi ** 2, axis=1), axis=0) - S2)
        S3 = S3 + gamma * (float(np.mean(np.sum(res ** 2, axis=-1))) - S3)
        # M-step.
        new_omega = np.empty(K)
        for k, name in enumerate(problem.estimate):
            beta[name] = XtX_inv[k] @ S1[k]
            new_omega[k] = max((S2[k] - beta[name] @ S1[k]) / N, 1e-8)
        new_sigma = math.sqrt(max(S3 / problem.n_obs, 1e-12))
        if it <= n_burn:  # simulated annealing
            new_omega = np.maximum(new_omega, 0.95 * omega2)
            new_sigma = max(new_sigma, math.sqrt(0.95) * sigma)
        omega2, sigma = new_omega, new_sigma
        ll = problem.loglik_by_subject(f, sigma)
        hist.append({"iteration": it, **{f"mu[{n}]": float(beta[n][0]) for n in problem.estimate},
                     **{f"omega2[{n}]": float(omega2[k]) for k, n in enumerate(problem.estimate)}, "sigma": sigma})
        if progress is not None and it % 25 == 0:
            progress(it, hist[-1])

    # Conditional modes with the population prior.
    mu_i = _mu_i(problem, beta)
    phi_hat, phi_cov, _ = map_estimates(problem, mu_i, omega2, sigma, x0=np.mean(phi, axis=0))
    eta = phi_hat - mu_i
    shrink = 1.0 - np.std(eta, axis=0, ddof=0) / np.sqrt(omega2)
    cov, names, lin = _linearization(problem, beta, omega2, sigma, phi_hat, design)
    ofv = _ofv_importance(problem, mu_i, omega2, sigma, phi_hat, phi_cov, n_is, rng)
    preds = _predictions(problem, beta, mu_i, phi_hat, sigma, lin)
    settings = {"method": "SAEM (Metropolis-Hastings E-step, M3 BLQ imputation)", "n_burn": n_burn,
                "n_smooth": n_smooth, "chains": chains, "seed": seed, "importance_samples": n_is,
                "error": problem.error, "engine": getattr(problem.solver, "name", str(problem.solver)),
                "rtol": problem.rtol, "simulations": problem.n_simulations}
    return PopulationFit(problem, {k: np.asarray(v, float) for k, v in beta.items()}, omega2, sigma, cov, names, ofv,
                         phi_hat, phi_cov, shrink, preds, pd.DataFrame(hist), settings)


def _jacobian(problem: Problem, phi: np.ndarray, h: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Predictions f (M,) and d g(f) / d phi (M, K) at ``phi`` (N, K), all patients batched."""
    K = problem.K
    batch = np.broadcast_to(phi, (K + 1,) + phi.shape).copy()
    for k in range(K):
        batch[k + 1, :, k] += h
    f = problem.predict(batch)
    g = problem.g(f)
    return f[0], np.stack([(g[k + 1] - g[0]) / h for k in range(K)], axis=-1)


def _linearization(problem, beta, omega2, sigma, phi_hat, design):
    """FIM by linearization at the modes -> covariance of (beta, omega2, sigma2); also the
    per-patient linearized means and covariances (for CWRES)."""
    f, J = _jacobian(problem, phi_hat)
    K = problem.K
    names = []
    for name in problem.estimate:
        names.append(f"mu[{name}]")
        names += [f"beta[{name},{c}]" for c in problem.covariate_names.get(name, ())]
    n_beta = len(names)
    names += [f"omega2[{n}]" for n in problem.estimate] + ["sigma2"]
    P = len(names)
    fim = np.zeros((P, P))
    gf = problem.g(f)
    lin = {}
    mu_i = _mu_i(problem, beta)
    for i in range(problem.n_subjects):
        rows = np.flatnonzero((problem.obs_subject == i) & (problem.obs_cens == 0))
        if rows.size == 0:
            continue
        Ji = J[rows]
        Rdiag = problem.residual_sd(f[rows], sigma) ** 2
        V = Ji @ np.diag(omega2) @ Ji.T + np.diag(Rdiag)
        m = gf[rows] + Ji @ (mu_i[i] - phi_hat[i])
        lin[i] = (rows, m, V)
        Vinv = np.linalg.inv(V)
        dm = []
        for k, X in enumerate(design):
            for c in range(X.shape[1]):
                dm.append(Ji[:, k] * X[i, c])
        dm = np.array(dm)  # (n_beta, n_i)
        fim[:n_beta, :n_beta] += dm @ Vinv @ dm.T
        dV = [np.outer(Ji[:, k], Ji[:, k]) for k in range(K)] + [np.diag(Rdiag / sigma ** 2)]
        A = [Vinv @ d for d in dV]
        for a in range(K + 1):
            for b in range(a, K + 1):
                v = 0.5 * np.sum(A[a] * A[b].T)
                fim[n_beta + a, n_beta + b] += v
                fim[n_beta + b, n_beta + a] += v if a != b else 0.0
    try:
        cov = np.linalg.inv(fim)
    except np.linalg.LinAlgError:
        cov = np.full_like(fim, np.nan)
    return cov, names, lin


def _ofv_importance(problem, mu_i, omega2, sigma, phi_hat, phi_cov, n_is, rng, batch: int = 50, df: int = 5):
    """-2 log L by importance sampling: a Student-t (df 5) proposal centred at each mode with
    the mode's covariance; BLQ by M3."""
    N, K = problem.n_subjects, problem.K
    cov = np.where(np.isfinite(phi_cov), phi_cov, 0.0) + 1e-10 * np.eye(K)
    L = np.linalg.cholesky(cov + 1e-12 * np.eye(K))
    logw = []
    done = 0
    while done < n_is:
        r = min(batch, n_is - done)
        z = rng.normal(size=(r, N, K))
        chi = rng.chisquare(df, size=(r, N, 1)) / df
        t = z / np.sqrt(chi)
        phi = phi_hat + np.einsum("nkl,rnl->rnk", L, t)
        ok = problem.in_bounds(phi)
        phi_sim = np.where(ok[..., None], phi, phi_hat)
        ll = problem.loglik_by_subject(problem.predict(phi_sim), sigma)
        lp = -0.5 * np.sum((phi - mu_i) ** 2 / omega2, axis=-1) - 0.5 * np.sum(np.log(2 * np.pi * omega2))
        # log density of the multivariate t proposal
        maha = np.sum(t * t, axis=-1) * 1.0
        logdet = np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=-1)
        from scipy.special import gammaln

        lq = (gammaln((df + K) / 2) - gammaln(df / 2) - K / 2 * np.log(df * np.pi) - logdet
              - (df + K) / 2 * np.log1p(maha / df))
        logw.append(np.where(ok, ll + lp - lq, -np.inf))
        done += r
    logw = np.concatenate(logw, axis=0)
    top = np.max(logw, axis=0)
    lli = top + np.log(np.mean(np.exp(logw - top), axis=0))
    return float(-2.0 * np.sum(lli))


def _predictions(problem, beta, mu_i, phi_hat, sigma, lin) -> pd.DataFrame:
    pred = problem.predict(mu_i)
    ipred = problem.predict(phi_hat)
    cwres = np.full(problem.n_obs, np.nan)
    for rows, m, V in lin.values():
        Lc = np.linalg.cholesky(V)
        cwres[rows] = np.linalg.solve(Lc, problem.g(problem.obs_dv[rows]) - m)
    sd = problem.residual_sd(ipred, sigma)
    iwres = np.where(problem.obs_cens == 0, (problem.g(problem.obs_dv) - problem.g(ipred)) / sd, np.nan)
    return pd.DataFrame({"ID": np.array(problem.ids, dtype=object)[problem.obs_subject], "TIME": problem.obs_time,
                         "DV": problem.obs_dv, "CENS": problem.obs_cens, "LLOQ": problem.obs_lloq, "PRED": pred,
                         "IPRED": ipred, "CWRES": cwres, "IWRES": iwres, "ROW": problem.obs_row})


def simulate_replicates(fit: PopulationFit, n_rep: int, seed: int) -> np.ndarray:
    """Observations simulated from the fit for the dataset's design, shape (n_rep, M), with
    BLQ values (below the row's LLOQ) set to NaN."""
    p = fit.problem
    rng = np.random.default_rng(seed)
    mu_i = _mu_i(p, fit.beta)
    out = []
    for start in range(0, n_rep, 50):
        r = min(50, n_rep - start)
        phi = mu_i + rng.normal(size=(r, p.n_subjects, p.K)) * np.sqrt(fit.omega2)
        for _ in range(100):
            bad = ~p.in_bounds(phi)
            if not bad.any():
                break
            phi[bad] = (np.broadcast_to(mu_i, phi.shape)[bad] + rng.normal(size=(int(bad.sum()), p.K)) * np.sqrt(fit.omega2))
        f = p.predict(phi)
        eps = rng.normal(size=f.shape) * p.residual_sd(f, fit.sigma)
        y = np.exp(np.log(np.maximum(f, 1e-300)) + eps) if p.error == "log" else f + eps
        y = np.where(np.isfinite(p.obs_lloq) & (y < p.obs_lloq), np.nan, y)
        out.append(y)
    return np.concatenate(out, axis=0)
