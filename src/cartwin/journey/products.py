"""CAR cell products as immutable, validated value objects, and the catalogue of known products.

A :class:`Product` says how a product is made (manufacturing and release-testing durations,
failure probability, transduction, expansion, release specification) and carries the in-vivo
attributes the model layer maps onto its parameters, as plain numbers with units:

* ``persistence_half_life_factor`` (dimensionless): long-term persistence half-life relative to
  tisagenlecleucel's terminal half-life of 220 d (Stein et al. CPT PSP 2019, 1/beta with
  beta = 0.0032 /day; shared/reference/published_models.yaml ``stein2019_tisacel_ball``);
* ``host_rejection_rate_per_day`` (1/day): extra first-order loss of product cells from host
  rejection (allogeneic T or NK cells); multiplied by ``intensified_ld_rejection_factor`` when
  lymphodepletion is deepened (e.g. anti-CD52);
* ``cytokine_release_factor`` and ``neurotoxicity_factor`` (dimensionless): relative CRS / ICANS
  drive, axi-cel = 1 (the model's calibrated reference product);
* ``gvhd_probability`` (probability per infused patient).

Every number has a unit (:data:`PRODUCT_UNITS`) and a source (``Product.sources``); sources that
begin with ``assumption`` are assumptions, ``derived`` are computed from cited numbers, and
``UNVERIFIED`` flags a number recalled but not checked against a source.

>>> get_product("tisa-cel").costimulatory_domain
'4-1BB'
>>> get_product("allo-cd19").manufacturing.median_day
0.0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cartwin.foundation.constraints import (
    NONNEGATIVE,
    POSITIVE,
    PROBABILITY,
    Interval,
    OneOf,
    check,
)
from cartwin.foundation.errors import ValidationError
from cartwin.journey.distributions import Duration, parse_duration

PRODUCT_CLASSES = ("autologous_car_t", "allogeneic_car_t", "car_nk")

#: Terminal (memory) half-life of tisagenlecleucel, days: ln 2 / 0.0032 (Stein 2019 Table 1, beta).
REFERENCE_PERSISTENCE_HALF_LIFE_DAY = math.log(2.0) / 0.0032

#: Unit of every numeric Product field.
PRODUCT_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "manufacturing": "day",
        "release_testing": "day",
        "manufacturing_failure_probability": "probability per manufactured lot",
        "transduction_efficiency_fraction": "fraction of cells CAR+ (mean)",
        "expansion_fold": "fold (median, per lot)",
        "max_seeded_t_cells": "cells",
        "cd8_fraction": "CD8/(CD4+CD8) (mean)",
        "memory_fraction": "fraction T_CM/T_SCM-like (mean)",
        "viability_fraction": "fraction viable (mean)",
        "viability_spec_fraction": "fraction viable (release minimum)",
        "target_dose_cells": "CAR+ viable cells (flat)",
        "min_dose_cells": "CAR+ viable cells (release minimum)",
        "persistence_half_life_factor": "dimensionless (x 220 d, tisa-cel terminal half-life)",
        "host_rejection_rate_per_day": "1/day",
        "intensified_ld_rejection_factor": "dimensionless multiplier on rejection rate",
        "cytokine_release_factor": "dimensionless (axi-cel = 1)",
        "neurotoxicity_factor": "dimensionless (axi-cel = 1)",
        "gvhd_probability": "probability per infused patient",
        "crs_any_grade_reference_fraction": "fraction of infused patients (published)",
    }
)

_CONSTRAINTS = {
    "key": None,
    "product_class": OneOf(PRODUCT_CLASSES),
    "manufacturing_failure_probability": PROBABILITY,
    "transduction_efficiency_fraction": Interval(0.0, 1.0, low_open=True),
    "expansion_fold": POSITIVE,
    "max_seeded_t_cells": POSITIVE,
    "cd8_fraction": Interval(0.0, 1.0),
    "memory_fraction": Interval(0.0, 1.0),
    "viability_fraction": Interval(0.0, 1.0, low_open=True, high_open=True),
    "viability_spec_fraction": PROBABILITY,
    "target_dose_cells": POSITIVE,
    "min_dose_cells": POSITIVE,
    "persistence_half_life_factor": POSITIVE,
    "host_rejection_rate_per_day": NONNEGATIVE,
    "intensified_ld_rejection_factor": PROBABILITY,
    "cytokine_release_factor": NONNEGATIVE,
    "neurotoxicity_factor": NONNEGATIVE,
    "gvhd_probability": PROBABILITY,
}


@dataclass(frozen=True)
class Product:
    """A CAR cell product. Immutable; checked when built; ``replace`` returns a new one."""

    key: str
    label: str
    product_class: str
    target: str
    costimulatory_domain: str
    manufacturing: Duration
    release_testing: Duration
    manufacturing_failure_probability: float
    transduction_efficiency_fraction: float
    expansion_fold: float
    max_seeded_t_cells: float
    cd8_fraction: float
    memory_fraction: float
    viability_fraction: float
    viability_spec_fraction: float
    target_dose_cells: float
    min_dose_cells: float
    persistence_half_life_factor: float
    host_rejection_rate_per_day: float
    intensified_ld_rejection_factor: float
    cytokine_release_factor: float
    neurotoxicity_factor: float
    gvhd_probability: float
    crs_any_grade_reference_fraction: float | None = None
    composition_controlled: bool = False  # CD4:CD8 fixed by design (liso-cel)
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"product[{self.key}]"
        if not isinstance(self.key, str) or not self.key:
            raise ValidationError(f"{where}.key", "a non-empty string", self.key)
        for name, constraint in _CONSTRAINTS.items():
            if constraint is not None:
                check(f"{where}.{name}", getattr(self, name), constraint)
        object.__setattr__(self, "manufacturing", parse_duration(f"{where}.manufacturing", self.manufacturing))
        object.__setattr__(
            self, "release_testing", parse_duration(f"{where}.release_testing", self.release_testing)
        )
        if self.min_dose_cells > self.target_dose_cells:
            raise ValidationError(
                f"{where}.min_dose_cells", f"a number <= target_dose_cells ({self.target_dose_cells:g})",
                self.min_dose_cells,
            )
        if self.crs_any_grade_reference_fraction is not None:
            check(f"{where}.crs_any_grade_reference_fraction", self.crs_any_grade_reference_fraction, PROBABILITY)
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    @property
    def off_the_shelf(self) -> bool:
        """True for allogeneic CAR-T and CAR-NK: no apheresis, no per-patient manufacturing."""
        return self.product_class != "autologous_car_t"

    def replace(self, **changes: Any) -> Product:
        return dataclasses.replace(self, **changes)

    def source(self, name: str) -> str:
        return self.sources.get(name, self.sources.get("*", "assumption"))

    def effective_rejection_rate_per_day(self, lymphodepletion: str = "standard") -> float:
        """Host rejection rate (1/day) under ``standard`` or ``intensified`` lymphodepletion."""
        check("lymphodepletion", lymphodepletion, OneOf(("standard", "intensified")))
        factor = self.intensified_ld_rejection_factor if lymphodepletion == "intensified" else 1.0
        return self.host_rejection_rate_per_day * factor

    def persistence_half_life_day(self, lymphodepletion: str = "standard") -> float:
        """Long-term persistence half-life (days): intrinsic loss plus host rejection,

        t_half = ln 2 / (ln 2 / (220 d * persistence_half_life_factor) + k_rejection).

        A plain summary for tables and tests; the in-vivo model uses the two numbers separately.
        """
        intrinsic = math.log(2.0) / (REFERENCE_PERSISTENCE_HALF_LIFE_DAY * self.persistence_half_life_factor)
        return math.log(2.0) / (intrinsic + self.effective_rejection_rate_per_day(lymphodepletion))

    def in_vivo_attributes(self, lymphodepletion: str = "standard") -> dict[str, float]:
        """The plain numbers the in-vivo model maps onto its parameters."""
        return {
            "persistence_half_life_factor": self.persistence_half_life_factor,
            "host_rejection_rate_per_day": self.effective_rejection_rate_per_day(lymphodepletion),
            "persistence_half_life_day": self.persistence_half_life_day(lymphodepletion),
            "cytokine_release_factor": self.cytokine_release_factor,
            "neurotoxicity_factor": self.neurotoxicity_factor,
            "gvhd_probability": self.gvhd_probability,
        }


_CSV = "shared/reference/pivotal_trials.csv"
_AUTO_COMMON = {
    "max_seeded_t_cells": "assumption: T cells seeded into culture capped at 2e8",
    "viability_fraction": "assumption: lots ~85-90% viable",
    "viability_spec_fraction": "assumption: release requires >=70-80% viability (UNVERIFIED label spec)",
    "cd8_fraction": "assumption: CD8/(CD4+CD8) varies widely between patients, mean ~0.5",
    "host_rejection_rate_per_day": "autologous: no host rejection",
    "intensified_ld_rejection_factor": "autologous: not applicable",
    "gvhd_probability": "autologous: no GvHD",
    "transduction_efficiency_fraction": "assumption: lentiviral/retroviral transduction 20-50% CAR+",
    "expansion_fold": "assumption: 10-50-fold expansion over the culture",
    "*": "assumption",
}


def _auto(key: str, **kw: Any) -> Product:
    sources = dict(_AUTO_COMMON)
    sources.update(kw.pop("sources", {}))
    base: dict[str, Any] = {
        "product_class": "autologous_car_t",
        "target": "CD19",
        "max_seeded_t_cells": 2e8,
        "cd8_fraction": 0.5,
        "viability_fraction": 0.88,
        "viability_spec_fraction": 0.75,
        "host_rejection_rate_per_day": 0.0,
        "intensified_ld_rejection_factor": 1.0,
        "gvhd_probability": 0.0,
        "transduction_efficiency_fraction": 0.3,
        "expansion_fold": 20.0,
    }
    base.update(kw)
    return Product(key=key, sources=sources, **base)


_CATALOGUE: dict[str, Product] = {
    "tisa-cel": _auto(
        "tisa-cel",
        label="tisagenlecleucel (Kymriah, CTL019)",
        costimulatory_domain="4-1BB",
        manufacturing=Duration(10.0, 8.0, 14.0),
        release_testing=Duration(14.0, 8.0, 35.0),
        manufacturing_failure_probability=11 / 160,
        transduction_efficiency_fraction=0.25,
        expansion_fold=15.0,
        memory_fraction=0.5,
        target_dose_cells=5e8,
        min_dose_cells=1e7,
        persistence_half_life_factor=1.0,
        cytokine_release_factor=58 / 93,
        neurotoxicity_factor=21 / 65,
        crs_any_grade_reference_fraction=0.58,
        sources={
            "manufacturing": "assumption: ~9-10 d culture (bead activation, lentiviral transduction, expansion)",
            "release_testing": "assumption: cryopreservation + sterility testing ~2 weeks; long right tail",
            "manufacturing_failure_probability": f"JULIET 11/160 not infused for manufacturing failure (KYMRIAH USPI 2018 s14.2; {_CSV})",
            "memory_fraction": "assumption: as cartwin.model.presets tisa-cel memory_fraction 0.5",
            "target_dose_cells": f"JULIET target dose 5e8 flat; protocol range 0.1-6.0e8 ({_CSV}, Schuster 2021)",
            "min_dose_cells": f"JULIET protocol minimum 0.1e8 ({_CSV})",
            "persistence_half_life_factor": "Stein 2019 terminal half-life 220 d is this product's (reference = 1)",
            "cytokine_release_factor": f"derived: JULIET CRS any grade 58% (n=111) / ZUMA-1 93% (n=101) ({_CSV})",
            "neurotoxicity_factor": f"derived: JULIET neurologic events 21% / ZUMA-1 65% ({_CSV})",
            "crs_any_grade_reference_fraction": f"JULIET 58% (Penn; n=111) ({_CSV})",
        },
    ),
    "axi-cel": _auto(
        "axi-cel",
        label="axicabtagene ciloleucel (Yescarta)",
        costimulatory_domain="CD28",
        manufacturing=Duration(6.0, 5.0, 9.0),
        release_testing=Duration(7.0, 5.0, 14.0),
        manufacturing_failure_probability=1 / 111,
        expansion_fold=30.0,
        memory_fraction=0.3,
        target_dose_cells=1.4e8,
        min_dose_cells=1e7,
        persistence_half_life_factor=0.5,
        cytokine_release_factor=1.0,
        neurotoxicity_factor=1.0,
        crs_any_grade_reference_fraction=0.93,
        sources={
            "manufacturing": f"assumption: short (~6 d) culture; ZUMA-1 ~17 d to delivery is UNVERIFIED ({_CSV})",
            "release_testing": "assumption",
            "manufacturing_failure_probability": f"ZUMA-1 manufacturing success 110/111 (UNVERIFIED, recalled) ({_CSV})",
            "memory_fraction": "assumption: as cartwin.model.presets axi-cel memory_fraction 0.3",
            "target_dose_cells": f"derived: ZUMA-1 2e6/kg x 70 kg (cap 2e8) ({_CSV})",
            "persistence_half_life_factor": "assumption: CD28 products persist less than 4-1BB (Cappell & Kochenderfer, Nat Rev Clin Oncol 2023)",
            "cytokine_release_factor": "reference product (= 1)",
            "neurotoxicity_factor": "reference product (= 1)",
            "crs_any_grade_reference_fraction": f"ZUMA-1 93% (Lee 2014; n=101) ({_CSV})",
        },
    ),
    "brexu-cel": _auto(
        "brexu-cel",
        label="brexucabtagene autoleucel (Tecartus)",
        costimulatory_domain="CD28",
        manufacturing=Duration(7.0, 5.0, 10.0),
        release_testing=Duration(8.0, 5.0, 16.0),
        manufacturing_failure_probability=0.04,
        expansion_fold=30.0,
        memory_fraction=0.3,
        target_dose_cells=1.4e8,
        min_dose_cells=1e7,
        persistence_half_life_factor=0.5,
        cytokine_release_factor=91 / 93,
        neurotoxicity_factor=81 / 65,
        crs_any_grade_reference_fraction=0.91,
        sources={
            "manufacturing": "assumption: axi-cel process plus T-cell enrichment step",
            "manufacturing_failure_probability": f"assumption: ZUMA-2 74 apheresed -> 68 treated, reasons not in {_CSV}",
            "target_dose_cells": f"derived: ZUMA-2 2e6/kg x 70 kg (UNVERIFIED dose row) ({_CSV})",
            "persistence_half_life_factor": "assumption: as axi-cel (CD28)",
            "cytokine_release_factor": f"derived: ZUMA-2 CRS 91% (n=82) / ZUMA-1 93% ({_CSV})",
            "neurotoxicity_factor": f"derived: ZUMA-2 neurologic events 81% / ZUMA-1 65% ({_CSV})",
            "crs_any_grade_reference_fraction": f"ZUMA-2 label 75/82 ({_CSV})",
        },
    ),
    "liso-cel": _auto(
        "liso-cel",
        label="lisocabtagene maraleucel (Breyanzi)",
        costimulatory_domain="4-1BB",
        manufacturing=Duration(10.0, 8.0, 14.0),
        release_testing=Duration(10.0, 7.0, 21.0),
        manufacturing_failure_probability=0.02,
        memory_fraction=0.5,
        target_dose_cells=1e8,
        min_dose_cells=4.4e7,
        persistence_half_life_factor=1.0,
        cytokine_release_factor=42 / 93,
        neurotoxicity_factor=30 / 65,
        crs_any_grade_reference_fraction=0.42,
        composition_controlled=True,
        sources={
            "manufacturing": "assumption: separate CD4 and CD8 cultures",
            "manufacturing_failure_probability": f"assumption: TRANSCEND 344 leukapheresed -> 269 infused, reasons not in {_CSV}",
            "cd8_fraction": f"TRANSCEND: CD8:CD4 1:1 by design ({_CSV})",
            "target_dose_cells": f"TRANSCEND DL2 100e6 (recommended) ({_CSV})",
            "min_dose_cells": "assumption: label range 44-110e6 (UNVERIFIED)",
            "persistence_half_life_factor": "assumption: 4-1BB as tisa-cel",
            "cytokine_release_factor": f"derived: TRANSCEND CRS 42% (n=269) / ZUMA-1 93% ({_CSV})",
            "neurotoxicity_factor": f"derived: TRANSCEND neurologic events 30% / ZUMA-1 65% ({_CSV})",
            "crs_any_grade_reference_fraction": f"TRANSCEND 42% ({_CSV})",
        },
    ),
    "ide-cel": _auto(
        "ide-cel",
        label="idecabtagene vicleucel (Abecma)",
        target="BCMA",
        costimulatory_domain="4-1BB",
        manufacturing=Duration(10.0, 8.0, 14.0),
        release_testing=Duration(12.0, 8.0, 25.0),
        manufacturing_failure_probability=0.01,
        memory_fraction=0.4,
        target_dose_cells=4.5e8,
        min_dose_cells=1.5e8,
        persistence_half_life_factor=0.5,
        cytokine_release_factor=84 / 93,
        neurotoxicity_factor=18 / 65,
        crs_any_grade_reference_fraction=0.84,
        sources={
            "manufacturing_failure_probability": f"assumption: KarMMa 140 apheresed -> 128 infused, reasons not in {_CSV}",
            "memory_fraction": "assumption: as cartwin.model.presets ide-cel 0.4",
            "target_dose_cells": f"KarMMa 450e6 target ({_CSV})",
            "min_dose_cells": f"KarMMa lowest dose level 150e6 ({_CSV})",
            "persistence_half_life_factor": "assumption: BCMA products persist months, not years",
            "cytokine_release_factor": f"derived: KarMMa CRS 84% (n=128) / ZUMA-1 93% ({_CSV})",
            "neurotoxicity_factor": f"derived: KarMMa neurotoxicity 18% / ZUMA-1 65% ({_CSV})",
            "crs_any_grade_reference_fraction": f"KarMMa 84% ({_CSV})",
        },
    ),
    "cilta-cel": _auto(
        "cilta-cel",
        label="ciltacabtagene autoleucel (Carvykti)",
        target="BCMA",
        costimulatory_domain="4-1BB",
        manufacturing=Duration(10.0, 8.0, 14.0),
        release_testing=Duration(14.0, 10.0, 30.0),
        manufacturing_failure_probability=0.02,
        memory_fraction=0.4,
        target_dose_cells=5.25e7,
        min_dose_cells=3.5e7,
        persistence_half_life_factor=0.5,
        cytokine_release_factor=95 / 93,
        neurotoxicity_factor=21 / 65,
        crs_any_grade_reference_fraction=0.95,
        sources={
            "manufacturing_failure_probability": f"assumption: CARTITUDE-1 113 apheresed -> 97 infused, reasons not in {_CSV}",
            "target_dose_cells": f"derived: CARTITUDE-1 0.75e6/kg x 70 kg ({_CSV})",
            "min_dose_cells": "derived: 0.5e6/kg x 70 kg (range UNVERIFIED)",
            "persistence_half_life_factor": f"assumption: CARTITUDE-1 Tlast median 126 d ({_CSV})",
            "cytokine_release_factor": f"derived: CARTITUDE-1 CRS 95% (n=97) / ZUMA-1 93% ({_CSV})",
            "neurotoxicity_factor": f"derived: CARTITUDE-1 neurotoxicity 21% / ZUMA-1 65% ({_CSV})",
            "crs_any_grade_reference_fraction": f"CARTITUDE-1 95% ({_CSV})",
        },
    ),
    "obe-cel": _auto(
        "obe-cel",
        label="obecabtagene autoleucel (Aucatzyl; fast off-rate CD19 binder)",
        costimulatory_domain="4-1BB",
        manufacturing=Duration(10.0, 8.0, 14.0),
        release_testing=Duration(12.0, 8.0, 25.0),
        manufacturing_failure_probability=0.03,
        memory_fraction=0.5,
        target_dose_cells=4.1e8,
        min_dose_cells=1e8,
        persistence_half_life_factor=1.0,
        cytokine_release_factor=0.5,
        neurotoxicity_factor=0.4,
        crs_any_grade_reference_fraction=None,
        sources={
            "manufacturing_failure_probability": f"assumption: FELIX enrolled N UNVERIFIED ({_CSV})",
            "target_dose_cells": f"FELIX 410e6 split dose ({_CSV})",
            "persistence_half_life_factor": "assumption: 4-1BB, long persistence reported in FELIX",
            "cytokine_release_factor": f"assumption: FELIX CRS grade >=3 2.4% (n=94) suggests low drive ({_CSV})",
            "neurotoxicity_factor": f"assumption: FELIX ICANS grade >=3 7.1% ({_CSV})",
        },
    ),
    "satri-cel": _auto(
        "satri-cel",
        label="satricabtagene autoleucel (CT041; claudin18.2)",
        target="CLDN18.2",
        costimulatory_domain="CD28",
        manufacturing=Duration(10.0, 8.0, 14.0),
        release_testing=Duration(12.0, 8.0, 25.0),
        manufacturing_failure_probability=0.03,
        memory_fraction=0.3,
        target_dose_cells=2.5e8,
        min_dose_cells=1e8,
        persistence_half_life_factor=0.3,
        cytokine_release_factor=0.5,
        neurotoxicity_factor=0.05,
        crs_any_grade_reference_fraction=None,
        sources={
            "manufacturing_failure_probability": "assumption: no failure rate found for CT041",
            "target_dose_cells": f"CT041 phase 1 2.5e8 per infusion ({_CSV})",
            "persistence_half_life_factor": "assumption: CAR-T in solid tumours persist weeks to months",
            "cytokine_release_factor": f"assumption: CT041 CRS mostly grade 1-2 ({_CSV})",
            "neurotoxicity_factor": f"CT041 final analysis: no ICANS in 98 patients ({_CSV})",
        },
    ),
    "allo-cd19": Product(
        key="allo-cd19",
        label="allogeneic CD19 CAR-T (ALLO-501/cema-cel-like; TRAC/CD52 knock-out)",
        product_class="allogeneic_car_t",
        target="CD19",
        costimulatory_domain="4-1BB",
        manufacturing=Duration.fixed(0.0),
        release_testing=Duration.fixed(0.0),
        manufacturing_failure_probability=0.0,
        transduction_efficiency_fraction=0.4,
        expansion_fold=1.0,
        max_seeded_t_cells=1.2e8,
        cd8_fraction=0.5,
        memory_fraction=0.3,
        viability_fraction=0.85,
        viability_spec_fraction=0.7,
        target_dose_cells=1.2e8,
        min_dose_cells=4e7,
        persistence_half_life_factor=1.0,
        host_rejection_rate_per_day=0.05,
        intensified_ld_rejection_factor=0.3,
        cytokine_release_factor=0.5,
        neurotoxicity_factor=0.3,
        gvhd_probability=0.02,
        crs_any_grade_reference_fraction=None,
        sources={
            "manufacturing": f"off-the-shelf banked lots; ALPHA/ALPHA2 enrolment-to-treatment median 2 d ({_CSV})",
            "release_testing": "lots released before enrolment",
            "manufacturing_failure_probability": "assumption: failed lots never reach a patient",
            "costimulatory_domain": "assumption (UNVERIFIED)",
            "target_dose_cells": "assumption: 120e6 CAR+ cells (as cartwin.model.presets allo-cd19)",
            "host_rejection_rate_per_day": f"assumption: as cartwin.model.presets allo-cd19 (0.05/d); ALLO-501 persistence up to 4 months ({_CSV})",
            "intensified_ld_rejection_factor": f"assumption: anti-CD52 (ALLO-647/alemtuzumab) lymphodepletion needed for expansion (UCART19, UNVERIFIED row; ALLO-501 regimen) ({_CSV})",
            "cytokine_release_factor": f"assumption: ALLO-501 CRS grade >=3 0/33 ({_CSV})",
            "neurotoxicity_factor": f"assumption: ALLO-501 ICANS grade >=3 0/33 ({_CSV})",
            "gvhd_probability": f"assumption: ALLO-501 GvHD 0/33 (95% upper bound 0.11); TRAC knock-out ({_CSV})",
            "*": "assumption",
        },
    ),
    "car-nk-cd19": Product(
        key="car-nk-cd19",
        label="cord-blood CAR-NK (iC9/CAR.19-CD28z/IL-15; Liu 2020), banked",
        product_class="car_nk",
        target="CD19",
        costimulatory_domain="CD28",
        manufacturing=Duration.fixed(0.0),
        release_testing=Duration.fixed(0.0),
        manufacturing_failure_probability=0.0,
        transduction_efficiency_fraction=0.5,
        expansion_fold=1.0,
        max_seeded_t_cells=7e7,
        cd8_fraction=0.0,
        memory_fraction=0.0,
        viability_fraction=0.85,
        viability_spec_fraction=0.7,
        target_dose_cells=7e7,
        min_dose_cells=7e6,
        persistence_half_life_factor=0.25,
        host_rejection_rate_per_day=0.02,
        intensified_ld_rejection_factor=0.5,
        cytokine_release_factor=0.05,
        neurotoxicity_factor=0.05,
        gvhd_probability=0.0,
        crs_any_grade_reference_fraction=0.0,
        sources={
            "manufacturing": "assumption: banked off-the-shelf lots (Liu 2020 manufactured fresh per patient from cord units)",
            "target_dose_cells": f"derived: 1e6/kg x 70 kg (dose levels 1e5-1e7/kg UNVERIFIED) ({_CSV})",
            "cd8_fraction": "NK cells: not T cells",
            "memory_fraction": "NK cells: no T-cell memory subsets",
            "persistence_half_life_factor": f"assumption: NK cells short-lived; IL-15 armouring gives low-level persistence >=12 months (Liu 2020, {_CSV})",
            "host_rejection_rate_per_day": "assumption: as cartwin.model.presets car-nk-cd19 (0.02/d)",
            "cytokine_release_factor": f"assumption: Liu 2020 CRS 0/11 (95% upper bound 0.28) ({_CSV})",
            "neurotoxicity_factor": f"assumption: Liu 2020 neurotoxicity 0/11 ({_CSV})",
            "gvhd_probability": f"Liu 2020 GvHD 0/11; NK cells do not mediate GvHD ({_CSV})",
            "crs_any_grade_reference_fraction": f"Liu 2020 0/11 ({_CSV})",
            "*": "assumption",
        },
    ),
}

PRODUCTS: Mapping[str, Product] = MappingProxyType(_CATALOGUE)


def get_product(key: str | Product) -> Product:
    """Look up a product by catalogue key (``ValidationError`` naming ``product`` if unknown)."""
    if isinstance(key, Product):
        return key
    if not isinstance(key, str) or key not in PRODUCTS:
        raise ValidationError("product", "one of " + ", ".join(PRODUCTS), key)
    return PRODUCTS[key]


def products_table():
    """One row per catalogue product: key, class, target, costimulation and numeric fields."""
    import pandas as pd

    rows = []
    for p in PRODUCTS.values():
        row = {
            "product": p.key,
            "label": p.label,
            "product_class": p.product_class,
            "target": p.target,
            "costimulatory_domain": p.costimulatory_domain,
            "manufacturing_median_day": p.manufacturing.median_day,
            "release_testing_median_day": p.release_testing.median_day,
        }
        for name in PRODUCT_UNITS:
            if name in ("manufacturing", "release_testing"):
                continue
            row[name] = getattr(p, name)
        row["persistence_half_life_day"] = p.persistence_half_life_day()
        rows.append(row)
    return pd.DataFrame(rows)
