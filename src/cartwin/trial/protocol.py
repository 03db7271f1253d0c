"""Trial protocols as TOML or YAML files, validated field by field.

A protocol says who is enrolled, what they get, how they are managed, assessed and reported,
and which published values the simulated trial is compared with (``[targets]``). The format
reference, with an example to copy, is ``docs/protocols.md``. Every field is declared once in
:data:`SCHEMA` (constraint, default, description); the same table drives validation, the error
messages (``protocol.dose.value: expected a finite number in (0, 1e+11], got -3``) and the docs.
Unknown sections and keys are errors, so typos cannot pass silently.

Shipped presets live in ``cartwin/trial/protocols/*.toml``; :func:`list_protocols` names them and
:func:`load_protocol` takes a preset name or a path.

Example
-------
>>> from cartwin.trial.protocol import load_protocol
>>> p = load_protocol("zuma-1")
>>> p.product.key, p.dose.value, p.reporting.crs_scale
('axi-cel', 2000000.0, 'lee2014')
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from cartwin.clinic.policy import POLICIES
from cartwin.foundation.constraints import Constraint, Interval, OneOf
from cartwin.foundation.errors import ValidationError
from cartwin.model.presets import INDICATIONS, PRODUCTS
from cartwin.population.covariates import COVARIATE_MODELS
from cartwin.population.variability import IIV_MODELS
from cartwin.trial.arms import (
    ARM_KINDS,
    CROSSOVER_AT,
    PRIMARY_ENDPOINTS,
    Arm,
    Randomisation,
    parse_factor,
)
from cartwin.trial.endpoints import ENDPOINTS, SCALES, clopper_pearson

#: Placeholder product/indication key for trials whose product or disease the model lacks
#: (solid tumours). Allowed only with an ``[assumed]`` entry for the field; such protocols load
#: and report, but :meth:`Protocol.regimen` refuses to simulate them.
PLACEHOLDER = "solid"
CRITERIA = ("all", "lugano", "imwg", "recist")
ANALYSIS_SETS = ("itt", "infused")
_REQUIRED = object()


class _Text(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.strip() != ""

    def describe(self) -> str:
        return "a non-empty string"


class _Bool(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class _Days(Constraint):
    """A non-empty strictly increasing list of days in (0, 3650]."""

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or not value:
            return False
        ok = all(Interval(0.0, 3650.0, low_open=True).accepts(v) for v in value)
        return ok and all(b > a for a, b in zip(value, value[1:], strict=False))

    def describe(self) -> str:
        return "a non-empty increasing list of days in (0, 3650]"


class _Factors(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value) and len(set(value)) == len(value)

    def describe(self) -> str:
        return "a list of distinct covariate names, each optionally with a threshold ('ldh_u_per_l>=250')"


TEXT, BOOL = _Text(), _Bool()


@dataclass(frozen=True)
class FieldSpec:
    constraint: Constraint
    default: Any = _REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def _choice(options) -> OneOf:
    return OneOf(tuple(options))


#: Every section and field of a protocol: constraint, default (absent = required), description.
SCHEMA: Mapping[str, Mapping[str, FieldSpec]] = MappingProxyType({
    "trial": {
        "name": FieldSpec(TEXT, doc="trial name as published"),
        "indication": FieldSpec(_choice([*INDICATIONS, PLACEHOLDER]), doc="key of cartwin.model.presets.INDICATIONS, or 'solid' (placeholder)"),
        "phase": FieldSpec(_choice(["1", "1/2", "2", "3"]), doc="trial phase"),
        "n_enrolled": FieldSpec(Interval(1, 10**7, integer=True), doc="default number of virtual patients enrolled"),
        "follow_up_days": FieldSpec(Interval(28.0, 3650.0), 730.0, "follow-up after infusion (days)"),
        "source": FieldSpec(TEXT, doc="publication(s) the protocol follows"),
        "description": FieldSpec(TEXT, "", "free text"),
    },
    "eligibility": {
        "age_min_years": FieldSpec(Interval(0.0, 120.0), 0.0, "minimum age at enrolment"),
        "age_max_years": FieldSpec(Interval(0.0, 120.0), 120.0, "maximum age at enrolment"),
        "prior_lines_min": FieldSpec(Interval(0, 30, integer=True), 0, "minimum prior lines of therapy"),
        "alc_min_per_ul": FieldSpec(Interval(0.0, 1e5), 0.0, "minimum absolute lymphocyte count (cells/uL)"),
        "ecog_max": FieldSpec(Interval(0, 4, integer=True), 1, "maximum ECOG performance status"),
    },
    "product": {
        "key": FieldSpec(_choice([*PRODUCTS, PLACEHOLDER]), doc="key of cartwin.model.presets.PRODUCTS, or 'solid' (placeholder)"),
        "label": FieldSpec(TEXT, "", "product name as published"),
    },
    "dose": {
        "value": FieldSpec(Interval(0.0, 1e11, low_open=True), doc="CAR+ cells, per kg if per_kg"),
        "per_kg": FieldSpec(BOOL, doc="whether value is per kg body weight"),
        "max_cells": FieldSpec(Interval(0.0, 1e11, low_open=True), None, "cap on the total dose (cells)"),
        "infusions": FieldSpec(Interval(1, 10, integer=True), 1, "number of infusions"),
        "interval_days": FieldSpec(Interval(0.0, 365.0), 0.0, "days between infusions"),
    },
    "lymphodepletion": {
        "fludarabine_mg_per_m2": FieldSpec(Interval(0.0, 100.0), doc="daily fludarabine dose"),
        "cyclophosphamide_mg_per_m2": FieldSpec(Interval(0.0, 3000.0), doc="daily cyclophosphamide dose"),
        "days": FieldSpec(Interval(0, 7, integer=True), 3, "number of days (ending day -3)"),
        "note": FieldSpec(TEXT, "", "other agents or deviations"),
    },
    "bridging": {
        "probability": FieldSpec(Interval(0.0, 1.0), 0.0, "share of patients bridged"),
        "tumour_reduction_factor": FieldSpec(Interval(0.0, 1.0, low_open=True), 1.0,
                                             "tumour burden multiplied by this in bridged patients (1 = no effect)"),
    },
    "journey": {
        "name": FieldSpec(TEXT, "default", "journey preset (vein-to-vein process)"),
    },
    "management": {
        "policy": FieldSpec(_choice(POLICIES), "astct-consensus", "toxicity management policy"),
    },
    "assessment": {
        "days": FieldSpec(_Days(), doc="response assessment days after infusion"),
        "criteria": FieldSpec(_choice(CRITERIA), doc="response criteria"),
    },
    "reporting": {
        "crs_scale": FieldSpec(_choice(SCALES), "astct", "CRS grading scale the trial reported"),
        "icans_scale": FieldSpec(_choice(SCALES), "astct", "ICANS / neurotoxicity scale the trial reported"),
    },
    "population": {
        "covariates": FieldSpec(_choice(COVARIATE_MODELS), doc="key of cartwin.population.covariates.COVARIATE_MODELS"),
        "iiv": FieldSpec(_choice(IIV_MODELS), doc="key of cartwin.population.variability.IIV_MODELS"),
    },
    "calibration": {
        "parameters": FieldSpec(TEXT, "calibrated",
                                "'calibrated' (the committed joint calibration of the product and indication), "
                                "'uncalibrated' (published typical values) or the path of a calibration record"),
    },
})

#: Fields of one ``[targets.<endpoint>]`` entry.
TARGET_SCHEMA: Mapping[str, FieldSpec] = MappingProxyType({
    "value": FieldSpec(Interval(0.0, 1e12), doc="published value (rates as fractions 0-1)"),
    "ci_low": FieldSpec(Interval(0.0, 1e12), None, "lower 95% bound; computed (Clopper-Pearson) for rates with n if absent"),
    "ci_high": FieldSpec(Interval(0.0, 1e12), None, "upper 95% bound"),
    "n": FieldSpec(Interval(1, 10**7, integer=True), None, "denominator"),
    "set": FieldSpec(_choice(ANALYSIS_SETS), "infused", "analysis set the value refers to"),
    "scale": FieldSpec(TEXT, "", "grading scale or criteria as published"),
    "source": FieldSpec(TEXT, doc="citation (copied from pivotal_trials.csv where taken from it)"),
    "fitted": FieldSpec(BOOL, False, "used for calibration (otherwise a validation target)"),
    "note": FieldSpec(TEXT, "", "caveats"),
})

#: Fields of one ``[arms.<name>]`` table of a randomised protocol (:mod:`cartwin.trial.arms`).
ARM_SCHEMA: Mapping[str, FieldSpec] = MappingProxyType({
    "kind": FieldSpec(_choice(ARM_KINDS), doc="car-t (the protocol's product regimen), standard-of-care (a regimen model) or parametric (synthetic)"),
    "allocation": FieldSpec(Interval(1, 10, integer=True), 1, "allocation ratio (integer weight)"),
    "label": FieldSpec(TEXT, "", "arm name as published"),
    "regimen": FieldSpec(TEXT, "", "standard-of-care regimen key (cartwin.trial.standard_of_care), for kind = standard-of-care"),
    "crossover": FieldSpec(BOOL, False, "standard-of-care patients receive the CAR-T arm's product at progression (protocol-planned crossover)"),
    "crossover_at": FieldSpec(_choice(CROSSOVER_AT), "progression",
                              "when crossover happens: progression, or efs-event (the first EFS event that is not death: no response, progression, new therapy)"),
    "median_months": FieldSpec(Interval(0.0, 1200.0, low_open=True), None, "median event time of a parametric arm (exponential)"),
    "note": FieldSpec(TEXT, "", "free text"),
})

#: Fields of ``[randomisation]`` (only with ``[arms]``).
RANDOMISATION_SCHEMA: Mapping[str, FieldSpec] = MappingProxyType({
    "stratify": FieldSpec(_Factors(), [], "stratification factors: covariate columns, optionally 'column>=threshold'"),
    "block_size": FieldSpec(Interval(2, 1000, integer=True), None, "permuted block size (a multiple of the allocation total; default twice it)"),
    "accrual_days": FieldSpec(Interval(0.0, 3650.0), 0.0, "uniform accrual period; data cut = accrual + trial.follow_up_days"),
    "primary_endpoint": FieldSpec(_choice(PRIMARY_ENDPOINTS), "pfs", "primary endpoint of the comparison"),
    "efs_no_response_by_day": FieldSpec(Interval(1.0, 3650.0), None,
                                        "EFS counts no CR/PR by this day after randomisation (CAR-T arm: by the first assessment on or after it) as an event (ZUMA-7: 150)"),
    "post_progression": FieldSpec(TEXT, "", "survival after progression of both arms (cartwin.trial.post_progression; default: the indication's)"),
    "alpha": FieldSpec(Interval(0.001, 0.5), 0.05, "two-sided significance level"),
    "note": FieldSpec(TEXT, "", "free text"),
})

_SECTION_ORDER = ("trial", "eligibility", "product", "dose", "lymphodepletion", "bridging", "journey",
                  "management", "assessment", "reporting", "population", "calibration", "arms", "randomisation",
                  "targets", "assumed")


def _frozen(cls):
    return dataclass(frozen=True)(cls)


@_frozen
class TrialSection:
    name: str
    indication: str
    phase: str
    n_enrolled: int
    source: str
    follow_up_days: float = 730.0
    description: str = ""


@_frozen
class EligibilitySection:
    age_min_years: float = 0.0
    age_max_years: float = 120.0
    prior_lines_min: int = 0
    alc_min_per_ul: float = 0.0
    ecog_max: int = 1


@_frozen
class ProductSection:
    key: str
    label: str = ""


@_frozen
class DoseSection:
    value: float
    per_kg: bool
    max_cells: float | None = None
    infusions: int = 1
    interval_days: float = 0.0


@_frozen
class LymphodepletionSection:
    fludarabine_mg_per_m2: float
    cyclophosphamide_mg_per_m2: float
    days: int = 3
    note: str = ""


@_frozen
class BridgingSection:
    probability: float = 0.0
    tumour_reduction_factor: float = 1.0


@_frozen
class JourneySection:
    name: str = "default"


@_frozen
class ManagementSection:
    policy: str = "astct-consensus"


@_frozen
class AssessmentSection:
    days: tuple[float, ...]
    criteria: str


@_frozen
class ReportingSection:
    crs_scale: str = "astct"
    icans_scale: str = "astct"


@_frozen
class PopulationSection:
    covariates: str
    iiv: str


@_frozen
class CalibrationSection:
    parameters: str = "calibrated"


@_frozen
class Target:
    value: float
    source: str
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    set: str = "infused"
    scale: str = ""
    fitted: bool = False
    note: str = ""
    ci_method: str = "published"

    def to_dict(self) -> dict[str, Any]:
        """The file's fields (computed CIs left out so that they are recomputed on loading)."""
        skip = {"ci_method"} | ({"ci_low", "ci_high"} if self.ci_method != "published" else set())
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip and getattr(self, f.name) is not None}


