"""Run a virtual trial: enrolment -> journey -> infusion -> dynamics -> clinic -> assessments.

``run_trial(protocol, n, seed)`` draws ``n`` enrolled patients from the protocol's virtual
population (only eligible ones are enrolled), sends each through the vein-to-vein journey, and
simulates the infused ones with the protocol's product, dose, lymphodepletion and management
policy; it then grades toxicity on ASTCT and on the trial's own scale, assesses response on the
trial's schedule and computes the endpoints with 95 % CIs for the ITT and infused sets.

Every random draw comes from a per-patient stream of one root seed, and the dynamics of a
patient do not depend on its batch, so a patient's row is the same in any batching or sharding.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartwin.engine.choice import DEFAULT_RTOL, resolve_solver
from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.errors import CartwinWarning, ValidationError
from cartwin.foundation.streams import patient_generators, uniforms
from cartwin.trial.cohort import CohortSpec, empty_rows, simulate_cohort
from cartwin.trial.endpoints import compute_endpoints, summarise_replicates
from cartwin.trial.protocol import Protocol, load_protocol

#: Longest simulated follow-up by default (days); endpoints need 12 months, medians may need more.
DEFAULT_MAX_FOLLOW_UP_DAYS = 730.0


@dataclass(frozen=True)
class ShardOptions:
    """How to split the infused cohort: see :func:`cartwin.dispatch.run_shards`."""

    out_dir: str
    shard_size: int = 512
    scheduler: Any = None  # None/"serial", "local", "threads", an address or a dask Client
    workers: int | None = None
    resume: bool = False
    progress: bool = True


@dataclass
class TrialResult:
    """A virtual trial's per-patient rows, endpoints and kept timecourses, with the seed, the name
    of the engine that ran it (a solver's ``name``, e.g. ``"rodas5p-numba"``) and its rtol."""

    protocol: Protocol
    patients: pd.DataFrame
    endpoints: dict[str, Any]
    timecourses: pd.DataFrame
    seed: int
    engine: str
    rtol: float = DEFAULT_RTOL
    fitted_population: dict[str, Any] | None = None
    #: The factors the patients' parameters were multiplied by (the calibration's, then the
    #: caller's overrides) and where they came from (:func:`parameters_record`):
    #: ``{"calibration": ..., "overrides": {...}, "factors": {...}}``.
    parameters: dict[str, Any] | None = None

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """``patients.parquet``, ``endpoints.json`` and ``report.html`` in ``out_dir``."""
        from cartwin.trial.report import write_report

        payload = dict(self.endpoints)
        if self.parameters is not None:
            payload["parameters"] = self.parameters
        if self.fitted_population is not None:
            payload["fitted_population"] = self.fitted_population
        return write_trial_outputs(
            out_dir, self.protocol, self.patients, self.seed, self.engine, self.rtol, payload,
            lambda out: write_report(self.patients, self.endpoints, self.protocol, out, timecourses=self.timecourses,
                                     parameters=self.parameters, fitted_population=self.fitted_population))


def write_trial_outputs(out_dir: str | Path, protocol: Protocol, patients: pd.DataFrame, seed: int, engine: str,
                        rtol: float, payload: dict[str, Any], report, provenance_extra: dict[str, Any] | None = None
                        ) -> dict[str, Path]:
    """A trial's files in ``out_dir``: ``patients.parquet`` with provenance, ``endpoints.json``
    (protocol, seed, provenance, then ``payload``) and the report ``report(out)`` writes."""
    import json

    from cartwin.foundation.results import (
        Provenance,
        atomic_write_text,
        check_writable,
        write_parquet,
    )

    out = check_writable(out_dir, "out_dir")
    prov = Provenance(model="cartwin-cart", model_version="1", engine=engine, seed=seed, rtol=rtol,
                      extra={"protocol": protocol.name, **(provenance_extra or {})})
    paths = {"patients": write_parquet(patients, out / "patients.parquet", prov)}
    body = {"protocol": protocol.name, "seed": seed, "provenance": prov.to_dict(), **payload}
    paths["endpoints"] = atomic_write_text(out / "endpoints.json", json.dumps(body, indent=2, default=_json_default) + "\n")
    paths["report"] = report(out)
    return paths


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _journey_config(protocol: Protocol):
    """The journey of the protocol's ``[journey]`` preset, with the protocol's ``[bridging]``
    section deciding bridging: the share bridged and the tumour-burden factor are the trial's
    (ZUMA-1 allowed no bridging, Neelapu 2017; its protocol says probability 0), not the
    journey preset's (JULIET's 90 %).

    Every shipped protocol names the preset calibrated to its own trial (docs/journey.md);
    ``default`` is JULIET's logistics and hazards with the protocol's product. The product is
    always the protocol's: a preset built for another product keeps its logistics and hazards
    but takes the protocol's product (its manufacturing and release times, failure probability
    and in-vivo attributes), as ``cartwin journey --preset P --product K`` does."""
    from cartwin.journey import default_config, preset_config, preset_names

    name = protocol.journey.name
    if name in preset_names():
        config = preset_config(name)
        if config.product != protocol.product.key:
            config = config.replace(product=protocol.product.key, manufacturing_failure_probability=None)
    elif name != "default":
        raise ValidationError("protocol.journey.name", "'default' or one of " + ", ".join(preset_names()), name)
    else:
        config = default_config(protocol.product.key)
    return config.replace(bridging_probability=protocol.bridging.probability,
                          bridging_burden_factor=protocol.bridging.tumour_reduction_factor)


def enrol(protocol: Protocol, n: int, seed: int) -> pd.DataFrame:
    """The first ``n`` eligible patients of the protocol's population (deterministic per seed)."""
    population = protocol.virtual_population()
    tables, overrides, start = [], [], 0
    have = 0
    while have < n:
        # Capped: candidates are drawn from their own streams, so the chunk size changes nothing
        # but memory (2 x 10^6 candidates at once peaked at 2 GB).
        chunk = min(max(2 * (n - have), 16), ENROLMENT_CHUNK)
        draw = population.sample(chunk, seed, start=start)
        keep = protocol.eligible(draw.table)
        table = draw.table[keep].copy()
        tables.append(table)
        overrides.append({**{k: np.asarray(v)[keep] for k, v in draw.overrides.items()},
                          **{f"{Z_PREFIX}{k}": np.asarray(v)[keep] for k, v in draw.z.items()}})
        have += int(keep.sum())
        start += chunk
        if start > 50 * n + 1000:
            raise ValidationError("protocol.eligibility", "criteria that some virtual patients meet", protocol.name)
    table = pd.concat(tables, ignore_index=True).iloc[:n]
    merged = {k: np.concatenate([o[k] for o in overrides])[:n] for k in overrides[0]}
    for k, v in merged.items():
        table[f"override:{k}"] = v
    table.insert(0, "patient_id", np.arange(n))
    return table


#: Columns ``override:z:<parameter>`` of :func:`enrol` hold each varied parameter's standardised
#: η, so that the runner can draw the value again, inside the bounds, around a typical value
#: that product and calibration factors moved.
Z_PREFIX = "z:"

#: Most candidates drawn from the population at once by :func:`enrol`.
ENROLMENT_CHUNK = 50_000


#: Calibration handle (not a model parameter): the share of patients whose product is
#: dysfunctional. Product T-cell fitness decides expansion and response — CLL non-responders'
#: products lacked memory-like CD27+PD-1- cells (Fraietta JA et al. Nat Med 2018;24:563), LBCL
#: non-responders' axi-cel products were exhausted (Deng Q et al. Nat Med 2020;26:1878), and
#: Kirouac 2023's non-responder class barely engrafts. Such products expand at a twentieth of the
#: rate, hold a twentieth of the homeostatic drive and kill at a twentieth of the rate: exhausted
#: T cells lose cytotoxicity along with proliferative capacity (Wherry EJ. Nat Immunol
#: 2011;12:492; Deng 2020) (*assumption* on the size of the effect). Without the lower kill
#: rate the unexpanded cells still killed a few % of a 10^11-10^12-cell leukaemia per day, and
#: the damage signal of that kill (model: Φ²/(Φ² + K_D²)) gave almost every ALL patient fever.
DYSFUNCTIONAL_FRACTION = "dysfunctional_product_fraction"
DYSFUNCTION_EFFECT = {"k_prolif_per_day": 0.05, "homeostatic_scale": 0.05, "gamma_kill_per_day": 0.05}


def _dysfunctional_products(fraction: float, patient_ids: np.ndarray, seed: int) -> np.ndarray:
    check(DYSFUNCTIONAL_FRACTION, fraction, Interval(0.0, 1.0))
    return uniforms(seed, patient_ids, 1, "trial")[:, 0] < fraction


def _in_vivo_factors(journey: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Product attributes from the journey as model parameters (docs/journey.md): values set
    outright, and per-patient factors on typical values."""
    cytokine = journey["cytokine_release_factor"].to_numpy(float)
    values = {"k_rejection_per_day": journey["host_rejection_rate_per_day"].to_numpy(float)}
    factors = {"p_il6_myeloid_pg_per_ml_day": cytokine, "p_ifng_pg_per_ml_per_cell_ul_day": cytokine,
               "k_neurovascular_on_per_day": journey["neurotoxicity_factor"].to_numpy(float)}
    return values, factors


def _in_vivo_overrides(journey: pd.DataFrame, base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The journey's product attributes applied to ``base`` values (model defaults where absent)."""
    from cartwin.model import CarTPatientModel

    p = CarTPatientModel.parameters()
    values, factors = _in_vivo_factors(journey)
    out = {**base, **values}
    for name, factor in factors.items():
        out[name] = np.asarray(base.get(name, p[name]), dtype=float) * factor
    return out


def _patient_parameters(protocol: Protocol, enrolled: pd.DataFrame, journey: pd.DataFrame, multipliers: dict[str, float],
                        seed: int) -> dict[str, np.ndarray]:
    """Every patient's model-parameter overrides, inside the parameters' bounds by construction.

    A parameter's typical value is moved per patient by the dysfunctional-product effect, the
    population multipliers (calibration, ``overrides``) and the journey's product factors; a
    parameter with inter-individual variability is then drawn again from its truncated
    log-normal around the moved value with the patient's own standardised η
    (:func:`cartwin.population.variability.truncated_lognormal`), so no patient lands outside
    the bounds (a patient of ``cartwin trial zuma-2 --n 1000 --seed 11`` drew
    ``k_endothelial_on_per_day`` = 104.6 > 100 this way, and the trial stopped). A value without
    variability that a factor moves out of bounds is set to the bound and said in a warning.
    """
    from cartwin.model import CarTPatientModel
    from cartwin.population.variability import (
        get_iiv_model,
        truncated_lognormal,
        tumour_extinction_thresholds,
        typical_values,
    )

    n = len(enrolled)
    specs = CarTPatientModel.parameter_specs()
    defaults = CarTPatientModel.parameters()
    columns = [c for c in enrolled if c.startswith("override:")]
    base = {c.split(":", 1)[1]: enrolled[c].to_numpy() for c in columns if not c.startswith(f"override:{Z_PREFIX}")}
    zs = {c.split(":", 2)[2]: enrolled[c].to_numpy(float) for c in columns if c.startswith(f"override:{Z_PREFIX}")}
    factors: dict[str, np.ndarray] = {}

    def scale(name: str, factor) -> None:
        factors[name] = factors.get(name, np.ones(n)) * np.broadcast_to(np.asarray(factor, dtype=float), (n,))

    dysfunctional = _dysfunctional_products(multipliers.pop(DYSFUNCTIONAL_FRACTION, 0.0), enrolled["patient_id"].to_numpy(), seed)
    for name, factor in DYSFUNCTION_EFFECT.items():
        scale(name, np.where(dysfunctional, factor, 1.0))
    for name, factor in multipliers.items():
        if name not in specs:
            raise ValidationError("overrides", "names of CarTPatientModel parameters", name)
        # A multiplier <= 0 would be clipped to the parameter's lower bound, silently.
        check(f"overrides.{name}", factor, Interval(0.0, 1e6, low_open=True))
        scale(name, factor)
    set_values, journey_factors = _in_vivo_factors(journey)
    for name, factor in journey_factors.items():
        scale(name, factor)

    out = dict(base)
    out.update(set_values)
    out.setdefault("tumour_extinction_threshold", tumour_extinction_thresholds(seed, enrolled["patient_id"].to_numpy()))
    typical = typical_values(protocol.product.key, protocol.trial.indication) if zs else {}
    iiv = get_iiv_model(protocol.population.iiv)
    at_bound: dict[str, int] = {}
    for name, factor in factors.items():
        spec = specs[name]
        if name in zs:
            omega = math.sqrt(iiv.terms[iiv.tied.get(name, name)].omega2)
            out[name], _ = truncated_lognormal(typical[name] * factor, zs[name], omega, spec.low, spec.high)
            continue
        values = np.broadcast_to(np.asarray(base.get(name, defaults[name]), dtype=float), (n,)) * factor
        out[name] = np.clip(values, spec.low, spec.high)
        if (moved := int(np.count_nonzero(out[name] != values))):
            at_bound[name] = moved
    for name in set_values:
        spec = specs[name]
        values = out[name]
        out[name] = np.clip(values, spec.low, spec.high)
        if (moved := int(np.count_nonzero(out[name] != values))):
            at_bound[name] = moved
    if at_bound:
        warnings.warn("set to a parameter's bound after the product/calibration factors: "
                      + ", ".join(f"{k} in {v} of {n} patients" for k, v in sorted(at_bound.items())),
                      CartwinWarning, stacklevel=4)
    return out


def _checked_run_arguments(protocol, n, seed, follow_up_days, rtol) -> tuple[Protocol, int, float]:
    """The protocol (loaded), enrolled ``n`` and follow-up of a run, each checked at the boundary."""
    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    if protocol.is_placeholder:
        protocol.regimen()  # raises the placeholder's explanation
    if protocol.is_randomised:
        raise ValidationError("protocol.arms", "a single-arm protocol (run a randomised one with "
                              "cartwin.trial.comparative.run_comparative or `cartwin trial`)", protocol.name)
    n = protocol.trial.n_enrolled if n is None else n
    check("n", n, Interval(1, 1e8, integer=True))
    check("seed", seed, Interval(0, 2**63 - 1, integer=True))
    follow = min(protocol.trial.follow_up_days, DEFAULT_MAX_FOLLOW_UP_DAYS) if follow_up_days is None else follow_up_days
    check("follow_up_days", follow, Interval(28.0, 3650.0))
    check("rtol", rtol, Interval(1e-10, 1e-2))
    return protocol, n, follow


def run_trial(
    protocol: Protocol | str | Path,
    n: int | None = None,
    seed: int = 1,
    *,
    follow_up_days: float | None = None,
    batch_size: int = 1024,
    solver: Any = "auto",
    progress=None,
    overrides: dict[str, float] | None = None,
    calibrated: bool = True,
    shards: ShardOptions | None = None,
    rtol: float = DEFAULT_RTOL,
    population: Any = None,
    population_parameters: list[str] | None = None,
) -> TrialResult:
    """Simulate one virtual trial (see module docstring).

    ``overrides``: population-level multipliers on model parameters, e.g.
    ``{"k_prolif_per_day": 1.1}``. With ``calibrated`` (default) the calibrated factors of the
    protocol's product and indication (:func:`calibrated_factors`) apply first. ``shards`` runs the
    enrolled patients' journeys and then the infused cohort as checkpointed shards (serial or
    Dask, one cluster for both; resumable): results are identical.
    ``solver``: ``"auto"`` (the compiled engine where numba is installed, as the calibration
    records were fitted; else the NumPy engine), ``"numba"``, ``"numpy"`` or a solver object
    (:func:`cartwin.engine.choice.resolve_solver`).
    ``batch_size``: infused patients simulated together (results do not depend on it); 1024
    (256 until 2026-12-07) shares the per-segment cost of the engine call and of the policy
    among more patients: 1.2-1.3x on a 2,000-patient ZUMA-1 trial, ~125 MiB more peak memory
    (docs/performance.md).
    ``rtol``: the engine's relative tolerance; the default (``DEFAULT_RTOL``, 1e-3) is the one
    the joint calibration is fitted at, chosen by the endpoint-equivalence check against 1e-6
    (docs/performance.md).
    ``population``: a fitted population (the ``population.json`` of ``cartwin fit --population
    --out DIR``, that directory, or a :class:`cartwin.population.fitted.FittedPopulation`):
    each patient's values of the parameters the fit names (mapped onto the composite model,
    :meth:`~cartwin.population.fitted.FittedPopulation.mapping`; ``population_parameters``
    picks some of them) are drawn from the fitted distribution, with the patient's covariates,
    and replace the protocol's: for those parameters the preset's IIV, calibration multipliers,
    dysfunctional-product factor, journey product factors and ``overrides`` do not apply; every other parameter keeps the
    protocol's population and calibration (docs/fitting.md, "Using a fitted population in a
    virtual trial").
    """
    protocol, n, follow = _checked_run_arguments(protocol, n, seed, follow_up_days, rtol)
    # The solver is chosen here, so the result can name the engine that ran.
    fitted = None
    if population is not None:
        from cartwin.model import CarTPatientModel
        from cartwin.population.fitted import load_population

        fitted = load_population(population)
        fitted.mapping(CarTPatientModel, population_parameters)  # refused now, before any work
    elif population_parameters is not None:
        raise ValidationError("population_parameters", "a fitted population given with it (population=...)", population_parameters)
    settings = {"follow": follow, "batch_size": batch_size, "solver": resolve_solver(solver), "progress": progress,
                "overrides": overrides, "calibrated": calibrated, "rtol": rtol, "fitted": fitted,
                "fitted_use": None if population_parameters is None else list(population_parameters)}
    if shards is None:
        return _run(protocol, int(n), seed, shards=None, **settings)
    from cartwin.dispatch import cluster
    from cartwin.foundation.results import check_writable

    check_writable(shards.out_dir, "shards.out_dir")
    # The journeys' shards and the cohort's run on one cluster, started once.
    with cluster(shards.scheduler, shards.workers) as scheduler:
        return _run(protocol, int(n), seed, shards=dataclasses.replace(shards, scheduler=scheduler), **settings)


def _run(protocol: Protocol, n: int, seed: int, *, follow: float, batch_size: int, solver, progress,
         overrides: dict[str, float] | None, calibrated: bool, shards: ShardOptions | None, rtol: float,
         fitted=None, fitted_use: list[str] | None = None) -> TrialResult:
    from cartwin.journey import simulate_journeys

    enrolled = enrol(protocol, int(n), seed)
    identity = None
    if shards is None:
        journey = simulate_journeys(_journey_config(protocol), int(n), seed)
    else:
        identity = run_identity(protocol, n_enrolled=int(n), engine=solver.name, rtol=float(rtol), follow_up_days=float(follow),
                                calibrated=bool(calibrated), overrides=dict(sorted((overrides or {}).items())),
                                fitted_population=None if fitted is None else fitted.sha256, fitted_use=fitted_use)
        journey = _sharded_journeys(_journey_config(protocol), int(n), seed, shards, identity)
    journey = journey.drop(columns=[c for c in ("product",) if c in journey])
    infused = journey["infused"].to_numpy(bool)

    multipliers = _multipliers(protocol, calibrated, overrides)
    in_vivo = _patient_parameters(protocol, enrolled, journey, dict(multipliers), seed)
    fitted_record = None
    if fitted is not None:
        in_vivo, fitted_record = _fitted_parameters(fitted, fitted_use, enrolled, in_vivo, multipliers, seed,
                                                   protocol.product.key)
    cohort = _cohort_table(protocol, enrolled, journey)
    sub = {k: np.asarray(v)[infused] for k, v in in_vivo.items()}
    spec = _cohort_spec(protocol, follow, batch_size, rtol)
    if len(cohort) == 0:
        warnings.warn(f"{protocol.name}: none of the {int(n)} enrolled patients was infused (see not_infused_reason); "
                      "every infused-set endpoint is empty and every ITT rate is 0", CartwinWarning, stacklevel=3)
        rows, sample = empty_rows(protocol.reporting.crs_scale), pd.DataFrame()
    elif shards is None:
        rows, sample = simulate_cohort(spec, cohort, sub, seed, solver=solver, progress=progress)
    else:
        rows, sample = _sharded(spec, cohort, sub, seed, solver, shards, identity)

    patients = _patients_table(protocol, enrolled, journey, rows, follow, seed)
    _warn_failed(patients, protocol.name)
    endpoints = compute_endpoints(patients, scale=protocol.reporting.crs_scale)
    return TrialResult(protocol, patients, endpoints, sample, seed, engine=solver.name, rtol=float(rtol),
                       fitted_population=fitted_record, parameters=parameters_record(protocol, calibrated, overrides, multipliers))


def parameters_record(protocol: Protocol, calibrated: bool, overrides: dict[str, float] | None,
                      multipliers: dict[str, float]) -> dict[str, Any]:
    """Which parameters a trial's CAR-T patients had, as endpoints.json's ``"parameters"`` and the
    report's Parameters section give them (single-arm: :attr:`TrialResult.parameters`; randomised:
    the CAR-T arm's, :func:`cartwin.trial.comparative.run_comparative`): the calibration used
    (``[calibration] parameters``, or ``"uncalibrated"``), the caller's ``overrides`` and every
    factor applied (``multipliers``, :func:`_multipliers`: the calibration's, then the overrides)."""
    return {"calibration": str(protocol.calibration.parameters) if calibrated else "uncalibrated",
            "overrides": dict(sorted((overrides or {}).items())),
            "factors": {k: float(v) for k, v in sorted(multipliers.items())}}


def calibrated_factors(protocol: Protocol) -> dict[str, float]:
    """The fitted factors of the protocol's product and indication (:mod:`cartwin.model.calibrated`).

    They come from what the protocol names (``[product] key``, ``[trial] indication`` and
    ``[calibration] parameters``), never from its file name: a renamed copy of a preset runs as
    the preset does.
    """
    from cartwin.model.calibrated import load_calibrated

    where = Path(protocol.path).parent if protocol.path else None
    params = load_calibrated(protocol.calibration.parameters, where)
    return {} if params is None else params.factors(protocol.product.key, protocol.trial.indication)


def _multipliers(protocol: Protocol, calibrated: bool, overrides: dict[str, float] | None) -> dict[str, float]:
    """The population multipliers of a trial: the calibrated factors (if ``calibrated``), then ``overrides``."""
    multipliers: dict[str, float] = dict(calibrated_factors(protocol)) if calibrated else {}
    multipliers.update(overrides or {})
    return multipliers


def _cohort_table(protocol: Protocol, enrolled: pd.DataFrame, journey: pd.DataFrame) -> pd.DataFrame:
    """The infused patients' covariates at infusion (the rows :func:`simulate_cohort` takes)."""
    infused = journey["infused"].to_numpy(bool)
    cohort = pd.DataFrame({
        "patient_id": enrolled["patient_id"].to_numpy(),
        "age_years": enrolled["age_years"].to_numpy(float),
        "weight_kg": enrolled["weight_kg"].to_numpy(float),
        "height_cm": enrolled["height_cm"].to_numpy(float),
        "tumour_cells_at_infusion": np.minimum(
            enrolled["tumour_baseline_cells"].to_numpy(float) * journey["tumour_burden_factor_at_infusion"].to_numpy(float), 9e11),
        "antigen_negative_fraction": enrolled["antigen_negative_fraction"].to_numpy(float),
        "dose_cells": protocol.dose_cells(enrolled["weight_kg"].to_numpy(float)),
        "memory_fraction": journey["memory_fraction"].to_numpy(float),
    })[infused]
    return cohort.reset_index(drop=True)


def _cohort_spec(protocol: Protocol, follow: float, batch_size: int, rtol: float) -> CohortSpec:
    regimen = protocol.regimen()
    return CohortSpec(
        product=protocol.product.key, indication=protocol.trial.indication, dose_cells=None, per_kg=None,
        lymphodepletion=regimen.lymphodepletion, policy=protocol.management.policy, follow_up_days=follow,
        assessment_days=tuple(d for d in protocol.assessment.days if d <= follow) or (28.0,),
        crs_scale=protocol.reporting.crs_scale, batch_size=batch_size, rtol=float(rtol),
    )


def _patients_table(protocol: Protocol, enrolled: pd.DataFrame, journey: pd.DataFrame, rows: pd.DataFrame, follow: float,
                    seed: int) -> pd.DataFrame:
    """One row per enrolled patient: enrolment, journey and (infused patients) simulated rows."""
    patients = enrolled[[c for c in enrolled.columns if not c.startswith("override:")]].merge(
        journey[["patient_id", "infused", "not_infused_reason", "enrolment_to_infusion_day", "vein_to_vein_day",
                 "dropout_day", "bridging", "tumour_burden_factor_at_infusion"]], on="patient_id")
    patients = patients.merge(rows, on="patient_id", how="left")
    patients.insert(1, "arm", protocol.product.key)
    _not_infused_outcomes(patients, protocol.trial.indication, follow, seed)
    return patients


def run_design(
    protocol: Protocol | str | Path,
    points: Sequence[Mapping[str, float]],
    endpoint: str,
    n: int | None = None,
    seed: int = 1,
    *,
    follow_up_days: float | None = None,
    solver: Any = "auto",
    calibrated: bool = True,
    rtol: float = DEFAULT_RTOL,
    batch_size: int = 1024,
    progress=None,
) -> list[dict[str, Any]]:
    """The infused-set ``endpoint`` of one virtual trial per point of a design, every trial on the
    same patients (common random numbers): entry ``i`` equals
    ``run_trial(protocol, n, seed, overrides=points[i], ...).endpoints["infused"][endpoint]``.

    Enrolment and the journeys are drawn once (they do not depend on the multipliers); the
    infused patients of every point are then simulated together, a copy of each patient per
    point, in batches of ``batch_size`` (a patient's row does not depend on its batch, and each
    copy draws its measurement noise and survival from the patient's own streams), so a design
    of a thousand trials pays the per-trial overheads (enrolment, journeys, the engine's and the
    graders' per-call costs) once per batch, not once per trial: ZUMA-1 with 20 patients a point
    took ~70 ms a point against ~0.37 s a ``run_trial`` (measured 2026-12-06). One warning sums
    the points' failed simulations. ``progress(k)`` is called with patients done.
    """
    from cartwin.foundation.constraints import OneOf
    from cartwin.journey import simulate_journeys
    from cartwin.trial.endpoints import ENDPOINTS as _ENDPOINTS

    protocol, n, follow = _checked_run_arguments(protocol, n, seed, follow_up_days, rtol)
    check("endpoint", endpoint, OneOf(tuple(_ENDPOINTS)))
    check("batch_size", batch_size, Interval(1, 1e6, integer=True))
    solver = resolve_solver(solver)
    points = [dict(p) for p in points]

    enrolled = enrol(protocol, int(n), seed)
    journey = simulate_journeys(_journey_config(protocol), int(n), seed)
    journey = journey.drop(columns=[c for c in ("product",) if c in journey])
    infused = journey["infused"].to_numpy(bool)
    cohort = _cohort_table(protocol, enrolled, journey)
    spec = _cohort_spec(protocol, follow, batch_size, rtol)
    ids = cohort["patient_id"].to_numpy(np.int64)
    stride = int(enrolled["patient_id"].max()) + 1

    copies, subs = [], []
    for i, point in enumerate(points):
        in_vivo = _patient_parameters(protocol, enrolled, journey, _multipliers(protocol, calibrated, point), seed)
        copy = cohort.copy()
        copy.insert(1, "stream_id", ids)
        copy["patient_id"] = ids + i * stride
        copies.append(copy)
        subs.append({k: np.asarray(v)[infused] for k, v in in_vivo.items()})
    if len(cohort) == 0 or not points:
        rows = empty_rows(protocol.reporting.crs_scale)
    else:
        stacked = pd.concat(copies, ignore_index=True)
        names = sorted(set().union(*subs))
        if any(set(s) != set(names) for s in subs):  # pragma: no cover - every point moves the same parameters
            raise ValidationError("points", "overrides of the same parameters at every point", "different parameter sets")
        sub = {k: np.concatenate([s[k] for s in subs]) for k in names}
        rows, _ = simulate_cohort(spec, stacked, sub, seed, solver=solver, progress=progress)
    point_of = rows["patient_id"].to_numpy(np.int64) // stride
    failed = 0
    out = []
    for i in range(len(points)):
        part = rows[point_of == i].copy()
        part["patient_id"] = part["patient_id"].to_numpy(np.int64) - i * stride
        patients = _patients_table(protocol, enrolled, journey, part.drop(columns=["stream_id"], errors="ignore"), follow, seed)
        status = patients["status"].astype(object).where(patients["infused"], "not_infused")
        failed += int((status[patients["infused"].to_numpy(bool)].astype(str) != "success").sum())
        patients["status"] = status
        out.append(compute_endpoints(patients, scale=protocol.reporting.crs_scale, names=(endpoint,))["infused"][endpoint])
    if failed:
        warnings.warn(f"{protocol.name}: {failed} of {len(points) * len(cohort)} infused patients' simulations over the "
                      f"{len(points)} design points did not succeed; they count as not evaluable", CartwinWarning, stacklevel=2)
    return out


def _fitted_parameters(fitted, use, enrolled: pd.DataFrame, in_vivo: dict[str, np.ndarray], multipliers: dict[str, float],
                       seed: int, protocol_product: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The fitted population's draws in place of the protocol's for the parameters it names
    (the ``param_<name>`` columns of ``enrolled`` then hold the values used), and the record of
    what was replaced (the calibration multipliers that no longer apply among them)."""
    from cartwin.model import CarTPatientModel

    draws = fitted.sample(CarTPatientModel, enrolled, seed, use)
    out = dict(in_vivo)
    out.update(draws)
    for name, values in draws.items():
        enrolled[f"param_{name}"] = values
    record = fitted.describe(CarTPatientModel, use)
    product = fitted.context.get("product")
    if product is not None and product != protocol_product:
        warnings.warn(f"the fitted population was fitted to {product} patients; this trial gives {protocol_product}: "
                      f"its {', '.join(sorted(draws))} are {product}'s, not the product's own", CartwinWarning, stacklevel=4)
    record["superseded_calibration"] = {k: v for k, v in multipliers.items() if k in draws}
    if any(k in draws for k in DYSFUNCTION_EFFECT) and multipliers.get(DYSFUNCTIONAL_FRACTION):
        record["superseded_calibration"][DYSFUNCTIONAL_FRACTION] = multipliers[DYSFUNCTIONAL_FRACTION]
    record["drawn"] = {k: {"median": float(np.median(v)), "p5": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95))}
                       for k, v in draws.items()}
    return out, record


#: Enrolled patients per journey shard of a sharded trial (one SimPy environment each).
JOURNEY_SHARD_SIZE = 5_000


def run_identity(protocol: Protocol, **settings: Any) -> dict[str, Any]:
    """What a trial's shards depend on beyond seed and sizes: the protocol's content (SHA-256 of
    its canonical JSON), the package version and the given settings (engine, rtol, ...). A
    resume with a different identity is refused (:func:`cartwin.dispatch.run_shards`)."""
    import hashlib
    import json

    from cartwin._version import __version__

    blob = json.dumps(protocol.to_dict(), sort_keys=True, default=str).encode()
    return {"protocol": protocol.name, "protocol_sha256": hashlib.sha256(blob).hexdigest(),
            "cartwin_version": __version__, **settings}


def _sharded_journeys(config, n: int, seed: int, options: ShardOptions, identity: dict[str, Any] | None = None) -> pd.DataFrame:
    """Every enrolled patient's journey as a checkpointed shard run of its own, in
    ``out_dir/journeys``: at 10^6 patients SimPy takes ~0.4 ms a patient, minutes that the
    driver spent alone before the first cohort shard started. Same rows as in one process."""
    from cartwin.dispatch import read_shards, run_shards

    top = Path(options.out_dir)
    out = top / "journeys"
    resume = _resume(options, out)
    if options.resume and not resume and top.exists() and any(top.iterdir()):
        raise ValidationError("resume", "a directory holding a stopped sharded trial (journeys/manifest.json)", str(top))
    run_shards(_JourneyShard(config, seed), n, JOURNEY_SHARD_SIZE, seed, out, resume=resume,
               scheduler=options.scheduler, workers=options.workers, progress=options.progress,
               description="journeys", identity=identity)
    return read_shards(out).sort_values("patient_id").reset_index(drop=True)


def _resume(options: ShardOptions, out: Path) -> bool:
    """``--resume`` for one of a trial's shard runs: only one that had started (its manifest
    exists) resumes; a run stopped during its journeys starts its cohort afresh."""
    from cartwin.dispatch.runner import MANIFEST

    return options.resume and (out / MANIFEST).exists()


@dataclass
class _JourneyShard:
    """A picklable task for :func:`cartwin.dispatch.run_shards`: journeys of patients [start, stop)."""

    config: Any
    seed: int

    def __call__(self, shard_index: int, start: int, stop: int, seed_sequence) -> pd.DataFrame:
        from cartwin.journey import simulate_journeys

        return simulate_journeys(self.config, stop - start, self.seed, first_patient=start)


def _sharded(spec: CohortSpec, cohort: pd.DataFrame, overrides: dict[str, np.ndarray], seed: int, solver,
             options: ShardOptions, identity: dict[str, Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    from cartwin.dispatch import read_shards, run_shards

    task = _CohortShard(spec, cohort, overrides, seed, solver)
    run_shards(task, len(cohort), options.shard_size, seed, options.out_dir,
               resume=_resume(options, Path(options.out_dir)), scheduler=options.scheduler,
               workers=options.workers, progress=options.progress, identity=identity)
    rows = read_shards(options.out_dir).sort_values("patient_id").reset_index(drop=True)
    first = cohort.iloc[: min(len(cohort), spec.sample_timecourses)].reset_index(drop=True)
    _, sample = simulate_cohort(spec, first, {k: v[: len(first)] for k, v in overrides.items()}, seed, solver=solver)
    return rows, sample


@dataclass
class _CohortShard:
    """A picklable task for :func:`cartwin.dispatch.run_shards`: simulate cohort rows [start, stop)."""

    spec: CohortSpec
    cohort: pd.DataFrame
    overrides: dict[str, np.ndarray]
    seed: int
    solver: Any = None

    def __call__(self, shard_index: int, start: int, stop: int, seed_sequence) -> pd.DataFrame:
        # The trial seed, not the shard's, drives patients: their streams are per patient already.
        part = self.cohort.iloc[start:stop].reset_index(drop=True)
        sub = {k: np.asarray(v)[start:stop] for k, v in self.overrides.items()}
        rows, _ = simulate_cohort(self.spec, part, sub, self.seed, solver=self.solver)
        return rows


def _not_infused_outcomes(patients: pd.DataFrame, indication: str, follow: float, seed: int) -> None:
    """Patients who never received cells: not evaluable, no toxicity; times from enrolment."""
    from cartwin.trial.outcomes import POST_PROGRESSION_MEDIAN_DAYS

    never = ~patients["infused"].to_numpy(bool)
    patients.loc[never, "best_response"] = "NE"
    patients["mrd_negative"] = patients["mrd_negative"].astype("boolean").fillna(False).astype(bool) if "mrd_negative" in patients else False
    for col in [c for c in patients.columns if c.startswith(("crs_max_grade", "icans_max_grade"))]:
        patients.loc[never, col] = 0
    for col in ("tocilizumab", "steroids"):
        patients[col] = patients[col].astype("boolean").fillna(False).astype(bool)
    median_pp = POST_PROGRESSION_MEDIAN_DAYS.get(indication, 180.0)
    rows = np.flatnonzero(never)
    ids = patients["patient_id"].to_numpy(np.int64)[rows]
    for i, rng in zip(rows, patient_generators(seed, ids, "survival", substream=1), strict=True):
        drop = patients.at[i, "dropout_day"]
        drop = float(drop) if pd.notna(drop) else 0.0
        reason = str(patients.at[i, "not_infused_reason"])
        death = drop if reason == "death" else drop + rng.exponential(median_pp / np.log(2.0))
        patients.at[i, "pfs_day"] = min(drop, follow)
        patients.at[i, "pfs_event"] = drop <= follow
        patients.at[i, "os_day"] = min(death, follow)
        patients.at[i, "os_event"] = death <= follow
    for col in ("pfs_event", "os_event", "dor_event", "infused"):
        if col in patients:
            patients[col] = patients[col].astype("boolean").fillna(False).astype(bool)


def _warn_failed(patients: pd.DataFrame, name: str) -> None:
    """Say how many infused patients' simulations did not succeed; their rows carry ``status``
    (``max_steps_reached`` ... or ``error: <message>``) and count as not evaluable."""
    patients["status"] = patients["status"].astype(object).where(patients["infused"], "not_infused")
    status = patients.loc[patients["infused"], "status"].astype(str)
    failed = status[status != "success"]
    if len(failed):
        counts = failed.str.split(":").str[0].value_counts()
        warnings.warn(f"{name}: {len(failed)} of {len(status)} infused patients' simulations did not succeed ("
                      + ", ".join(f"{k}: {v}" for k, v in counts.items())
                      + "); their rows say why in 'status' and the trial went on without them", CartwinWarning, stacklevel=4)


#: Infused-set rate endpoints reported with parameter uncertainty.
UNCERTAINTY_ENDPOINTS = ("orr", "cr_rate", "mrd_neg_rate", "crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus",
                         "tocilizumab_rate", "pfs_12m", "os_12m")


def run_parameter_uncertainty(protocol, n: int | None, seed: int, draws: int, **kwargs) -> pd.DataFrame:
    """Endpoint intervals that include the calibration's parameter uncertainty.

    The trial is run at the calibrated parameters and again with each of ``draws`` bootstrap draws
    of them (:meth:`cartwin.model.calibrated.CalibratedParameters.draw`), on the same patients, so
    the spread between draws is the parameters' alone. Per infused-set endpoint: the estimate and
    sampling 95 % CI of the calibrated run, the 2.5-97.5 % range over draws, and a total 95 %
    interval, estimate +/- 1.96 sqrt(se^2 + sd_draws^2) (se from the sampling CI), clipped to [0, 1].
    """
    from cartwin.model.calibrated import load_calibrated

    check("parameter_uncertainty", draws, Interval(2, 1000, integer=True))
    protocol, n, _ = _checked_run_arguments(protocol, n, seed, kwargs.get("follow_up_days"), kwargs.get("rtol", DEFAULT_RTOL))
    params = load_calibrated(protocol.calibration.parameters, Path(protocol.path).parent if protocol.path else None)
    if params is None or not params.draws:
        raise ValidationError("parameter_uncertainty", "a protocol whose [calibration] parameters have bootstrap draws",
                              protocol.calibration.parameters)
    user = dict(kwargs.pop("overrides", None) or {})
    kwargs.pop("calibrated", None)
    base = run_trial(protocol, n, seed, overrides=user, **kwargs)
    runs = []
    for k in range(draws):
        factors = params.draw(k).factors(protocol.product.key, protocol.trial.indication)
        runs.append(run_trial(protocol, n, seed, overrides={**factors, **user}, calibrated=False, **kwargs).endpoints["infused"])
    rows = []
    for name in UNCERTAINTY_ENDPOINTS:
        entry = base.endpoints["infused"].get(name)
        if entry is None or entry.get("estimate") is None or entry.get("ci_low") is None:
            continue
        values = np.array([r[name]["estimate"] for r in runs if r.get(name, {}).get("estimate") is not None], float)
        if values.size < 2:
            continue
        est = float(entry["estimate"])
        se = (float(entry["ci_high"]) - float(entry["ci_low"])) / (2 * 1.96)
        half = 1.96 * math.sqrt(se ** 2 + float(values.std(ddof=1)) ** 2)
        rows.append({"endpoint": name, "estimate": est, "ci_low": float(entry["ci_low"]), "ci_high": float(entry["ci_high"]),
                     "parameter_p2_5": float(np.percentile(values, 2.5)), "parameter_p97_5": float(np.percentile(values, 97.5)),
                     "parameter_sd": float(values.std(ddof=1)), "total_ci_low": max(0.0, est - half),
                     "total_ci_high": min(1.0, est + half), "draws": int(values.size)})
    return pd.DataFrame(rows)


def run_replicates(protocol, n: int | None, seed: int, replicates: int, **kwargs) -> tuple[list[TrialResult], dict]:
    """``replicates`` independent trials (seeds derived from ``seed``) and their endpoint spread."""
    check("replicates", replicates, Interval(1, 1000, integer=True))
    results = [run_trial(protocol, n, int(np.random.SeedSequence([seed, r]).generate_state(1)[0]), **kwargs)
               for r in range(replicates)]
    return results, summarise_replicates([r.endpoints for r in results])
