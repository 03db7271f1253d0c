"""Journey and treatment-network configuration: immutable, validated, loadable from dict/YAML/TOML.

:class:`JourneyConfig` describes what happens to one enrolled patient (step durations as
:class:`~cartwin.journey.distributions.Duration`, dropout hazards while waiting, bridging, disease
growth, apheresis yield); :class:`NetworkConfig` describes the treatment network's capacity.
Constraints are data (:data:`JOURNEY_CONSTRAINTS`, :data:`NETWORK_CONSTRAINTS`): the same tables
check values, feed error messages naming the field and drive the test that feeds every field a
bad value.

Dropout while waiting is a competing-risks process with hazards (1/day) for progression, death and
ineligibility, all scaled by the same time profile

    h_k(t) = h_k * (1 + hazard_increase_per_week * t / 7),   t = days since enrolment,

so the waiting itself raises the risk when ``hazard_increase_per_week > 0``.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartwin.foundation.constraints import (
    NONNEGATIVE,
    POSITIVE,
    PROBABILITY,
    Constraint,
    Interval,
    OneOf,
    check,
)
from cartwin.foundation.errors import ValidationError
from cartwin.journey.distributions import Duration, parse_duration
from cartwin.journey.products import PRODUCTS, Product, get_product


class _DurationC(Constraint):
    """Marker constraint: the field is a Duration (checked by parse_duration)."""

    def __init__(self, optional: bool = False):
        self.optional = optional

    def accepts(self, value: Any) -> bool:  # pragma: no cover - parse_duration checks
        return True

    def describe(self) -> str:
        return "a duration in days: number, [median, low, high] or {median_day, low_day, high_day}"


DURATION = _DurationC()
OPTIONAL_DURATION = _DurationC(optional=True)
OPTIONAL_PROBABILITY = PROBABILITY  # None allowed (falls back to the product's value)

#: Field -> constraint for :class:`JourneyConfig` (units are in the names).
JOURNEY_CONSTRAINTS: Mapping[str, Constraint] = {
    "product": OneOf(tuple(PRODUCTS)),
    "lymphodepletion": OneOf(("standard", "intensified")),
    "enrolment_to_apheresis": DURATION,
    "shipping_to_facility": DURATION,
    "manufacturing": OPTIONAL_DURATION,
    "release_testing": OPTIONAL_DURATION,
    "shipping_to_site": DURATION,
    "infusion_scheduling": DURATION,
    "off_the_shelf_ordering": DURATION,
    "lymphodepletion_to_infusion": DURATION,
    "apheresis_session": DURATION,
    "post_infusion_stay": DURATION,
    "manufacturing_failure_probability": OPTIONAL_PROBABILITY,
    "progression_hazard_per_day": Interval(0.0, 1.0),
    "death_hazard_per_day": Interval(0.0, 1.0),
    "ineligibility_hazard_per_day": Interval(0.0, 1.0),
    "hazard_increase_per_week": NONNEGATIVE,
    "bridging_probability": PROBABILITY,
    "bridging_burden_factor": Interval(0.0, 10.0, low_open=True),
    "tumour_growth_rate_per_day": Interval(0.0, 1.0),
    "alc_median_per_ul": POSITIVE,
    "alc_log_sd": Interval(0.0, 3.0),
    "apheresis_processed_volume_l": Interval(0.0, 50.0, low_open=True),
    "apheresis_collection_efficiency": Interval(0.0, 1.0, low_open=True),
    "t_cell_fraction_of_lymphocytes": Interval(0.0, 1.0, low_open=True),
}

#: Reasons a patient is not infused (``None`` in the table means infused).
NOT_INFUSED_REASONS = ("manufacturing_failure", "out_of_specification", "progression", "death", "ineligible")


@dataclass(frozen=True)
class JourneyConfig:
    """What happens to one enrolled patient between enrolment and infusion.

    Durations in days; hazards in 1/day; ``None`` for manufacturing, release testing and
    manufacturing failure probability means "the product's own value".
    """

    product: str = "tisa-cel"
    lymphodepletion: str = "standard"
    enrolment_to_apheresis: Duration = Duration(2.0, 0.0, 14.0)
    shipping_to_facility: Duration = Duration(2.0, 1.0, 7.0)
    manufacturing: Duration | None = None
    release_testing: Duration | None = None
    shipping_to_site: Duration = Duration(2.0, 1.0, 7.0)
    infusion_scheduling: Duration = Duration(3.0, 0.0, 30.0)
    off_the_shelf_ordering: Duration = Duration(2.0, 0.0, 7.0)
    lymphodepletion_to_infusion: Duration = Duration(5.0, 3.0, 14.0)
    apheresis_session: Duration = Duration.fixed(1.0)
    post_infusion_stay: Duration = Duration(14.0, 7.0, 30.0)
    manufacturing_failure_probability: float | None = None
    progression_hazard_per_day: float = 0.002
    death_hazard_per_day: float = 0.002
    ineligibility_hazard_per_day: float = 0.001
    hazard_increase_per_week: float = 0.0
    bridging_probability: float = 0.5
    bridging_burden_factor: float = 0.7
    tumour_growth_rate_per_day: float = 0.02
    alc_median_per_ul: float = 700.0
    alc_log_sd: float = 0.7
    apheresis_processed_volume_l: float = 10.0
    apheresis_collection_efficiency: float = 0.5
    t_cell_fraction_of_lymphocytes: float = 0.7

    def __post_init__(self) -> None:
        for name, constraint in JOURNEY_CONSTRAINTS.items():
            value = getattr(self, name)
            if isinstance(constraint, _DurationC):
                if value is None and constraint.optional:
                    continue
                if value is None:
                    raise ValidationError(name, constraint.describe(), value)
                object.__setattr__(self, name, parse_duration(name, value))
            elif value is None and name == "manufacturing_failure_probability":
                continue
            else:
                check(name, value, constraint)

    # -- derived -------------------------------------------------------------------------
    @property
    def product_spec(self) -> Product:
        return get_product(self.product)

    @property
    def manufacturing_duration(self) -> Duration:
        return self.manufacturing if self.manufacturing is not None else self.product_spec.manufacturing

    @property
    def release_testing_duration(self) -> Duration:
        return self.release_testing if self.release_testing is not None else self.product_spec.release_testing

    @property
    def failure_probability(self) -> float:
        p = self.manufacturing_failure_probability
        return self.product_spec.manufacturing_failure_probability if p is None else p

    @property
    def total_hazard_per_day(self) -> float:
        return self.progression_hazard_per_day + self.death_hazard_per_day + self.ineligibility_hazard_per_day

    def cumulative_hazard(self, t_day):
        """H(t) = h * (t + k t^2 / 14) for the total hazard h and increase k per week."""
        return self.total_hazard_per_day * (t_day + self.hazard_increase_per_week * t_day**2 / 14.0)

    def dropout_time(self, e: float) -> float:
        """Inverse of :meth:`cumulative_hazard`: the dropout day for a unit-exponential draw ``e``."""
        h = self.total_hazard_per_day
        if h <= 0.0:
            return math.inf
        c = e / h
        a = self.hazard_increase_per_week / 14.0
        if a == 0.0:
            return c
        return (-1.0 + math.sqrt(1.0 + 4.0 * a * c)) / (2.0 * a)

    # -- construction --------------------------------------------------------------------
    def replace(self, **changes: Any) -> JourneyConfig:
        _check_names(changes, JOURNEY_CONSTRAINTS, "")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return _fields_dict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base: JourneyConfig | None = None) -> JourneyConfig:
        """Build from a mapping; unknown keys are errors naming the key."""
        if not isinstance(values, Mapping):
            raise ValidationError("journey", "a mapping of journey fields", values)
        _check_names(values, JOURNEY_CONSTRAINTS, "")
        return dataclasses.replace(base or cls(), **dict(values))


def _fields_dict(config) -> dict[str, Any]:
    """A config's fields as plain values (durations as their own dicts)."""
    return {f.name: (v.to_dict() if isinstance(v := getattr(config, f.name), Duration) else v)
            for f in dataclasses.fields(config)}