_SECTION_TYPES = {
    "trial": TrialSection, "eligibility": EligibilitySection, "product": ProductSection, "dose": DoseSection,
    "lymphodepletion": LymphodepletionSection, "bridging": BridgingSection, "journey": JourneySection,
    "management": ManagementSection, "assessment": AssessmentSection, "reporting": ReportingSection,
    "population": PopulationSection, "calibration": CalibrationSection,
}
_OPTIONAL_SECTIONS = {"eligibility", "bridging", "journey", "management", "reporting", "calibration"}


@dataclass(frozen=True)
class Protocol:
    """A validated, immutable trial protocol. Build it with :func:`load_protocol` or :func:`protocol_from_dict`."""

    trial: TrialSection
    product: ProductSection
    dose: DoseSection
    lymphodepletion: LymphodepletionSection
    assessment: AssessmentSection
    population: PopulationSection
    eligibility: EligibilitySection = field(default_factory=EligibilitySection)
    bridging: BridgingSection = field(default_factory=BridgingSection)
    journey: JourneySection = field(default_factory=JourneySection)
    management: ManagementSection = field(default_factory=ManagementSection)
    reporting: ReportingSection = field(default_factory=ReportingSection)
    calibration: CalibrationSection = field(default_factory=CalibrationSection)
    targets: Mapping[str, Target] = field(default_factory=dict)
    assumed: Mapping[str, str] = field(default_factory=dict)
    path: str | None = None
    arms: tuple[Arm, ...] = ()
    randomisation: Randomisation = field(default_factory=Randomisation)

    @property
    def is_randomised(self) -> bool:
        """True when the protocol declares ``[arms]`` (a comparative trial, :mod:`cartwin.trial.comparative`)."""
        return bool(self.arms)

    @property
    def name(self) -> str:
        return self.trial.name

    @property
    def is_placeholder(self) -> bool:
        """True when the product or indication is the ``solid`` placeholder (not simulable yet)."""
        return PLACEHOLDER in (self.product.key, self.trial.indication)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (the file's content, with defaults and computed CIs filled in)."""
        out: dict[str, Any] = {}
        for name in _SECTION_TYPES:
            sec = getattr(self, name)
            out[name] = {f.name: (list(v) if isinstance(v := getattr(sec, f.name), tuple) else v)
                         for f in fields(sec) if getattr(sec, f.name) is not None}
        if self.arms:
            out["arms"] = {a.name: {f.name: getattr(a, f.name) for f in fields(a) if f.name != "name" and getattr(a, f.name) is not None}
                           for a in self.arms}
            r = self.randomisation
            out["randomisation"] = {f.name: (list(v) if isinstance(v := getattr(r, f.name), tuple) else v)
                                    for f in fields(r) if getattr(r, f.name) is not None}
        out["targets"] = {k: t.to_dict() for k, t in self.targets.items()}
        out["assumed"] = dict(self.assumed)
        return out

    def replace(self, **sections: Mapping[str, Any]) -> Protocol:
        """A new protocol with some fields changed, validated again: ``p.replace(dose={"value": 1e6})``."""
        data = self.to_dict()
        for name, changes in sections.items():
            if name in ("arms", "randomisation") and name not in data:
                data[name] = {}
            if name not in data:
                raise ValidationError(f"protocol.{name}", "one of the sections " + ", ".join(_SECTION_ORDER), name)
            if name in ("targets", "assumed", "arms"):
                data[name] = dict(changes)
            else:
                data[name] = {**data[name], **dict(changes)}
        return protocol_from_dict(data, path=self.path)

    def regimen(self):
        """The :class:`cartwin.therapy.Regimen` of this protocol (product, dose, lymphodepletion)."""
        from cartwin.model.dosing import Lymphodepletion
        from cartwin.therapy import Regimen

        if self.is_placeholder:
            raise ValidationError(
                "protocol.product.key", "a product and indication of cartwin.model.presets (not the 'solid' placeholder)",
                self.product.key, hint="the solid-tumour module is not in the model yet; see docs/protocols.md",
            )
        ld = self.lymphodepletion
        days = tuple(float(d) for d in range(-(ld.days + 2), -2))
        regimen_ld = Lymphodepletion(ld.fludarabine_mg_per_m2, ld.cyclophosphamide_mg_per_m2, days)
        return Regimen(self.product.key, self.trial.indication, dose_cells=self.dose.value, per_kg=self.dose.per_kg,
                       lymphodepletion=regimen_ld)

    def dose_cells(self, weight_kg) -> np.ndarray:
        """Cells infused per patient (per-kg doses times weight, capped at ``dose.max_cells``)."""
        w = np.asarray(weight_kg, dtype=float)
        cells = self.dose.value * w if self.dose.per_kg else np.full(w.shape, self.dose.value)
        return np.minimum(cells, self.dose.max_cells) if self.dose.max_cells is not None else cells

    def virtual_population(self):
        """The :class:`cartwin.population.VirtualPopulation` of this protocol's ``[population]``."""
        from cartwin.population import VirtualPopulation

        typical = not self.is_placeholder
        return VirtualPopulation(self.population.covariates, self.population.iiv,
                                 product=self.product.key if typical else None,
                                 indication=self.trial.indication if typical else None)

    def eligible(self, covariates: pd.DataFrame) -> np.ndarray:
        """Boolean mask of rows of a covariate table meeting ``[eligibility]``."""
        e = self.eligibility
        t = covariates
        return ((t["age_years"] >= e.age_min_years) & (t["age_years"] <= e.age_max_years)
                & (t["prior_lines"] >= e.prior_lines_min) & (t["alc_per_ul"] >= e.alc_min_per_ul)
                & (t["ecog"] <= e.ecog_max)).to_numpy()


# ---- validation -------------------------------------------------------------------------
def _check_fields(where: str, values: Any, schema: Mapping[str, FieldSpec]) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ValidationError(where, "a table of fields " + ", ".join(schema), values)
    for key in values:
        if key not in schema:
            raise ValidationError(f"{where}.{key}", "one of the known fields " + ", ".join(schema), key)
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        if key not in values:
            if spec.required:
                raise ValidationError(f"{where}.{key}", f"{spec.constraint.describe()} (required: {spec.doc})", "missing")
            out[key] = spec.default
            continue
        value = values[key]
        if value == "" and spec.default == "":
            out[key] = value  # optional free text left empty
            continue
        if value is None and spec.default is None:
            out[key] = None
            continue
        if not spec.constraint.accepts(value):
            raise ValidationError(f"{where}.{key}", spec.constraint.describe(), value)
        out[key] = float(value) if isinstance(spec.constraint, Interval) and not spec.constraint.integer else value
        if isinstance(spec.constraint, Interval) and spec.constraint.integer:
            out[key] = int(value)
    return out


def _target(name: str, values: Any) -> Target:
    where = f"protocol.targets.{name}"
    if name not in ENDPOINTS:
        raise ValidationError(where, "an endpoint name: " + ", ".join(ENDPOINTS), name)
    v = _check_fields(where, values, TARGET_SCHEMA)
    kind = ENDPOINTS[name].kind
    if kind in ("rate", "km_at"):
        for key in ("value", "ci_low", "ci_high"):
            if v[key] is not None and v[key] > 1.0:
                raise ValidationError(f"{where}.{key}", "a fraction in [0, 1] (write 77 % as 0.77)", v[key])
    method = "published"
    if v["ci_low"] is None and v["ci_high"] is None and kind == "rate" and v["n"] is not None:
        k = round(v["value"] * v["n"])
        v["ci_low"], v["ci_high"] = clopper_pearson(k, v["n"])
        method = f"Clopper-Pearson from {k}/{v['n']} (computed)"
    elif (v["ci_low"] is None) != (v["ci_high"] is None):
        raise ValidationError(f"{where}.ci_high" if v["ci_high"] is None else f"{where}.ci_low", "both CI bounds or neither", "one bound")
    if v["ci_low"] is not None and not (v["ci_low"] <= v["value"] <= v["ci_high"]):
        raise ValidationError(f"{where}.value", f"a value inside its CI [{v['ci_low']:g}, {v['ci_high']:g}]", v["value"])
    return Target(ci_method=method, **v)


def protocol_from_dict(data: Mapping[str, Any], path: str | None = None) -> Protocol:
    """Validate a nested mapping (parsed TOML/YAML) into a :class:`Protocol`."""
    if not isinstance(data, Mapping):
        raise ValidationError("protocol", "a table of sections " + ", ".join(_SECTION_ORDER), data)
    for name in data:
        if name not in _SECTION_ORDER:
            raise ValidationError(f"protocol.{name}", "one of the sections " + ", ".join(_SECTION_ORDER), name)
    sections: dict[str, Any] = {}
    for name, typ in _SECTION_TYPES.items():
        if name not in data and name not in _OPTIONAL_SECTIONS:
            raise ValidationError(f"protocol.{name}", "a section (required)", "missing")
        values = _check_fields(f"protocol.{name}", data.get(name, {}), SCHEMA[name])
        if name == "assessment":
            values["days"] = tuple(float(d) for d in values["days"])
        sections[name] = typ(**values)

    assumed = data.get("assumed", {})
    if not isinstance(assumed, Mapping):
        raise ValidationError("protocol.assumed", "a table of field = reason", assumed)
    for key, why in assumed.items():
        if not _Text().accepts(why):
            raise ValidationError(f"protocol.assumed.{key}", "a non-empty string saying why", why)
    raw_targets = data.get("targets", {})
    if not isinstance(raw_targets, Mapping):
        raise ValidationError("protocol.targets", "a table of endpoint = {value, source, ...}", raw_targets)
    targets = {name: _target(name, v) for name, v in raw_targets.items()}

    _cross_checks(sections, assumed)
    arms, randomisation = _arms(data, sections["trial"].indication)
    return Protocol(targets=MappingProxyType(targets), assumed=MappingProxyType(dict(assumed)), path=path, arms=arms,
                    randomisation=randomisation, **sections)


_ARM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _arms(data: Mapping[str, Any], indication: str) -> tuple[tuple[Arm, ...], Randomisation]:
    """``[arms.<name>]`` and ``[randomisation]``, validated (errors name the field as typed)."""
    from cartwin.trial.standard_of_care import regimen_indication, regimen_names

    raw = data.get("arms")
    if raw is None:
        if "randomisation" in data:
            raise ValidationError("protocol.randomisation", "an [arms.<name>] table for every arm first (randomisation needs arms)",
                                  "no [arms]")
        return (), Randomisation()
    if not isinstance(raw, Mapping) or len(raw) < 2:
        raise ValidationError("protocol.arms", "two or more [arms.<name>] tables", raw if not isinstance(raw, Mapping) else f"{len(raw)} arm(s)")
    arms = []
    for name, values in raw.items():
        where = f"protocol.arms.{name}"
        if not isinstance(name, str) or not _ARM_NAME.match(name):
            raise ValidationError("protocol.arms", "arm names of lower-case letters, digits, '-' or '_' (starting with a letter)", name)
        v = _check_fields(where, values, ARM_SCHEMA)
        if v["kind"] == "standard-of-care":
            if v["regimen"] not in regimen_names():
                raise ValidationError(f"{where}.regimen", "a standard-of-care regimen: " + ", ".join(regimen_names()),
                                      v["regimen"] or "missing")
            if regimen_indication(v["regimen"]) != indication:
                raise ValidationError(f"{where}.regimen", f"a regimen for the trial's indication ({indication})", v["regimen"])
        elif v["regimen"]:
            raise ValidationError(f"{where}.regimen", "no regimen (only standard-of-care arms take one)", v["regimen"])
        if (v["kind"] == "parametric") != (v["median_months"] is not None):
            raise ValidationError(f"{where}.median_months", "a median for parametric arms and none for the others",
                                  v["median_months"] if v["median_months"] is not None else "missing")
        if v["crossover"] and v["kind"] != "standard-of-care":
            raise ValidationError(f"{where}.crossover", "false (only standard-of-care arms cross over to CAR-T)", True)
        arms.append(Arm(name=name, **v))
    kinds = [a.kind for a in arms]
    if kinds.count("car-t") > 1:
        raise ValidationError("protocol.arms", "at most one car-t arm (the protocol has one product)", f"{kinds.count('car-t')} car-t arms")
    if any(a.crossover for a in arms) and "car-t" not in kinds:
        raise ValidationError("protocol.arms", "a car-t arm to cross over to", "crossover without a car-t arm")
    r = _check_fields("protocol.randomisation", data.get("randomisation", {}), RANDOMISATION_SCHEMA)
    r["stratify"] = tuple(r["stratify"])
    if r["post_progression"]:
        from cartwin.trial.post_progression import post_progression_model

        if post_progression_model(r["post_progression"]).indication != indication:
            raise ValidationError("protocol.randomisation.post_progression", f"a model for the trial's indication ({indication})",
                                  r["post_progression"])
    for factor in r["stratify"]:
        parse_factor(factor)
    total = sum(a.allocation for a in arms)
    if r["block_size"] is not None and r["block_size"] % total:
        raise ValidationError("protocol.randomisation.block_size", f"a multiple of the allocation total ({total})", r["block_size"])
    if r["efs_no_response_by_day"] is not None and r["efs_no_response_by_day"] > data.get("trial", {}).get("follow_up_days", 730.0):
        raise ValidationError("protocol.randomisation.efs_no_response_by_day", "a day within trial.follow_up_days", r["efs_no_response_by_day"])
    return tuple(arms), Randomisation(**r)


def _cross_checks(s: Mapping[str, Any], assumed: Mapping[str, str]) -> None:
    trial, product, elig, dose = s["trial"], s["product"], s["eligibility"], s["dose"]
    for field_name, key in (("trial.indication", trial.indication), ("product.key", product.key)):
        if key == PLACEHOLDER and field_name not in assumed:
            raise ValidationError(f"protocol.{field_name}", "a preset key, or 'solid' with an [assumed] entry saying why", key)
    if not (trial.indication == PLACEHOLDER or product.key == PLACEHOLDER):
        antigen = PRODUCTS[product.key].antigen
        if INDICATIONS[trial.indication].antigen != antigen:
            raise ValidationError("protocol.trial.indication", f"an indication whose target is {antigen} (product {product.key})", trial.indication)
    solid = trial.indication == PLACEHOLDER or INDICATIONS[trial.indication].disease_measure == "sld_cm"
    if (s["assessment"].criteria == "recist") != solid:
        raise ValidationError("protocol.assessment.criteria", "recist for solid tumours, all/lugano/imwg otherwise", s["assessment"].criteria)
    if elig.age_min_years > elig.age_max_years:
        raise ValidationError("protocol.eligibility.age_max_years", f"a number >= age_min_years ({elig.age_min_years:g})", elig.age_max_years)
    if dose.per_kg and dose.value > 1e9:
        raise ValidationError("protocol.dose.value", "at most 1e9 cells/kg when per_kg = true", dose.value)
    if dose.infusions > 1 and dose.interval_days <= 0:
        raise ValidationError("protocol.dose.interval_days", "a positive number when infusions > 1", dose.interval_days)
    if s["assessment"].days[-1] > trial.follow_up_days:
        raise ValidationError("protocol.assessment.days", f"days within follow_up_days ({trial.follow_up_days:g})", s["assessment"].days[-1])


# ---- files ------------------------------------------------------------------------------
#: Limits on a protocol file: a real one is ~3 KB, four levels deep, ~150 values.
MAX_PROTOCOL_BYTES = 1_000_000
MAX_PROTOCOL_DEPTH = 12
MAX_PROTOCOL_VALUES = 100_000


def _check_shape(data: Any, where: str) -> None:
    """Depth and size of a parsed document, walked without recursion (YAML aliases may make a
    small file a huge tree: each reference is counted, so a 'billion laughs' stops early)."""
    stack, seen = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_PROTOCOL_VALUES:
            raise ValidationError(where, f"at most {MAX_PROTOCOL_VALUES:,} values (aliases counted each time they are used)", "more")
        if depth > MAX_PROTOCOL_DEPTH:
            raise ValidationError(where, f"tables nested at most {MAX_PROTOCOL_DEPTH} deep", f"deeper than {MAX_PROTOCOL_DEPTH}")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value if isinstance(k, (dict, list, tuple)))
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)


