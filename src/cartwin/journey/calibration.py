"""Journey presets tuned to pivotal trials, with hazards derived from the published counts.

For a preset the data file ``data/presets.yaml`` gives the journey steps and the targets: enrolled
``N``, infused ``I``, manufacturing failures ``F`` (of ``D`` at the cutoff) and the dropout reason
counts. With step durations fixed, two unknowns remain: the total dropout hazard ``h`` (1/day) and
the manufacturing failure probability ``p``. Over Monte-Carlo journeys i (no queueing) with times
since enrolment of infusion ``T_i``, end of culture ``M_i`` and release ``R_i``, out-of-spec
indicator ``o_i`` and survival ``S_h(t) = exp(-H(t))``:

    I / N = mean[(1 - p) (1 - o_i) S_h(T_i)]
    F / D = mean[p S_h(M_i) + (1 - p) o_i S_h(R_i)]

(out-of-specification lots count as manufacturing failures in the published tallies). For each
``h`` the second equation gives ``p`` in closed form; ``h`` is then found by root bracketing. The
hazard is split between progression, death and ineligibility in proportion to the published
reason counts. This replaces the back-of-envelope ``h = -ln(1 - p_drop) / median wait`` by its
exact version over the whole wait distribution.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from cartwin.foundation.errors import ValidationError
from cartwin.journey.config import JourneyConfig
from cartwin.journey.process import draw, timeline

CALIBRATION_SEED = 20240604
CALIBRATION_SAMPLES = 50_000


@functools.lru_cache(maxsize=1)
def _presets_data() -> Mapping[str, Any]:
    import yaml

    text = resources.files("cartwin.journey").joinpath("data/presets.yaml").read_text()
    return yaml.safe_load(text)["presets"]


def preset_names() -> tuple[str, ...]:
    return tuple(_presets_data())


def preset_data(name: str) -> Mapping[str, Any]:
    data = _presets_data()
    if name not in data:
        raise ValidationError("preset", "one of " + ", ".join(data), name)
    return data[name]


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`derive_hazards`: the derived numbers and the fit they achieve."""

    total_hazard_per_day: float
    manufacturing_failure_probability: float
    reason_shares: Mapping[str, float]
    target_infused_fraction: float
    fitted_infused_fraction: float
    target_manufacturing_failure_fraction: float
    fitted_manufacturing_failure_fraction: float
    median_enrolment_to_infusion_day: float


def derive_hazards(
    journey: JourneyConfig,
    enrolled: int,
    infused: int,
    manufacturing_failures: int,
    manufacturing_failures_denominator: int,
    reason_counts: Mapping[str, float],
    samples: int = CALIBRATION_SAMPLES,
    seed: int = CALIBRATION_SEED,
) -> Calibration:
    """Solve for the total dropout hazard and manufacturing failure probability (module doc)."""
    from scipy.optimize import brentq

    if not 0 < infused <= enrolled:
        raise ValidationError("targets.infused", f"an integer in (0, enrolled={enrolled}]", infused)
    if not 0 <= manufacturing_failures <= manufacturing_failures_denominator:
        raise ValidationError("targets.manufacturing_failures", "an integer in [0, denominator]", manufacturing_failures)
    unknown = set(reason_counts) - {"progression", "death", "ineligible"}
    if unknown:
        raise ValidationError("dropout_reason_counts", "keys among progression, death, ineligible", sorted(unknown))
    total_reasons = float(sum(reason_counts.values()))
    if total_reasons <= 0:
        raise ValidationError("dropout_reason_counts", "at least one positive count", dict(reason_counts))
    shares = {k: float(reason_counts.get(k, 0.0)) / total_reasons for k in ("progression", "death", "ineligible")}

    # Unit hazard profile: H(t) = h * g(t), g(t) = t + k t^2 / 14.
    unit = journey.replace(progression_hazard_per_day=1.0, death_hazard_per_day=0.0, ineligibility_hazard_per_day=0.0)
    d = draw(journey, np.random.default_rng(seed), samples)
    t = timeline(journey, d)
    g_inf = unit.cumulative_hazard(t["infusion"])
    off_the_shelf = journey.product_spec.off_the_shelf
    g_mfg = np.zeros(samples) if off_the_shelf else unit.cumulative_hazard(t["manufacturing_end"])
    g_rel = np.zeros(samples) if off_the_shelf else unit.cumulative_hazard(t["release"])
    oos = np.asarray(d["out_of_specification"], dtype=float)
    target_i = infused / enrolled
    target_f = manufacturing_failures / manufacturing_failures_denominator

    def p_of(h: float) -> float:
        if off_the_shelf:
            return 0.0
        s_m, s_r = np.exp(-h * g_mfg), np.exp(-h * g_rel)
        denom = np.mean(s_m - oos * s_r)
        p = (target_f - np.mean(oos * s_r)) / denom if denom > 0 else 0.0
        return float(np.clip(p, 0.0, 1.0))

    def infused_fraction(h: float) -> float:
        return float(np.mean((1.0 - p_of(h)) * (1.0 - oos) * np.exp(-h * g_inf)))

    def failures(h: float) -> float:
        p = p_of(h)
        return float(np.mean(p * np.exp(-h * g_mfg) + (1.0 - p) * oos * np.exp(-h * g_rel)))

    if infused_fraction(0.0) <= target_i:
        h = 0.0  # even without dropouts the journey infuses no more than the target
    else:
        h = brentq(lambda x: infused_fraction(x) - target_i, 0.0, 1.0, xtol=1e-10)
    return Calibration(
        total_hazard_per_day=float(h),
        manufacturing_failure_probability=p_of(h),
        reason_shares=shares,
        target_infused_fraction=target_i,
        fitted_infused_fraction=infused_fraction(h),
        target_manufacturing_failure_fraction=target_f,
        fitted_manufacturing_failure_fraction=failures(h),
        median_enrolment_to_infusion_day=float(np.median(t["infusion"])),
    )


@functools.cache
def calibrate_preset(name: str) -> tuple[JourneyConfig, Calibration]:
    """The preset's journey config with hazards and failure probability derived from its targets."""
    data = preset_data(name)
    journey = JourneyConfig.from_dict(data["journey"])
    tg = data["targets"]
    cal = derive_hazards(
        journey,
        enrolled=int(tg["enrolled"]),
        infused=int(tg["infused"]),
        manufacturing_failures=int(tg["manufacturing_failures"]),
        manufacturing_failures_denominator=int(tg["manufacturing_failures_denominator"]),
        reason_counts=data["dropout_reason_counts"],
    )
    h, s = cal.total_hazard_per_day, cal.reason_shares
    journey = journey.replace(
        progression_hazard_per_day=h * s["progression"],
        death_hazard_per_day=h * s["death"],
        ineligibility_hazard_per_day=h * s["ineligible"],
        manufacturing_failure_probability=cal.manufacturing_failure_probability,
    )
    return journey, cal


def preset_config(name: str) -> JourneyConfig:
    """Calibrated journey config of preset ``name`` (``juliet``, ``eliana``, ``zuma-1``)."""
    return calibrate_preset(name)[0]


def default_config(product: str = "tisa-cel") -> JourneyConfig:
    """The JULIET-calibrated logistics and hazards with ``product`` swapped in (its own
    manufacturing and release durations and failure probability)."""
    return preset_config("juliet").replace(product=product, manufacturing_failure_probability=None)
