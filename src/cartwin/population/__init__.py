"""Population: covariates, inter-individual variability and seeded per-patient streams.

Owns who the virtual patients are: baseline covariates from each trial's published baseline
characteristics (Gaussian copula), log-normal inter-individual variability on model parameters,
and the per-patient random streams that make any sharding of a run reproducible; and fitted
populations (:mod:`cartwin.population.fitted`: the estimates of ``cartwin fit --population`` as
virtual patients).
May import foundation, model, clinic.response and therapy (for the Covariates value object).

Example
-------
>>> from cartwin.population import VirtualPopulation
>>> pop = VirtualPopulation("zuma-1", "stein2019", product="axi-cel", indication="lbcl")
>>> draw = pop.sample(5, seed=1)
>>> len(draw.table), sorted(draw.overrides)[:2]
(5, ['d_effector_per_day', 'd_memory_per_day'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartwin.foundation.streams import patient_rng, patient_seed_sequence, patient_streams
from cartwin.population.covariates import COVARIATE_MODELS, CovariateModel, get_covariate_model
from cartwin.population.fitted import FittedPopulation, load_population
from cartwin.population.laboratory import baseline_igg_g_per_l
from cartwin.population.variability import IIV_MODELS, IIVModel, get_iiv_model, typical_values


@dataclass(frozen=True)
class PopulationDraw:
    """One sample of virtual patients.

    ``table``: one row per patient (covariates, then ``param_<name>`` for each varied
    parameter); ``overrides``: ``{parameter: per-patient array}`` for
    ``simulate_course(param_overrides=...)`` (includes ``m_protein_baseline_g_per_dl`` for
    myeloma); ``clipped``: draws the untruncated log-normal would have put outside the
    parameter's bounds (the values are truncated, :mod:`cartwin.population.variability`);
    ``z`` and ``omega``: each varied parameter's standardised η and ω, so that a caller that
    moves a patient's typical value (a product factor) can draw it again inside the bounds
    (:func:`cartwin.population.variability.truncated_lognormal`).
    """

    table: pd.DataFrame
    overrides: dict[str, np.ndarray]
    clipped: dict[str, int]
    z: dict[str, np.ndarray] = field(default_factory=dict)
    omega: dict[str, float] = field(default_factory=dict)

    def covariates(self):
        """The :class:`cartwin.therapy.Covariates` of these patients."""
        from cartwin.therapy import Covariates

        t = self.table
        return Covariates(
            weight_kg=t["weight_kg"].to_numpy(), height_cm=t["height_cm"].to_numpy(),
            tumour_baseline_cells=t["tumour_baseline_cells"].to_numpy(),
            antigen_negative_fraction=t["antigen_negative_fraction"].to_numpy(),
        )


@dataclass(frozen=True)
class VirtualPopulation:
    """Covariate model + IIV model for one product and indication: ``sample(n, seed)``.

    ``product``/``indication`` set the typical parameter values the IIV scatters around; they
    may be ``None`` (model defaults), e.g. for the solid-tumour placeholder.
    """

    covariate_model: str | CovariateModel
    iiv_model: str | IIVModel = "stein2019"
    product: str | None = None
    indication: str | None = None

    def _models(self) -> tuple[CovariateModel, IIVModel]:
        cov = self.covariate_model if isinstance(self.covariate_model, CovariateModel) else get_covariate_model(self.covariate_model)
        iiv = self.iiv_model if isinstance(self.iiv_model, IIVModel) else get_iiv_model(self.iiv_model)
        return cov, iiv

    def sample(self, n: int, seed: int, start: int = 0) -> PopulationDraw:
        cov, iiv = self._models()
        table = cov.sample(n, seed, start=start)
        typical: dict[str, Any] | None = None
        if self.product is not None and self.indication is not None:
            typical = typical_values(self.product, self.indication)
        draw = iiv.sample(n, seed, typical=typical, start=start)
        overrides = {k: np.asarray(v) for k, v in draw.items()}
        # Baseline IgG from its own stream (population.laboratory): no other draw changes.
        table["igg_baseline_g_per_l"] = overrides["igg_baseline_g_per_l"] = baseline_igg_g_per_l(n, seed, start=start)
        if cov.measure == "m_protein_g_per_dl":
            overrides["m_protein_baseline_g_per_dl"] = table["m_protein_g_per_dl"].to_numpy()
        for name, values in draw.items():
            table[f"param_{name}"] = values
        table.attrs.update({"covariate_model": cov.key, "iiv_model": iiv.key, "seed": int(seed)})
        return PopulationDraw(table, overrides, dict(draw.clipped), dict(draw.z), dict(draw.omega))


__all__ = [
    "COVARIATE_MODELS",
    "IIV_MODELS",
    "CovariateModel",
    "FittedPopulation",
    "IIVModel",
    "PopulationDraw",
    "VirtualPopulation",
    "get_covariate_model",
    "get_iiv_model",
    "load_population",
    "patient_rng",
    "patient_seed_sequence",
    "patient_streams",
    "typical_values",
]
