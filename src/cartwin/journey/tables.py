"""Tidy tables of journeys: one row per patient (fixed columns, units in names) and a summary.

The trial layer uses ``infused`` / ``not_infused_reason`` for intention-to-treat versus infused
analyses, the product attributes (``dose_cells``, ``cd8_fraction``, ``memory_fraction``,
``viability_fraction``) and in-vivo modifiers for the in-vivo model, and
``tumour_burden_factor_at_infusion`` to scale the baseline tumour burden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cartwin.foundation.results import Provenance, parameters_digest
from cartwin.journey.config import NOT_INFUSED_REASONS, JourneyConfig
from cartwin.journey.process import PRODUCT_COLUMNS

#: Columns of the patients table, in order.
PATIENT_COLUMNS: tuple[str, ...] = (
    "patient_id", "product", "product_class", "lymphodepletion",
    "enrolled_day", "apheresis_day", "manufacturing_start_day", "manufacturing_end_day",
    "release_day", "product_at_site_day", "lymphodepletion_day", "infusion_day", "dropout_day",
    "manufacturing_queue_day", "enrolment_to_infusion_day", "vein_to_vein_day",
    "infused", "not_infused_reason", "bridging", "tumour_burden_factor_at_infusion",
    *PRODUCT_COLUMNS,
    "persistence_half_life_factor", "host_rejection_rate_per_day", "persistence_half_life_day",
    "cytokine_release_factor", "neurotoxicity_factor", "gvhd_probability",
)


def patients_table(records: Sequence[Mapping[str, Any]], config: JourneyConfig, seed: int,
                   extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Assemble the fixed-shape one-row-per-patient table, sorted by ``patient_id``."""
    df = pd.DataFrame(list(records))
    if df.empty:
        df = pd.DataFrame({c: [] for c in PATIENT_COLUMNS})
    df["enrolment_to_infusion_day"] = df["infusion_day"] - df["enrolled_day"]
    # Vein-to-vein: leukapheresis to infusion (undefined for off-the-shelf products).
    df["vein_to_vein_day"] = df["infusion_day"] - df["apheresis_day"]
    for name, value in config.product_spec.in_vivo_attributes(config.lymphodepletion).items():
        df[name] = value
    df = df[list(PATIENT_COLUMNS)].sort_values("patient_id", kind="stable").reset_index(drop=True)
    df["patient_id"] = df["patient_id"].astype("int64")
    df["infused"] = df["infused"].astype(bool)
    df["bridging"] = df["bridging"].astype(bool)
    df["not_infused_reason"] = df["not_infused_reason"].astype(object)
    params = config.to_dict()
    df.attrs["provenance"] = Provenance(
        model="cartwin.journey",
        model_version="1",
        engine="simpy",
        seed=seed,
        parameters_sha256=parameters_digest(params),
        extra={"journey": params, **dict(extra or {})},
    ).to_dict()
    return df


def _quantiles(x: pd.Series) -> dict[str, float | None]:
    x = x.dropna()
    if x.empty:
        return {"n": 0, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    q = np.quantile(x, [0.25, 0.5, 0.75])
    return {"n": int(x.size), "median": float(q[1]), "q1": float(q[0]), "q3": float(q[2]),
            "min": float(x.min()), "max": float(x.max())}


def summarise(df: pd.DataFrame, utilisation: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Vein-to-vein and enrolment-to-infusion distributions (days), infused fraction, dropouts
    by reason and (if given) utilisation per resource."""
    n = int(len(df))
    reasons = df["not_infused_reason"].dropna().value_counts()
    return {
        "n_enrolled": n,
        "n_infused": int(df["infused"].sum()),
        "infused_fraction": float(df["infused"].mean()) if n else None,
        "not_infused_by_reason": {r: int(reasons.get(r, 0)) for r in NOT_INFUSED_REASONS},
        "dropouts_while_waiting": int(df["not_infused_reason"].isin(["progression", "death", "ineligible"]).sum()),
        "vein_to_vein_day": _quantiles(df["vein_to_vein_day"]),
        "enrolment_to_infusion_day": _quantiles(df["enrolment_to_infusion_day"]),
        "manufacturing_queue_day": _quantiles(df["manufacturing_queue_day"]),
        "utilisation": dict(utilisation or {}),
    }
