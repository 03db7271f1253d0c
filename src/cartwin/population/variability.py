"""Inter-individual variability (IIV): log-normal model parameters with correlations.

Patient ``i``'s value of parameter ``p`` is ``θ_p,i = θ_p exp(η_p,i)``, ``η_i ~ N(0, Ω)``, where
``θ_p`` is the typical value for the product and indication (model default, then the
indication's tumour growth, then the product's overrides — the order of
:func:`cartwin.therapy.course.build_course`) and ``Ω`` has the variances ``ω²_p`` on its diagonal
and ``ρ_pq ω_p ω_q`` off it. ``Ω`` must be positive semi-definite (a
:class:`~cartwin.foundation.errors.ValidationError` names ``iiv.<key>.omega`` otherwise).
Values are clipped into each parameter's documented bounds
(``CarTPatientModel.parameter_specs()``); the number clipped is reported per parameter.

η for patient ``k`` comes from the patient's own stream (purpose ``"variability"``), so it does
not depend on how many patients are drawn or how they are sharded.

Stein 2019 mapping (Stein AM et al. CPT Pharmacometrics Syst Pharmacol 2019;8:285, Table 1 via
nlmixr2lib; ``../shared/reference/published_models.yaml``; tisa-cel, paediatric B-ALL):

* ``d_effector_per_day`` ← α (initial decline), ω² = 0.91;
* ``d_memory_per_day`` ← β (terminal decline), ω² = 0.86;
* ``k_effector_to_memory_per_day`` ← F_B (memory fraction), ω² = 0.80 (approximate mapping);
* ``k_prolif_per_day`` ← ρ = ln(foldx)/T_max: by the delta method with ω²_foldx = 2.4 and
  ω²_Tmax = 0.38, Var(ln ρ) ≈ 2.4/ln(3900)² + 0.38 = 0.415 (derived, assumes independence).

Everything else is an *assumption*, stated in :data:`IIV_MODELS`: tumour kill (ω² 0.25) and
growth (ω² 0.5, the Kimmel 2021 range 0.01-0.5/day spans ~4 log-SDs), IL-6 production
(ω² 1.0: peak IL-6 spans >2 orders of magnitude between patients), memory activation
(ω² 0.25) and neurovascular susceptibility ``k_neurovascular_on_per_day`` (ω² 2.0; model v2: on
the neurovascular unit that drives ICANS, not on the systemic endothelium behind CRS's capillary
leak, so a patient's ICANS risk is not also their severe-CRS risk). The last one
carries why some patients reach severe ICANS and others with the same CRS none: endothelial
activation *before* lymphodepletion — serum Ang-2/Ang-1 ratio (Gust J et al. Cancer Discov
2017;7:1404) and the modified EASIX score LDH x CRP / platelets (Pennisi M et al. Blood Adv
2021;5:3397) — predicts severe neurotoxicity, and both span more than an order of magnitude
between patients; ω² = 2.0 (a 95 % range of about 250-fold) is an assumption set so that one
typical value can carry both the any-grade and the grade >= 3 ICANS rate of a trial
(docs/validation.md). Correlation 0.3 between proliferation and IL-6 production (expansion associates
with CRS severity: pivotal_trials.csv JULIET exposure-response; ELIANA Cmax rises with CRS).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from cartwin.foundation.errors import ValidationError
from cartwin.foundation.streams import standard_normals
from cartwin.model.cart import CarTPatientModel
from cartwin.model.presets import get_indication, get_product

STEIN = "Stein 2019 CPT:PSP 8:285 Table 1 (nlmixr2lib)"


@dataclass(frozen=True)
class IIVTerm:
    """One parameter's log-normal variability: ``omega2`` = variance of ln(θ_i/θ)."""

    omega2: float
    source: str


class ParameterDraw(dict):
    """``{parameter: per-patient array}`` for ``simulate_course(param_overrides=...)``, plus ``clipped`` counts."""

    clipped: dict[str, int]
    etas: np.ndarray


