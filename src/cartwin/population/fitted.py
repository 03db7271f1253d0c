"""A fitted population: the estimates of ``cartwin fit --population`` as virtual patients.

``cartwin fit ... --population --out DIR`` writes ``DIR/population.json`` (format
:data:`FORMAT`, version :data:`FORMAT_VERSION`): the fitted model's name and version, and per
estimated parameter its unit, typical value (reference covariates), estimation scale
(``log``: log-normal between-patient variability; ``none``: normal), between-patient variance
``omega2`` on that scale, covariate effects (dataset column, reference = the fitted data's
median, coefficient, form) and the parameter's bounds in the fitted model; the parameters held
fixed with their values and units; the residual error model and its sigma (recorded for
completeness: a trial simulates true values, not measurements).

:meth:`FittedPopulation.sample` draws patient ``k``'s value of each parameter as the fit
modelled it::

    phi_k = beta_0 + sum_c beta_c * h_c(cov_c,k),  h = log(cov/ref) (power) or cov - ref (linear)
    value_k = exp(phi_k + omega * z_k)      (log scale)   or   phi_k + omega * z_k   (none)

truncated to the bounds of the fitted model's table intersected with the target model's (the
population the fit estimated is the truncated one, as in SAEM's E-step), through the quantile
map of :func:`cartwin.population.variability.truncated_lognormal` (no point mass at a bound).
``z_k`` comes from patient ``k``'s own stream (purpose ``"variability"``, substream 1: apart
from the preset IIV's draws), one normal per fitted parameter in the file's order, so a
patient's values do not depend on cohort size or sharding. Covariates are the trial's virtual
patients' (:data:`COVARIATE_COLUMNS` maps dataset columns to them, with units).

Mapping onto the trial's model (:meth:`FittedPopulation.mapping`): a fit of the trial's own model
maps every parameter to itself (units checked against the model's table). A fit of another
model maps only the parameters listed in :data:`MAPPINGS`, each the same quantity in the same
unit; any other fitted parameter is refused by name unless left out with ``use=``. Stein 2019
-> the composite model (Stein AM et al. CPT Pharmacometrics Syst Pharmacol 2019;8:285): the
rapid contraction rate ``alpha_per_day`` is the effector death rate ``d_effector_per_day`` and the
terminal decline rate ``beta_per_day`` is the memory death rate ``d_memory_per_day`` (1/day both;
the composite model's defaults cite them so). ``foldx``, ``T_max_day``, ``C_max_copies_per_ug``
(outcomes of expansion, which the composite model produces from dose and antigen) and ``F_B`` (a
fraction, where the composite model has a differentiation rate in 1/day) have no counterpart.

Example
-------
>>> from cartwin.population.fitted import FittedPopulation, FittedParameter
>>> fp = FittedPopulation("stein2019", "1", (FittedParameter("alpha_per_day", "1/day", 0.2, "log", 0.5, (), 1e-4, 10.0),))
>>> from cartwin.model import CarTPatientModel
>>> fp.mapping(CarTPatientModel)
{'alpha_per_day': 'd_effector_per_day'}
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from cartwin.foundation.errors import ValidationError

FORMAT = "cartwin-fitted-population"
FORMAT_VERSION = 1
FILENAME = "population.json"
SCALES = ("log", "none")
FORMS = ("power", "linear")

#: Parameters of one model that are the same quantity, in the same unit, as a parameter of
#: another: ``{(fitted model, trial model): {fitted parameter: (trial parameter, why)}}``.
MAPPINGS: Mapping[tuple[str, str], Mapping[str, tuple[str, str]]] = {
    ("stein2019", "cartwin-cart"): {
        "alpha_per_day": ("d_effector_per_day", "Stein 2019 rapid contraction rate alpha = death rate of effector CAR-T (1/day)"),
        "beta_per_day": ("d_memory_per_day", "Stein 2019 terminal decline rate beta = death rate of memory CAR-T (1/day)"),
    },
}

#: Why a fitted parameter has no counterpart in a trial model (said in the refusal).
UNMAPPED_REASONS: Mapping[tuple[str, str], Mapping[str, str]] = {
    ("stein2019", "cartwin-cart"): {
        "foldx": "fold expansion is an outcome of the composite model (dose, antigen, proliferation), not a parameter",
        "T_max_day": "the time of peak is an outcome of the composite model, not a parameter",
        "C_max_copies_per_ug": "the peak level is an outcome of the composite model, not a parameter",
        "F_B": "a fraction of the peak (unit 1); the composite model has a differentiation rate k_effector_to_memory_per_day (1/day)",
    },
}

#: Dataset covariate columns (upper case) -> the virtual population's column and its unit.
COVARIATE_COLUMNS: Mapping[str, tuple[str, str]] = {
    "WT": ("weight_kg", "kg"), "WEIGHT": ("weight_kg", "kg"), "BW": ("weight_kg", "kg"),
    "HT": ("height_cm", "cm"), "HEIGHT": ("height_cm", "cm"),
    "AGE": ("age_years", "years"), "SEX": ("sex_male", "1 = male"), "ECOG": ("ecog", "score"),
    "LDH": ("ldh_u_per_l", "U/L"), "ALC": ("alc_per_ul", "cells/uL"), "CRP": ("crp_mg_per_l", "mg/L"),
    "FERRITIN": ("ferritin_ng_per_ml", "ng/mL"), "BSA": ("bsa_m2", "m2 (Mosteller, from weight and height)"),
}


@dataclass(frozen=True)
class CovariateEffect:
    """``phi += beta * log(cov / reference)`` (``power``) or ``beta * (cov - reference)`` (``linear``)."""

    column: str
    reference: float
    beta: float
    form: str = "power"


@dataclass(frozen=True)
class FittedParameter:
    name: str
    unit: str
    typical: float                 # natural scale, at the reference covariates
    scale: str                     # "log" or "none"
    omega2: float                  # between-patient variance on the estimation scale
    covariates: tuple[CovariateEffect, ...] = ()
    low: float = -math.inf          # bounds of the fitted model's table
    high: float = math.inf


@dataclass(frozen=True)
class FittedPopulation:
    """The population a fit estimated (module docstring); :func:`load_population` reads one."""

    model: str
    model_version: str
    parameters: tuple[FittedParameter, ...]
    fixed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    residual_error: Mapping[str, Any] = field(default_factory=dict)
    observable: str = ""
    dv_unit: str = ""
    source: str = ""
    n_patients: int = 0
    ofv: float = float("nan")
    path: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)  # the regimen the fit simulated (product, ...)

    def __post_init__(self) -> None:
        where = self.path or "population"
        if not self.parameters:
            raise ValidationError(f"{where}: parameters", "at least one fitted parameter", [])
        seen = set()
        for p in self.parameters:
            f = f"{where}: parameters.{p.name}"
            if p.name in seen:
                raise ValidationError(f"{where}: parameters", "each parameter once", p.name)
            seen.add(p.name)
            if p.scale not in SCALES:
                raise ValidationError(f"{f}.scale", "log or none", p.scale)
            if not (isinstance(p.omega2, (int, float)) and math.isfinite(p.omega2) and 0.0 <= p.omega2 <= 100.0):
                raise ValidationError(f"{f}.omega2", "a variance in [0, 100]", p.omega2)
            if not (isinstance(p.typical, (int, float)) and math.isfinite(p.typical)) or (p.scale == "log" and p.typical <= 0):
                raise ValidationError(f"{f}.typical", "a finite number (positive on the log scale)", p.typical)
            if not isinstance(p.unit, str):
                raise ValidationError(f"{f}.unit", "the parameter's unit (text)", p.unit)
            for c in p.covariates:
                if c.form not in FORMS:
                    raise ValidationError(f"{f}.covariates.{c.column}.form", "power or linear", c.form)
                if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (c.reference, c.beta)):
                    raise ValidationError(f"{f}.covariates.{c.column}", "finite reference and beta", (c.reference, c.beta))
                if c.form == "power" and c.reference <= 0:
                    raise ValidationError(f"{f}.covariates.{c.column}.reference", "a positive reference for the power form", c.reference)

    # ---- files ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model": self.model, "model_version": self.model_version,
            "observable": self.observable, "dv_unit": self.dv_unit, "source": self.source,
            "n_patients": self.n_patients, "ofv_minus_2loglik": self.ofv,
            "parameters": {p.name: {"unit": p.unit, "typical": p.typical, "scale": p.scale, "omega2": p.omega2,
                                    "cv_percent": _cv(p), "low": _num(p.low), "high": _num(p.high),
                                    "covariates": [{"column": c.column, "reference": c.reference, "beta": c.beta,
                                                    "form": c.form, **_trial_covariate(c.column)} for c in p.covariates]}
                           for p in self.parameters},
            "fixed": {k: dict(v) for k, v in self.fixed.items()},
            "residual_error": dict(self.residual_error),
            "context": dict(self.context),
            "notes": ("typical: natural scale at the reference covariates; omega2: variance of the random effect on the "
                      "estimation scale (log: log-normal); covariate form power: phi += beta*log(cov/reference), "
                      "linear: phi += beta*(cov - reference); docs/fitting.md"),
        }

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=float) + "\n")
        return path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=float).encode()).hexdigest()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    # ---- onto a trial model -------------------------------------------------------------
    def mapping(self, target, use: Sequence[str] | None = None, field: str = "population") -> dict[str, str]:
        """``{fitted parameter: target parameter}`` for the parameters used (all, or ``use``);
        refuses by name a parameter with no counterpart or a unit that differs."""
        specs = target.parameter_specs()
        by_name = {p.name: p for p in self.parameters}
        if use is not None:
            use = list(use)
            if not use:
                raise ValidationError(f"{field}_parameters", "at least one fitted parameter", use)
            for name in use:
                if name not in by_name:
                    raise ValidationError(f"{field}_parameters", f"parameters of the {self.model} fit ("
                                          + ", ".join(self.names) + ")", name)
        chosen = [by_name[n] for n in (use if use is not None else self.names)]
        table = MAPPINGS.get((self.model, target.name), {})
        same = self.model == target.name
        out, missing = {}, []
        for p in chosen:
            if same:
                if p.name not in specs:
                    missing.append(p.name)
                    continue
                dest = p.name
            elif p.name in table:
                dest = table[p.name][0]
            else:
                missing.append(p.name)
                continue
            if _unit(specs[dest].unit) != _unit(p.unit):
                raise ValidationError(f"{field}: parameters.{p.name}.unit",
                                      f"the unit of {target.name}'s {dest} ({specs[dest].unit})", p.unit)
            out[p.name] = dest
        if missing:
            reasons = UNMAPPED_REASONS.get((self.model, target.name), {})
            mapped = ", ".join(f"{k} -> {v[0]}" for k, v in table.items() if k in by_name) or "none"
            detail = "; ".join(f"{m}: {reasons[m]}" for m in missing if m in reasons)
            raise ValidationError(
                f"{field}: parameters", f"parameters with a counterpart in {target.name} (mapped: {mapped})",
                missing, hint=(f"{self.model} parameters {', '.join(missing)} have no counterpart in {target.name}"
                               + (f" ({detail})" if detail else "")
                               + f"; fit {target.name} itself, or use only the mapped ones "
                               f"({field}_parameters / --population-parameters)"))
        return out

    def sample(self, target, patients: pd.DataFrame, seed: int, use: Sequence[str] | None = None,
               field: str = "population") -> dict[str, np.ndarray]:
        """Per-patient values ``{target parameter: array}`` for the rows of ``patients`` (a
        virtual population's table with ``patient_id`` and the covariates the fit uses)."""
        from cartwin.foundation.streams import patient_generators
        from cartwin.population.variability import truncated_lognormal

        mapping = self.mapping(target, use, field)
        specs = target.parameter_specs()
        ids = patients["patient_id"].to_numpy(np.int64)
        n = len(ids)
        z = np.empty((n, len(self.parameters)))
        for i, rng in enumerate(patient_generators(seed, ids, "variability", substream=1)):
            z[i] = rng.standard_normal(len(self.parameters))
        out = {}
        for j, p in enumerate(self.parameters):
            if p.name not in mapping:
                continue
            dest = mapping[p.name]
            spec = specs[dest]
            low, high = max(p.low, spec.low), min(p.high, spec.high)
            phi = np.full(n, math.log(p.typical) if p.scale == "log" else p.typical)
            for c in p.covariates:
                v = _covariate(patients, c.column, f"{field}: parameters.{p.name}.covariates")
                if c.form == "power":
                    if not np.all(v > 0):
                        raise ValidationError(f"{field}: parameters.{p.name}.covariates.{c.column}",
                                              "positive covariate values in the trial's population (power form)",
                                              float(np.min(v)))
                    phi = phi + c.beta * np.log(v / c.reference)
                else:
                    phi = phi + c.beta * (v - c.reference)
            omega = math.sqrt(p.omega2)
            if p.scale == "log":
                values, _ = truncated_lognormal(np.exp(phi), z[:, j], omega, low, high)
            else:
                values = _truncated_normal(phi, z[:, j], omega, low, high)
            out[dest] = values
        return out

    def describe(self, target, use: Sequence[str] | None = None) -> dict[str, Any]:
        """What a trial records about the fitted population it used."""
        mapping = self.mapping(target, use)
        return {"path": self.path, "sha256": self.sha256, "model": self.model, "model_version": self.model_version,
                "source": self.source, "n_patients": self.n_patients, "context": dict(self.context), "mapping": mapping,
                "parameters": {mapping[p.name]: {"fitted": p.name, "typical": p.typical, "unit": p.unit,
                                                 "scale": p.scale, "omega2": p.omega2,
                                                 "covariates": [c.column for c in p.covariates]}
                               for p in self.parameters if p.name in mapping}}


def _trial_covariate(column: str) -> dict[str, str]:
    """The virtual population's covariate a dataset column is read as, with its unit (for readers)."""
    hit = COVARIATE_COLUMNS.get(str(column).upper())
    return {"trial_covariate": hit[0], "unit": hit[1]} if hit else {}


def _cv(p: FittedParameter) -> float:
    return 100.0 * math.sqrt(math.expm1(p.omega2)) if p.scale == "log" else float("nan")


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _unit(text: str) -> str:
    t = str(text).lower().replace("µ", "u").replace("μ", "u").replace(" ", "")
    return {"d^-1": "1/day", "/day": "1/day", "per_day": "1/day", "1/d": "1/day", "": "1", "dimensionless": "1"}.get(t, t)


def _covariate(patients: pd.DataFrame, column: str, field: str) -> np.ndarray:
    key = str(column).upper()
    if column in patients:
        return patients[column].to_numpy(float)
    if key not in COVARIATE_COLUMNS:
        raise ValidationError(f"{field}.{column}", "a covariate the trial's virtual patients have ("
                              + ", ".join(sorted(COVARIATE_COLUMNS)) + ")", column)
    name, _unit_text = COVARIATE_COLUMNS[key]
    if name == "bsa_m2" and "bsa_m2" not in patients:
        from cartwin.foundation.units import body_surface_area_m2

        return body_surface_area_m2(patients["weight_kg"].to_numpy(float), patients["height_cm"].to_numpy(float))
    if name not in patients:
        raise ValidationError(f"{field}.{column}", f"a covariate the trial's population draws ({name} is not in it)", column)
    return patients[name].to_numpy(float)


def _truncated_normal(mu, z, omega: float, low: float, high: float) -> np.ndarray:
    mu = np.asarray(mu, dtype=float)
    if omega <= 0:
        return np.clip(mu, low, high)
    a, b = (low - mu) / omega, (high - mu) / omega
    u = ndtr(a) + ndtr(z) * (ndtr(b) - ndtr(a))
    return np.clip(mu + omega * ndtri(np.clip(u, 1e-300, 1 - 1e-16)), low, high)


def load_population(source: str | os.PathLike | FittedPopulation, field: str = "population") -> FittedPopulation:
    """Read ``population.json`` (a path to it, or to the directory a fit wrote)."""
    if isinstance(source, FittedPopulation):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise ValidationError(field, f"a fitted population: a {FILENAME} file or the directory "
                              "`cartwin fit --population --out DIR` wrote", str(source))
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(field, f"a JSON file ({exc})", str(path)) from None
    return from_dict(data, str(path))


def from_dict(data: Mapping[str, Any], path: str = "population") -> FittedPopulation:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValidationError(f"{path}: format", f"{FORMAT!r} (written by `cartwin fit --population`)",
                              data.get("format") if isinstance(data, Mapping) else type(data).__name__)
    if data.get("format_version") != FORMAT_VERSION:
        raise ValidationError(f"{path}: format_version", str(FORMAT_VERSION), data.get("format_version"))
    for key in ("model", "parameters"):
        if key not in data:
            raise ValidationError(f"{path}: {key}", "present", None)
    if not isinstance(data["parameters"], Mapping):
        raise ValidationError(f"{path}: parameters", "a table of parameter name -> estimates", type(data["parameters"]).__name__)
    params = []
    for name, row in data["parameters"].items():
        where = f"{path}: parameters.{name}"
        if not isinstance(row, Mapping):
            raise ValidationError(where, "a table (unit, typical, scale, omega2, covariates)", row)
        for key in ("unit", "typical", "scale", "omega2"):
            if key not in row:
                raise ValidationError(f"{where}.{key}", "present", None)
        covs = []
        for i, c in enumerate(row.get("covariates") or []):
            try:
                covs.append(CovariateEffect(str(c["column"]), float(c["reference"]), float(c["beta"]), str(c.get("form", "power"))))
            except (KeyError, TypeError, ValueError):
                raise ValidationError(f"{where}.covariates[{i}]", "column, reference, beta and form", c) from None
        low = row.get("low")
        high = row.get("high")
        params.append(FittedParameter(str(name), row["unit"], _float(row["typical"], f"{where}.typical"), str(row["scale"]),
                                      _float(row["omega2"], f"{where}.omega2"), tuple(covs),
                                      -math.inf if low is None else _float(low, f"{where}.low"),
                                      math.inf if high is None else _float(high, f"{where}.high")))
    return FittedPopulation(str(data["model"]), str(data.get("model_version", "")), tuple(params),
                            fixed=dict(data.get("fixed") or {}), residual_error=dict(data.get("residual_error") or {}),
                            observable=str(data.get("observable", "")), dv_unit=str(data.get("dv_unit", "")),
                            source=str(data.get("source", "")), n_patients=int(data.get("n_patients") or 0),
                            ofv=float(data.get("ofv_minus_2loglik") or float("nan")), path=path,
                            context=dict(data.get("context") or {}))


def _float(v: Any, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValidationError(field, "a number", v)
    return float(v)
