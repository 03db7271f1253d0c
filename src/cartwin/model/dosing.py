"""Doses of the composite model: lymphodepletion, CAR-T infusion, tocilizumab, dexamethasone.

Turns clinical regimens (mg/m², mg/kg, cells/kg) into boluses on
:class:`~cartwin.model.cart.CarTPatientModel` states. Amounts are per patient arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.units import BODY_LYMPHOID_VOLUME_UL
from cartwin.model.base import DoseSpec

#: Fludarabine phosphate -> F-ara-A mass: molar masses 365.2 and 285.2 g/mol.
FLUDARABINE_TO_FARAA = 285.2 / 365.2


@dataclass(frozen=True)
class Lymphodepletion:
    """Fludarabine/cyclophosphamide regimen (mg/m² per day on the given days)."""

    fludarabine_mg_per_m2: float = 30.0
    cyclophosphamide_mg_per_m2: float = 500.0
    days: tuple[float, ...] = (-5.0, -4.0, -3.0)

    def __post_init__(self) -> None:
        check("lymphodepletion.fludarabine_mg_per_m2", self.fludarabine_mg_per_m2, Interval(0.0, 100.0))
        check("lymphodepletion.cyclophosphamide_mg_per_m2", self.cyclophosphamide_mg_per_m2, Interval(0.0, 3000.0))
        for i, d in enumerate(self.days):
            check(f"lymphodepletion.days[{i}]", d, Interval(-60.0, 0.0))

    def doses(self, bsa_m2) -> list[DoseSpec]:
        bsa = np.asarray(bsa_m2, dtype=float)
        out = []
        for d in self.days:
            if self.fludarabine_mg_per_m2 > 0:
                out.append(DoseSpec(d, "flu_central", self.fludarabine_mg_per_m2 * bsa * FLUDARABINE_TO_FARAA, "fludarabine"))
            if self.cyclophosphamide_mg_per_m2 > 0:
                out.append(DoseSpec(d, "cyclophosphamide", self.cyclophosphamide_mg_per_m2 * bsa, "cyclophosphamide"))
        return out


NO_LYMPHODEPLETION = Lymphodepletion(0.0, 0.0, ())


def infusion_doses(dose_cells, memory_fraction, day: float = 0.0) -> list[DoseSpec]:
    """CAR-T infusion split into effector and memory phenotypes (cells -> cells/µL blood).

    The whole-body-to-blood bridge is Kimmel 2021's 5e8 µL (1.8e8 cells -> 0.36 cells/µL).
    """
    cells = np.asarray(dose_cells, dtype=float) / BODY_LYMPHOID_VOLUME_UL
    mem = np.asarray(memory_fraction, dtype=float)
    return [
        DoseSpec(day, "car_effector", cells * (1.0 - mem), "car_t_infusion"),
        DoseSpec(day, "car_memory", cells * mem, "car_t_infusion"),
    ]


def tocilizumab_dose(weight_kg, day: float, mg_per_kg: float = 8.0, max_mg: float = 800.0) -> DoseSpec:
    """Tocilizumab 8 mg/kg IV (max 800 mg), the labelled CRS dose (ACTEMRA USPI 2017)."""
    amount = np.minimum(mg_per_kg * np.asarray(weight_kg, dtype=float), max_mg)
    return DoseSpec(day, "toci_central", amount, "tocilizumab")


def dexamethasone_dose(mg, day: float) -> DoseSpec:
    """Dexamethasone IV bolus (e.g. 10 mg q6h for ICANS grade >= 2; Neelapu 2018 Nat Rev Clin Oncol)."""
    return DoseSpec(day, "dex_central", np.asarray(mg, dtype=float), "dexamethasone")
