"""A fitting problem: a model, a dataset, which parameters are estimated, the residual error.

The engine does the simulation: all patients are one batched :func:`cartwin.engine.simulate`
call, saved at the union of the observation times, with each patient's doses (from the
dataset's dose rows) as per-patient amounts of one :class:`~cartwin.engine.events.Schedule`.

Parameters are estimated on a transformed scale ``phi``: ``log`` for a parameter whose lower
bound in the model's table is >= 0 (log-normal between-patient variability, as Monolix and
nlmixr2 write it), the identity otherwise. The bounds of the table hold on every value tried.

Residual error models (``error``): ``"log"`` (additive on the natural-log scale, i.e.
exponential; Stein 2019), ``"additive"``, ``"proportional"``. Below-LLOQ observations enter the
likelihood by Beal's M3 method: ``P(y < LLOQ) = Phi((g(LLOQ) - g(f)) / sigma)`` on the error
scale ``g`` (Beal SL, J Pharmacokinet Pharmacodyn 2001;28:481-504).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import log_ndtr

from cartwin.fit.dataset import NonmemDataset
from cartwin.foundation.errors import SolveStatus, ValidationError
from cartwin.model.base import Model

ERROR_MODELS = ("log", "additive", "proportional")
TINY = 1e-300


def _norm_unit(text: str) -> str:
    t = str(text).lower().replace("µ", "u").replace("μ", "u").replace(" ", "")
    return t.replace("gdna", "").replace("genomicdna", "")


@dataclass
class Problem:
    """What is fitted: build with :func:`make_problem`."""

    model: Model
    dataset: NonmemDataset
    observable: str
    estimate: tuple[str, ...]
    transforms: tuple[str, ...]
    fixed: dict[str, float]
    error: str
    solver: Any
    rtol: float
    ids: list[str]
    obs_subject: np.ndarray
    obs_time: np.ndarray
    obs_dv: np.ndarray
    obs_cens: np.ndarray
    obs_lloq: np.ndarray
    obs_row: np.ndarray
    save_days: np.ndarray
    obs_col: np.ndarray
    schedule: Any
    t0: float
    unapplied_doses: int
    covariate_design: dict[str, np.ndarray] = field(default_factory=dict)
    covariate_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    covariate_refs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    covariate_forms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    base_values: dict[str, Any] = field(default_factory=dict)   # set by the regimen (product, indication)
    initial: dict[str, np.ndarray] = field(default_factory=dict)  # initial-state values per patient
    atol: Any = 1e-9
    dosing: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)     # typical values before the fit
    n_simulations: int = 0

    @property
    def n_subjects(self) -> int:
        return len(self.ids)

    @property
    def n_obs(self) -> int:
        return int(self.obs_dv.size)

    @property
    def K(self) -> int:  # noqa: N802 - the usual symbol
        return len(self.estimate)

    def subset(self, patients: Sequence[int]) -> Problem:
        """The same problem for some of its patients (positions in :attr:`ids`), e.g. to
        refit one patient alone."""
        import dataclasses

        from cartwin.engine.events import Dose, Schedule

        idx = np.asarray(patients, dtype=int)
        pos = np.full(self.n_subjects, -1)
        pos[idx] = np.arange(idx.size)
        keep = pos[self.obs_subject] >= 0
        n = self.n_subjects

        def take(v):
            v = np.asarray(v)
            return v[idx] if v.ndim >= 1 and v.shape[0] == n else v

        doses = [Dose(d.time_day, d.state, take(d.amount), d.label) if isinstance(d, Dose) else d
                 for d in self.schedule.doses]
        return dataclasses.replace(
            self, ids=[self.ids[i] for i in idx], obs_subject=pos[self.obs_subject[keep]],
            obs_time=self.obs_time[keep], obs_dv=self.obs_dv[keep], obs_cens=self.obs_cens[keep],
            obs_lloq=self.obs_lloq[keep], obs_row=self.obs_row[keep], obs_col=self.obs_col[keep],
            schedule=Schedule(doses), initial={k: take(v) for k, v in self.initial.items()},
            base_values={k: take(v) for k, v in self.base_values.items()},
            covariate_design={k: take(v) for k, v in self.covariate_design.items()}, n_simulations=0)

    # ---- scales -----------------------------------------------------------------------
    def to_phi(self, values: Mapping[str, Any]) -> np.ndarray:
        out = []
        for name, tr in zip(self.estimate, self.transforms, strict=True):
            v = np.asarray(values[name], dtype=float)
            out.append(np.log(v) if tr == "log" else v)
        return np.stack(np.broadcast_arrays(*out), axis=-1)

    def from_phi(self, phi: np.ndarray) -> dict[str, np.ndarray]:
        phi = np.asarray(phi, dtype=float)
        return {name: (np.exp(phi[..., k]) if tr == "log" else phi[..., k])
                for k, (name, tr) in enumerate(zip(self.estimate, self.transforms, strict=True))}

    def phi_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        specs = self.model.parameter_specs()
        lo, hi = [], []
        for name, tr in zip(self.estimate, self.transforms, strict=True):
            s = specs[name]
            if tr == "log":
                lo.append(np.log(s.low) if s.low > 0 else -np.inf)
                hi.append(np.log(s.high) if np.isfinite(s.high) else np.inf)
            else:
                lo.append(s.low)
                hi.append(s.high)
        return np.array(lo), np.array(hi)

    def in_bounds(self, phi: np.ndarray) -> np.ndarray:
        """Per row of ``phi`` (N, K): whether every parameter is inside its table bounds."""
        specs = self.model.parameter_specs()
        values = self.from_phi(phi)
        ok = np.all(np.isfinite(phi), axis=-1)
        for name, v in values.items():
            s = specs[name]
            ok &= (v >= s.low) & (v <= s.high) & np.isfinite(v)
        return ok

    # ---- the error scale --------------------------------------------------------------
    def g(self, x: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(x, TINY)) if self.error == "log" else np.asarray(x, dtype=float)

    def residual_sd(self, f: np.ndarray, sigma: float) -> np.ndarray:
        if self.error == "proportional":
            return sigma * np.maximum(np.abs(f), TINY)
        return np.full_like(np.asarray(f, dtype=float), sigma)

    # ---- prediction -------------------------------------------------------------------
    def predict(self, phi: np.ndarray) -> np.ndarray:
        """Predictions at every observation, shape (M,) for phi (N, K), or (R, M) for (R, N, K)
        (R replicates in one batch). NaN where a patient's solve failed."""
        phi = np.asarray(phi, dtype=float)
        squeeze = phi.ndim == 2
        phi3 = phi[None] if squeeze else phi
        R, N = phi3.shape[0], phi3.shape[1]
        flat = phi3.reshape(R * N, self.K)
        f = self._simulate(flat, R)  # (R*N, n_times)
        f = f.reshape(R, N, -1)[:, self.obs_subject, self.obs_col]
        return f[0] if squeeze else f

    def _simulate(self, flat_phi: np.ndarray, reps: int = 1) -> np.ndarray:
        from cartwin.engine import Dose, SaveAt, Schedule, StepController, simulate

        n = flat_phi.shape[0]
        values = {k: _tile(v, n) for k, v in self.base_values.items()}
        values.update({k: np.asarray(v, dtype=float) for k, v in self.fixed.items()})
        values.update(self.from_phi(flat_phi))
        params = self.model.parameters(**{k: np.broadcast_to(v, (n,)).copy() for k, v in values.items()})
        y0 = None
        if self.initial:
            y0 = self.model.initial_state(params, n)
            for state, v in self.initial.items():
                y0[self.model.state_index(state)] = np.tile(v, n // v.size)
        schedule = self.schedule
        if reps > 1 and schedule.doses:
            schedule = Schedule([Dose(d.time_day, d.state, np.tile(np.asarray(d.amount), reps), d.label)
                                 for d in schedule.doses])
        from cartwin.engine.sbml import event_schedule

        schedule = schedule + event_schedule(self.model, params)
        self.n_simulations += 1
        sol = simulate(self.model, params, y0=y0, t0=self.t0, solver=self.solver, saveat=SaveAt(self.save_days),
                       controller=StepController(rtol=self.rtol, atol=self.atol), schedule=schedule)
        obs = sol.observables()[self.observable]
        bad = sol.status != SolveStatus.SUCCESS
        if bad.any():
            obs = obs.copy()
            obs[bad] = np.nan
        return obs

    # ---- likelihood -------------------------------------------------------------------
    def loglik_terms(self, f: np.ndarray, sigma: float) -> np.ndarray:
        """Log-likelihood of each observation given predictions ``f`` (last axis M)."""
        sd = self.residual_sd(f, sigma)
        gf = self.g(f)
        out = np.empty(np.shape(f))
        c = self.obs_cens == 1
        y = self.g(self.obs_dv)
        lim = self.g(self.obs_lloq)
        z = (y - gf) / sd
        out[..., ~c] = (-0.5 * z * z - np.log(sd) - 0.5 * np.log(2 * np.pi))[..., ~c]
        zc = (lim - gf) / sd
        out[..., c] = log_ndtr(zc)[..., c]
        return np.where(np.isfinite(out), out, -1e10)

    def loglik_by_subject(self, f: np.ndarray, sigma: float) -> np.ndarray:
        terms = self.loglik_terms(f, sigma)
        if terms.ndim == 1:
            return np.bincount(self.obs_subject, weights=terms, minlength=self.n_subjects)
        return np.stack([np.bincount(self.obs_subject, weights=t, minlength=self.n_subjects) for t in terms])


def _tile(v: Any, n: int) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return np.broadcast_to(v, (n,)).copy() if v.ndim == 0 or v.size == 1 else np.tile(v, n // v.size)


def _fit_solver(solver: Any) -> Any:
    """``"auto"``: the compiled engine on one thread (the fit calls it thousands of times with
    ~100 patients, where thread start-up and a shared machine's cores cost more than they
    give: 10 ms vs 60-80 ms per call on the 2-core development machine), else NumPy."""
    from cartwin.engine.choice import compiled_engine_available, resolve_solver

    if isinstance(solver, str) and solver == "auto" and compiled_engine_available():
        from cartwin.engine.compiled import NumbaRosenbrock

        return NumbaRosenbrock(rhs="generated", threads=1)
    return resolve_solver(solver)


def make_problem(model: Model, dataset: NonmemDataset, *, estimate: Sequence[str] | None = None,
                 fixed: Mapping[str, float] | None = None, observable: str | None = None, error: str = "log",
                 solver: Any = "auto", rtol: float = 1e-6,
                 covariates: Mapping[str, Sequence[str]] | None = None, amt_unit: Any = None,
                 product: str | None = None, indication: str | None = None,
                 lymphodepletion: Any = "auto") -> Problem:
    """Check the pieces against each other and lay the data out for batched prediction.

    ``estimate``: parameter names as the model names them (default: every parameter of a model
    with at most 10, else required). ``fixed``: values for parameters not estimated (default:
    the table's). ``covariates``: ``{parameter: [covariate column, ...]}`` (power model for
    positive covariates, ``phi = ... + beta * log(cov / median)``; linear in ``cov - median``
    otherwise). ``amt_unit`` (the unit of AMT: one for every dose row, or ``{CMT: unit}``),
    ``product``, ``indication`` and ``lymphodepletion``: how dose rows become doses and, for
    the composite model, the regimen (:mod:`cartwin.fit.dosing`).
    """
    from cartwin.engine.events import Dose, Schedule

    specs = model.parameter_specs()
    if estimate is None:
        if len(specs) > 10:
            raise ValidationError("estimate", f"the parameters to estimate (model {model.name} has {len(specs)})", None)
        estimate = tuple(specs)
    estimate = tuple(estimate)
    if not estimate:
        raise ValidationError("estimate", "at least one parameter", estimate)
    for name in estimate:
        if name not in specs:
            raise ValidationError("estimate", f"parameters of {model.name} (" + ", ".join(specs) + ")", name)
    fixed = dict(fixed or {})
    for name in fixed:
        if name not in specs:
            raise ValidationError("fixed", f"parameters of {model.name}", name)
        if name in estimate:
            raise ValidationError("fixed", "parameters that are not estimated", name)
    if error not in ERROR_MODELS:
        raise ValidationError("error", "one of " + ", ".join(ERROR_MODELS), error)
    obs_names = [o.name for o in model.observables_spec] or list(model.state_names())
    if observable is None:
        if len(obs_names) != 1:
            raise ValidationError("observable", "the observable DV measures: one of " + ", ".join(obs_names), None)
        observable = obs_names[0]
    if observable not in obs_names:
        raise ValidationError("observable", "one of " + ", ".join(obs_names), observable)
    spec_unit = next((o.unit for o in model.observables_spec if o.name == observable), None)
    if spec_unit is None:
        spec_unit = next((s.unit for s in model.states if s.name == observable), "")
    if spec_unit and _norm_unit(spec_unit) != _norm_unit(dataset.dv_unit):
        raise ValidationError("dv_unit", f"the unit of {observable} ({spec_unit}); convert DV to it", dataset.dv_unit)
    transforms = tuple("log" if specs[n].low >= 0 else "none" for n in estimate)

    obs = dataset.observations()
    ids = dataset.ids()
    index = {pid: i for i, pid in enumerate(ids)}
    if error == "log" and (obs.loc[obs["CENS"] == 0, "DV"] <= 0).any():
        raise ValidationError("DV", "positive values with the log error model", float(obs["DV"].min()))
    doses = dataset.doses()
    t_first = min(0.0, float(obs["TIME_DAY"].min()), float(doses["TIME_DAY"].min()) if len(doses) else 0.0)
    save = np.unique(obs["TIME_DAY"].to_numpy(float))
    col = np.searchsorted(save, obs["TIME_DAY"].to_numpy(float))
    from cartwin.fit.dosing import plan_doses

    plan = plan_doses(model, doses, ids, dataset.covariate_table(), dataset.source, amt_unit=amt_unit,
                      product=product, indication=indication, lymphodepletion=lymphodepletion)
    if plan.doses:
        t_first = min(t_first, min(t for t, _ in plan.doses))
    unapplied = plan.unapplied
    for name in fixed:
        plan.base_values.pop(name, None)
    reference = {k: float(plan.base_values.get(k, specs[k].value)) for k in estimate}
    schedule = Schedule([Dose(t, s, a, "dataset dose") for (t, s), a in sorted(plan.doses.items())])

    design, cov_names, cov_refs, cov_forms = {}, {}, {}, {}
    table = dataset.covariate_table()
    for param, covs in (covariates or {}).items():
        if param not in estimate:
            raise ValidationError("covariates", "estimated parameters", param)
        cols, refs, forms = [np.ones(len(ids))], [], []
        for c in covs:
            if c not in dataset.covariates:
                raise ValidationError(f"covariates[{param}]", "covariate columns of the dataset (" + ", ".join(dataset.covariates) + ")", c)
            v = table.set_index("ID").loc[ids, c].to_numpy(float)
            ref = float(np.median(v))
            refs.append(ref)
            power = bool(np.all(v > 0))
            forms.append("power" if power else "linear")
            cols.append(np.log(v / ref) if power else v - ref)
        design[param] = np.column_stack(cols)
        cov_names[param] = tuple(covs)
        cov_refs[param] = tuple(refs)
        cov_forms[param] = tuple(forms)
    return Problem(model=model, dataset=dataset, observable=observable, estimate=estimate, transforms=transforms,
                   fixed=fixed, error=error, solver=_fit_solver(solver), rtol=rtol, ids=ids,
                   obs_subject=obs["ID"].map(index).to_numpy(int), obs_time=obs["TIME_DAY"].to_numpy(float),
                   obs_dv=obs["DV"].to_numpy(float), obs_cens=obs["CENS"].to_numpy(int),
                   obs_lloq=obs["LLOQ"].to_numpy(float), obs_row=obs["ROW"].to_numpy(int), save_days=save,
                   obs_col=col, schedule=schedule, t0=t_first, unapplied_doses=unapplied,
                   covariate_design=design, covariate_names=cov_names, covariate_refs=cov_refs,
                   covariate_forms=cov_forms, base_values={k: v for k, v in plan.base_values.items() if k not in estimate},
                   initial={k: np.broadcast_to(np.asarray(v, float), (len(ids),)).copy() for k, v in plan.initial.items()},
                   atol=plan.atol, dosing=plan.record, reference=reference)
