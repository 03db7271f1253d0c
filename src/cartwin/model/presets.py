"""Products and indications as parameter sets for :class:`~cartwin.model.cart.CarTPatientModel`.

A :class:`Indication` says what the disease is (target antigen, typical tumour burden, growth,
how burden is measured). A :class:`ProductKinetics` says how an infused product behaves in
the body (dose, phenotype mix, parameter changes from the calibrated axi-cel/LBCL reference).
``basis`` records where each difference comes from; "assumption" marks values that await
calibration against that product's pivotal trial (issue: virtual trials & calibration).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cartwin.foundation.errors import ValidationError


@dataclass(frozen=True)
class Indication:
    key: str
    label: str
    antigen: str
    disease_measure: str  # marrow_blasts_pct | spd_cm2 | m_protein_g_per_dl
    tumour_baseline_cells: float
    r_tumour_per_day: float
    normal_target_baseline_per_ul: float
    m_protein_baseline_g_per_dl: float = 0.0
    antigen_negative_fraction: float = 0.0
    basis: str = ""
    overrides: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductKinetics:
    key: str
    label: str
    antigen: str
    product_class: str  # autologous_car_t | allogeneic_car_t | car_nk
    dose_cells: float
    dose_per_kg: bool
    max_dose_cells: float | None
    memory_fraction: float
    overrides: Mapping[str, float] = field(default_factory=dict)
    lymphodepletion: tuple[float, float] = (30.0, 500.0)  # fludarabine, cyclophosphamide mg/m2/day
    indications: tuple[str, ...] = ()
    basis: str = ""

    def dose_for(self, weight_kg: float, dose_cells: float | None = None, per_kg: bool | None = None) -> float:
        value = self.dose_cells if dose_cells is None else dose_cells
        scale = self.dose_per_kg if per_kg is None else per_kg
        cells = value * weight_kg if scale else value
        if self.max_dose_cells is not None and (dose_cells is None):
            cells = min(cells, self.max_dose_cells)
        return cells


INDICATIONS: Mapping[str, Indication] = MappingProxyType(
    {
        "lbcl": Indication(
            "lbcl", "large B-cell lymphoma", "CD19", "spd_cm2", 9.486e10, 0.02, 150.0,
            # Division rate: the model default, Erlanson 1995 high-grade NHL Tpot 4.8 d.
            basis="tumour: Kimmel 2021 median initial tumour 94.86 mL x 1e9 cells/mL; growth: Kimmel r_B range (assumption within it)",
        ),
        "fl": Indication(
            "fl", "follicular lymphoma", "CD19", "spd_cm2", 5e10, 0.005, 150.0,
            # Erlanson 1995 Hematol Oncol 13(4): low-grade NHL mean Tpot 10.4 d.
            overrides={"tumour_division_rate_per_day": math.log(2.0) / 10.4},
            basis="assumption: indolent growth (doubling ~ months)",
        ),
        "mcl": Indication(
            "mcl", "mantle cell lymphoma", "CD19", "spd_cm2", 8e10, 0.02, 150.0,
            # Erlanson 1995: mean Tpot of all NHL 7.0 d (MCL lies between low and high grade).
            overrides={"tumour_division_rate_per_day": math.log(2.0) / 7.0},
            basis="assumption: as LBCL",
        ),
        "all": Indication(
            "all", "B-cell acute lymphoblastic leukaemia", "CD19", "marrow_blasts_pct", 2e11, 0.05, 150.0,
            antigen_negative_fraction=0.0,
            # Assumption: as high-grade lymphoma (in vivo labelling of acute leukaemia blasts gives
            # potential doubling times of a few days, recalled).
            overrides={"tumour_division_rate_per_day": 0.144},
            basis="tumour: ELIANA median marrow blasts 74% of ~1e12 marrow cells (assumption); growth: assumption",
        ),
        "gastric": Indication(
            "gastric", "claudin18.2-positive gastric/gastro-oesophageal cancer", "CLDN18.2", "sld_cm", 5e10, 0.01, 1.0,
            antigen_negative_fraction=0.1,
            overrides={"tumour_infiltration_fraction": 0.1, "tme_suppression": 1.0,
                       "igg_target_independent_fraction": 1.0,
                       # assumption: carcinoma potential doubling times of ~1 week
                       "tumour_division_rate_per_day": 0.1},
            basis="assumptions: ~50 mL of tumour; 10% CLDN18.2-negative cells (heterogeneous expression); "
                  "infiltration and suppression after Leon-Triana 2021; normal target = gastric mucosa "
                  "(arbitrary blood-equivalent units); IgG not affected",
        ),
        "mm": Indication(
            "mm", "multiple myeloma", "BCMA", "m_protein_g_per_dl", 5e10, 0.01, 10.0, 3.0,
            # Myeloma plasma cells divide slowly: labelling index ~1 % with an S phase of ~10 h
            # gives Tpot ~ 35 d (Greipp 1993 Blood 81:3382, recalled), ln2/35.
            overrides={"tumour_division_rate_per_day": 0.02},
            basis="assumption: plasma-cell burden; M-protein 3 g/dL; normal plasma cells ~10/uL blood-equivalent",
        ),
    }
)

PRODUCTS: Mapping[str, ProductKinetics] = MappingProxyType(
    {
        "axi-cel": ProductKinetics(
            "axi-cel", "axicabtagene ciloleucel (CD28)", "CD19", "autologous_car_t", 2e6, True, 2e8, 0.3,
            indications=("lbcl", "fl"), basis="reference product: model calibrated to its ZUMA-1 kinetics (Kimmel 2021)",
        ),
        "tisa-cel": ProductKinetics(
            "tisa-cel", "tisagenlecleucel (4-1BB)", "CD19", "autologous_car_t", 1e8, False, None, 0.5,
            overrides={"k_prolif_per_day": math.log(2.0) / 0.78, "d_memory_per_day": 0.0032, "homeostatic_scale": 0.65},
            lymphodepletion=(25.0, 250.0), indications=("all", "lbcl", "fl"),
            basis="expansion: population doubling time 0.78 d (Stein 2019 CPT PSP 8:285, ELIANA/ENSIGN; was an assumption of "
                  "0.45/day, i.e. slower than the CD28 product, which Stein's doubling time contradicts); persistence: "
                  "4-1BB products persist longer than CD28 (Cappell & Kochenderfer 2023 Nat Rev Clin Oncol); JULIET LD regimen",
        ),
        "liso-cel": ProductKinetics(
            "liso-cel", "lisocabtagene maraleucel (4-1BB, CD4:CD8 1:1)", "CD19", "autologous_car_t", 1e8, False, None, 0.5,
            overrides={"k_prolif_per_day": math.log(2.0) / 0.755}, lymphodepletion=(30.0, 300.0), indications=("lbcl",),
            basis="expansion: doubling time 0.755 d (liso-cel population CK model, Clin Pharmacokinet 2021, "
                  "doi 10.1007/s40262-021-01039-5; was an assumption of 0.5/day); TRANSCEND dose 100e6 and LD Flu30/Cy300",
        ),
        "brexu-cel": ProductKinetics(
            "brexu-cel", "brexucabtagene autoleucel (CD28)", "CD19", "autologous_car_t", 2e6, True, 2e8, 0.3,
            indications=("mcl", "all"), basis="as axi-cel (same construct); ZUMA-2 dose 2e6/kg",
        ),
        "ide-cel": ProductKinetics(
            "ide-cel", "idecabtagene vicleucel (4-1BB)", "BCMA", "autologous_car_t", 4.5e8, False, None, 0.4,
            lymphodepletion=(30.0, 300.0), indications=("mm",), basis="KarMMa dose 450e6 and LD Flu30/Cy300",
        ),
        "cilta-cel": ProductKinetics(
            "cilta-cel", "ciltacabtagene autoleucel (4-1BB, bi-epitopic)", "BCMA", "autologous_car_t", 0.75e6, True, 1e8, 0.4,
            lymphodepletion=(30.0, 300.0), indications=("mm",),
            basis="CARTITUDE-1 dose 0.75e6/kg; expansion as the reference (no published doubling time; the v1 value "
                  "0.65/day was an assumption below the reference, against its high Cmax of 48,692 copies/ug)",
        ),
        "satri-cel": ProductKinetics(
            "satri-cel", "satricabtagene autoleucel (CT041, claudin18.2)", "CLDN18.2", "autologous_car_t", 2.5e8, False, None, 0.3,
            lymphodepletion=(25.0, 250.0), indications=("gastric",),
            basis="CT041 dose 2.5e8 per infusion and LD Flu25/Cy250 (pivotal_trials.csv); one infusion simulated of up to three",
        ),
        "allo-cd19": ProductKinetics(
            "allo-cd19", "allogeneic CD19 CAR-T (ALLO-501-like)", "CD19", "allogeneic_car_t", 1.2e8, False, None, 0.3,
            overrides={"k_rejection_per_day": 0.05}, indications=("lbcl",),
            basis="host rejection rate: assumption giving persistence of weeks to ~4 months (ALLO-501, pivotal_trials.csv)",
        ),
        "car-nk-cd19": ProductKinetics(
            "car-nk-cd19", "cord-blood CAR-NK (CD19, IL-15; Liu 2020)", "CD19", "car_nk", 1e6, True, None, 0.0,
            overrides={"k_rejection_per_day": 0.02, "p_ifng_pg_per_ml_per_cell_ul_day": 5.0, "damage_weight": 0.2},
            indications=("lbcl", "fl"),
            basis="Liu 2020 NEJM 382:545: no CRS/ICANS in 11 patients; low-level persistence ~12 months (assumption on rates)",
        ),
    }
)


def get_product(key: str) -> ProductKinetics:
    if key not in PRODUCTS:
        raise ValidationError("product", "one of " + ", ".join(PRODUCTS), key)
    return PRODUCTS[key]


def get_indication(key: str) -> Indication:
    if key not in INDICATIONS:
        raise ValidationError("indication", "one of " + ", ".join(INDICATIONS), key)
    return INDICATIONS[key]