@dataclass(frozen=True)
class IIVModel:
    """Log-normal IIV with correlations on named :class:`~cartwin.model.cart.CarTPatientModel` parameters."""

    key: str
    terms: Mapping[str, IIVTerm]
    correlations: Mapping[tuple[str, str], float] = field(default_factory=dict)
    tied: Mapping[str, str] = field(default_factory=dict)  # parameter -> parameter whose η it shares
    description: str = ""

    def __post_init__(self) -> None:
        specs = CarTPatientModel.parameter_specs()
        for name, term in self.terms.items():
            if name not in specs:
                raise ValidationError(f"iiv.{self.key}.terms.{name}", "a CarTPatientModel parameter name", name)
            if not (isinstance(term.omega2, (int, float)) and math.isfinite(term.omega2) and 0.0 <= term.omega2 <= 10.0):
                raise ValidationError(f"iiv.{self.key}.terms.{name}.omega2", "a variance in [0, 10]", term.omega2)
        for name, target in self.tied.items():
            if name not in specs or target not in self.terms:
                raise ValidationError(f"iiv.{self.key}.tied.{name}", "a parameter tied to one with a term", target)
        self.omega()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.terms)

    def omega(self) -> np.ndarray:
        """Ω in :attr:`names` order; raises if a correlation is out of range or Ω is not PSD."""
        names = self.names
        idx = {n: i for i, n in enumerate(names)}
        sd = np.sqrt([self.terms[n].omega2 for n in names])
        corr = np.eye(len(names))
        for (a, b), rho in self.correlations.items():
            where = f"iiv.{self.key}.correlations[{a}, {b}]"
            if a not in idx or b not in idx or a == b:
                raise ValidationError(where, "two different parameters with IIV terms: " + ", ".join(names), (a, b))
            if not (isinstance(rho, (int, float)) and -1.0 <= rho <= 1.0):
                raise ValidationError(where, "a correlation in [-1, 1]", rho)
            corr[idx[a], idx[b]] = corr[idx[b], idx[a]] = rho
        om = corr * np.outer(sd, sd)
        if om.size and np.linalg.eigvalsh(om).min() < -1e-10 * max(1.0, float(np.max(np.abs(om)))):
            raise ValidationError(f"iiv.{self.key}.omega", "a positive semi-definite covariance matrix",
                                  f"smallest eigenvalue {np.linalg.eigvalsh(om).min():.3g}")
        return om

    def _factor(self) -> np.ndarray:
        w, v = np.linalg.eigh(self.omega())
        return v * np.sqrt(np.clip(w, 0.0, None))

    def sample(self, n: int, seed: int, typical: Mapping[str, float] | None = None, start: int = 0) -> ParameterDraw:
        """Per-patient values of every parameter with a term (and tied ones) for patients ``start..start+n-1``.

        ``typical`` gives θ per parameter (default: the model's default values; see
        :func:`typical_values` for a product and indication).
        """
        specs = CarTPatientModel.parameter_specs()
        typical = dict(typical or {})
        idx = np.arange(int(start), int(start) + int(n))
        eps = standard_normals(seed, idx, len(self.names), "variability")
        etas = eps @ self._factor().T if self.names else np.zeros((len(idx), 0))
        out = ParameterDraw()
        out.clipped = {}
        out.etas = etas
        col = {name: j for j, name in enumerate(self.names)}
        for name in (*self.names, *self.tied):
            j = col[self.tied.get(name, name)]
            theta = float(typical.get(name, specs[name].value))
            raw = theta * np.exp(etas[:, j])
            spec = specs[name]
            clipped = np.clip(raw, spec.low, spec.high)
            out.clipped[name] = int(np.count_nonzero(clipped != raw))
            out[name] = clipped
        return out

    def describe(self) -> list[dict]:
        return [{"parameter": n, "omega2": t.omega2, "cv_percent": 100.0 * math.sqrt(math.exp(t.omega2) - 1.0), "source": t.source}
                for n, t in self.terms.items()]


def typical_values(product: str, indication: str) -> dict[str, float]:
    """Typical (median) parameter values for a product and indication, as ``build_course`` sets them."""
    specs = CarTPatientModel.parameter_specs()
    values = {name: p.value for name, p in specs.items()}
    ind = get_indication(indication)
    values["r_tumour_per_day"] = ind.r_tumour_per_day
    values["r_tumour_neg_per_day"] = ind.r_tumour_per_day
    values.update(get_product(product).overrides)
    return values


_STEIN_TERMS = {
    "k_prolif_per_day": IIVTerm(0.415, f"derived from {STEIN}: omega2 foldx 2.4, Tmax 0.38 (delta method)"),
    "d_effector_per_day": IIVTerm(0.91, f"{STEIN}: omega2 alpha"),
    "d_memory_per_day": IIVTerm(0.86, f"{STEIN}: omega2 beta"),
    "k_effector_to_memory_per_day": IIVTerm(0.80, f"{STEIN}: omega2 FB (approximate mapping)"),
    "k_memory_activation_per_day": IIVTerm(0.25, "assumption"),
    "gamma_kill_per_day": IIVTerm(0.25, "assumption"),
    "r_tumour_per_day": IIVTerm(0.5, "assumption: Kimmel 2021 r_B range 0.01-0.5/day"),
    "p_il6_myeloid_pg_per_ml_day": IIVTerm(1.0, "assumption: peak IL-6 spans > 2 orders of magnitude"),
    "k_neurovascular_on_per_day": IIVTerm(
        2.0, "assumption: pre-treatment endothelial activation (Ang-2/Ang-1, Gust 2017; m-EASIX, Pennisi 2021) "
             "predicts severe ICANS and spans > 1 order of magnitude between patients"),
}

#: IIV models by key. ``none`` gives every patient the typical values.
IIV_MODELS: Mapping[str, IIVModel] = MappingProxyType({
    "stein2019": IIVModel(
        "stein2019", _STEIN_TERMS,
        correlations={("k_prolif_per_day", "p_il6_myeloid_pg_per_ml_day"): 0.3},
        tied={"r_tumour_neg_per_day": "r_tumour_per_day"},
        description="kinetic omegas from Stein 2019 (tisa-cel, B-ALL); tumour and cytokine terms assumed",
    ),
    "none": IIVModel("none", {}, description="no inter-individual variability"),
})


def get_iiv_model(key: str) -> IIVModel:
    if key not in IIV_MODELS:
        raise ValidationError("iiv", "one of " + ", ".join(IIV_MODELS), key)
    return IIV_MODELS[key]