def _read(path: Path) -> dict[str, Any]:
    where = f"protocol file {path.name}"
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ValidationError("protocol file", "a .toml, .yaml or .yml file", path.name)
    try:
        size = path.stat().st_size
        if size > MAX_PROTOCOL_BYTES:
            raise ValidationError(where, f"at most {MAX_PROTOCOL_BYTES:,} bytes", f"{size:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(where, "a readable file", exc.strerror or str(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(where, "UTF-8 text", f"byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason})",
                              hint="save the file as UTF-8") from None
    try:
        if path.suffix == ".toml":
            try:
                document = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ValidationError(where, "valid TOML", str(exc)) from None
        else:
            import yaml

            try:
                document = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                raise ValidationError(where, "valid YAML", " ".join(str(exc).split())) from None
    except RecursionError:
        raise ValidationError(where, f"tables nested at most {MAX_PROTOCOL_DEPTH} deep", "nested too deeply to parse") from None
    _check_shape(document, where)
    return document


def _shipped_dir():
    return resources.files("cartwin.trial") / "protocols"


def list_protocols() -> list[str]:
    """Names of the shipped single-arm protocol presets (``load_protocol(name)`` accepts each).

    The randomised presets (:func:`list_randomised_protocols`) are kept apart, in
    ``protocols/randomised/``: they carry no fitted targets and their results are the project's
    prediction test, so nothing that iterates over the calibration presets may pick them up."""
    return sorted(p.name[:-5] for p in _shipped_dir().iterdir() if p.name.endswith(".toml"))


def list_randomised_protocols() -> list[str]:
    """Names of the shipped randomised (comparative) presets, e.g. ``zuma-7`` (docs/comparative.md)."""
    return sorted(p.name[:-5] for p in (_shipped_dir() / "randomised").iterdir() if p.name.endswith(".toml"))


def load_protocol(name_or_path: str | Path) -> Protocol:
    """Load a shipped preset by name (``"zuma-1"``) or a protocol file by path (TOML or YAML)."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ValidationError("protocol", "an existing protocol file or a preset: " + ", ".join(list_protocols()), str(name_or_path))
        return protocol_from_dict(_read(path), path=str(path))
    name = str(name_or_path).lower()
    presets = list_protocols()
    randomised = list_randomised_protocols()
    if name not in presets and name not in randomised:
        raise ValidationError("protocol", "a preset (" + ", ".join(presets + randomised) + ") or a .toml/.yaml path", str(name_or_path))
    where = f"{name}.toml" if name in presets else f"randomised/{name}.toml"
    shipped = _shipped_dir().joinpath(*where.split("/"))
    with resources.as_file(shipped) as p:
        return protocol_from_dict(_read(Path(p)), path=f"cartwin:trial/protocols/{where}")