def _check_names(values: Mapping[str, Any], constraints: Mapping[str, Any], where: str) -> None:
    for name in values:
        if name not in constraints:
            raise ValidationError(
                f"{where}{name}", "one of the known fields " + ", ".join(sorted(constraints)), name
            )


#: Field -> constraint for :class:`NetworkConfig`.
NETWORK_CONSTRAINTS: Mapping[str, Constraint] = {
    "arrivals_per_week": Interval(0.0, 10_000.0, low_open=True),
    "weeks": Interval(0.0, 520.0, low_open=True),
    "apheresis_slots": Interval(1, 10_000, integer=True),
    "manufacturing_suites": Interval(1, 10_000, integer=True),
    "lines_per_suite": Interval(1, 1_000, integer=True),
    "qc_slots": Interval(1, 100_000, integer=True),
    "beds": Interval(1, 100_000, integer=True),
}


@dataclass(frozen=True)
class NetworkConfig:
    """Capacity of a treatment network fed by Poisson arrivals.

    A manufacturing suite runs ``lines_per_suite`` patient lots in parallel (assumption: a
    clean-room suite runs 4 closed-system lots at a time by default); QC slots hold a lot for its release
    testing; a bed is held from the start of lymphodepletion until the end of the post-infusion
    stay (assumption: 14 d median, REMS-style monitoring near the centre).
    """

    arrivals_per_week: float = 10.0
    weeks: float = 52.0
    apheresis_slots: int = 2
    manufacturing_suites: int = 4
    lines_per_suite: int = 4
    qc_slots: int = 40
    beds: int = 40

    def __post_init__(self) -> None:
        for name, constraint in NETWORK_CONSTRAINTS.items():
            value = getattr(self, name)
            check(name, value, constraint)
            if getattr(constraint, "integer", False):
                object.__setattr__(self, name, int(value))

    @property
    def manufacturing_lines(self) -> int:
        return self.manufacturing_suites * self.lines_per_suite

    def replace(self, **changes: Any) -> NetworkConfig:
        _check_names(changes, NETWORK_CONSTRAINTS, "network.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return _fields_dict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base: NetworkConfig | None = None) -> NetworkConfig:
        if not isinstance(values, Mapping):
            raise ValidationError("network", "a mapping of network fields", values)
        _check_names(values, NETWORK_CONSTRAINTS, "network.")
        return dataclasses.replace(base or cls(), **dict(values))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) file into a mapping."""
    path = Path(path)
    text = path.read_text()
    if path.suffix in (".toml",):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError("config", f"valid TOML ({exc})", str(path)) from None
    elif path.suffix in (".yaml", ".yml", ".json"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError("config", f"valid YAML ({exc})", str(path)) from None
    else:
        raise ValidationError("config", "a .yaml, .yml, .json or .toml file", str(path))
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValidationError("config", "a mapping at the top level", type(data).__name__)
    return dict(data)


def load_config(source: str | Path | Mapping[str, Any]) -> tuple[JourneyConfig, NetworkConfig]:
    """Journey and network configs from a file or mapping.

    Top-level keys: ``preset`` (optional base, e.g. ``juliet``), ``network`` (a mapping of
    :class:`NetworkConfig` fields) and any :class:`JourneyConfig` field::

        preset: juliet
        product: axi-cel
        death_hazard_per_day: 0.003
        network: {manufacturing_suites: 3}
    """
    from cartwin.journey.calibration import preset_config

    data = dict(source) if isinstance(source, Mapping) else read_config_file(source)
    network_values = data.pop("network", {}) or {}
    preset = data.pop("preset", None)
    base = preset_config(preset) if preset is not None else None
    if base is not None and "product" in data and data["product"] != base.product:
        # The preset's calibrated failure probability belongs to its own product.
        base = base.replace(product=data["product"], manufacturing_failure_probability=None)
    journey = JourneyConfig.from_dict(data, base=base)
    network = NetworkConfig.from_dict(network_values)
    return journey, network
