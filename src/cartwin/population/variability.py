"""Inter-individual variability (IIV): log-normal model parameters with correlations.

Patient ``i``'s value of parameter ``p`` is ``θ_p,i = θ_p exp(η_p,i)``, ``η_i ~ N(0, Ω)``, where
``θ_p`` is the typical value for the product and indication (model default, then the
indication's tumour growth, then the product's overrides — the order of
:func:`cartwin.therapy.course.build_course`) and ``Ω`` has the variances ``ω²_p`` on its diagonal
and ``ρ_pq ω_p ω_q`` off it. ``Ω`` must be positive semi-definite (a
:class:`~cartwin.foundation.errors.ValidationError` names ``iiv.<key>.omega`` otherwise).
Values respect each parameter's documented bounds (``CarTPatientModel.parameter_specs()``) by
construction: each θ_p,i is drawn from the log-normal *truncated* to the bounds, through its
marginal quantile (a Gaussian copula: the correlated η are drawn as above, each standardised
``z = η/ω`` is mapped by ``Φ⁻¹(Φ(a) + Φ(z)(Φ(b) − Φ(a)))`` into ``[a, b]``, the bounds on the
log scale). Why truncation, and why by quantile: clipping (what this module did before) put a
point mass at the bound — 16 in 10⁵ patients at exactly ``k_endothelial_on_per_day = 100``;
a logit-type transform would change the shape of the whole distribution, not only its tails;
rejection would make the number of draws per patient random. The quantile map keeps the
rank correlations, is monotone in the patient's own normal draw and, where the mass outside the
bounds is below :data:`NEGLIGIBLE_TAIL`, gives the untruncated value bit for bit (most
parameters, most patients). ``clipped`` still counts, per parameter, the draws the untruncated
log-normal would have put outside the bounds. :func:`truncated_lognormal` is the one map; the
trial runner uses it again when product and calibration factors move a patient's typical value.

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
leak, so a patient's ICANS risk is not also their severe-CRS risk) and, since model v2.1, systemic
endothelial susceptibility ``k_endothelial_on_per_day`` (ω² 1.0, correlated 0.5 with the
neurovascular term: Ang-2 / vWF before lymphodepletion predict severe CRS, Hay KA et al. Blood
2017;130:2295, and m-EASIX predicts both syndromes). The neurovascular one
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
from scipy.special import ndtr, ndtri

from cartwin.foundation.errors import ValidationError
from cartwin.foundation.streams import standard_normals, uniforms
from cartwin.model.cart import CarTPatientModel
from cartwin.model.presets import get_indication, get_product

STEIN = "Stein 2019 CPT:PSP 8:285 Table 1 (nlmixr2lib)"


@dataclass(frozen=True)
class IIVTerm:
    """One parameter's log-normal variability: ``omega2`` = variance of ln(θ_i/θ)."""

    omega2: float
    source: str


class ParameterDraw(dict):
    """``{parameter: per-patient array}`` for ``simulate_course(param_overrides=...)``, plus
    ``clipped`` (draws the untruncated log-normal would have put out of bounds, per parameter),
    ``etas`` (the correlated η), ``z`` (each parameter's standardised η, tied ones included) and
    ``omega`` (each parameter's ω, the standard deviation of ln θ)."""

    clipped: dict[str, int]
    etas: np.ndarray
    z: dict[str, np.ndarray]
    omega: dict[str, float]


#: Probability outside the bounds below which truncation is immaterial: the draw is used as it is.
NEGLIGIBLE_TAIL = 1e-15


def truncated_lognormal(theta, z, omega: float, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """``θ exp(ω z*)`` with ``z*`` the standard normal ``z`` mapped onto the normal truncated to
    ``[ln(low/θ)/ω, ln(high/θ)/ω]``: a log-normal with median θ truncated to ``[low, high]``.

    Returns ``(values, outside)``: every value lies in ``[low, high]``; ``outside`` marks the
    patients whose untruncated value ``θ exp(ω z)`` would not have. ``θ`` and ``z`` broadcast
    (one typical value per patient is allowed). With ``ω = 0`` the value is θ, clipped.

    >>> v, out = truncated_lognormal(1.0, [0.0, 9.0], 1.0, 0.0, 100.0)
    >>> round(float(v[0]), 12), bool(v[1] <= 100.0), out.tolist()
    (1.0, True, [False, True])
    """
    theta, z = np.broadcast_arrays(np.asarray(theta, dtype=float), np.asarray(z, dtype=float))
    raw = theta * np.exp(omega * z)
    outside = (raw < low) | (raw > high)
    if omega <= 0.0:
        return np.clip(theta, low, high), (theta < low) | (theta > high)
    positive = theta > 0.0
    safe = np.where(positive, theta, 1.0)
    with np.errstate(divide="ignore"):
        a = (np.log(low) - np.log(safe)) / omega if low > 0.0 else np.full(z.shape, -np.inf)
        b = (np.log(high) - np.log(safe)) / omega if np.isfinite(high) else np.full(z.shape, np.inf)
    below, above = ndtr(a), ndtr(-b)
    # Work in the tail the draw is in (Φ(z) near 1 loses the digits that matter above).
    span = ndtr(-a) - above
    lower_side = ndtri(ndtr(a) + ndtr(z) * span)
    upper_side = -ndtri(above + ndtr(-z) * span)
    mapped = np.clip(np.where(z <= 0.0, lower_side, upper_side), a, b)
    zstar = np.where(below + above < NEGLIGIBLE_TAIL, z, mapped)
    values = np.where(positive, np.clip(theta * np.exp(omega * zstar), low, high), np.clip(theta, low, high))
    return values, outside


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
        out.clipped, out.z, out.omega = {}, {}, {}
        out.etas = etas
        col = {name: j for j, name in enumerate(self.names)}
        for name in (*self.names, *self.tied):
            source = self.tied.get(name, name)
            j = col[source]
            omega = math.sqrt(self.terms[source].omega2)
            z = etas[:, j] / omega if omega > 0.0 else np.zeros(len(idx))
            theta = float(typical.get(name, specs[name].value))
            spec = specs[name]
            values, outside = truncated_lognormal(theta, z, omega, spec.low, spec.high)
            out.clipped[name] = int(np.count_nonzero(outside))
            out[name] = values
            out.z[name], out.omega[name] = z, omega
        return out

    def describe(self) -> list[dict]:
        return [{"parameter": n, "omega2": t.omega2, "cv_percent": 100.0 * math.sqrt(math.exp(t.omega2) - 1.0), "source": t.source}
                for n, t in self.terms.items()]


def tumour_extinction_thresholds(seed: int, patient_ids) -> np.ndarray:
    """Each patient's ``tumour_extinction_threshold``: a standard exponential draw.

    With ``L`` the expected number of surviving tumour lineages, the chance that none survives
    is ``exp(-L)`` (independent lineages, Kendall 1948), so the tumour dies out when ``L`` falls
    below an Exp(1) threshold; it is a property of the patient's tumour, drawn once from the
    patient's own stream (the same on any number of workers)."""
    u = uniforms(seed, patient_ids, 1, "tumour")[:, 0]
    return -np.log1p(-u)  # u in [0, 1): finite


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
    "gamma_kill_per_day": IIVTerm(
        1.0, "assumption (model v2.2; was 0.25): tumours differ widely in how well CAR-T cells kill them "
             "(target-antigen density: Majzner 2020 Cancer Discov 10:702; tumour-intrinsic death-receptor "
             "resistance: Singh 2020 Cancer Discov 10:552; both recalled); chosen with ZUMA-1 and JULIET ORR "
             "and 12-month PFS in view (0.25 gave ORR above and PFS below the published values)"),
    "r_tumour_per_day": IIVTerm(0.5, "assumption: Kimmel 2021 r_B range 0.01-0.5/day"),
    "p_il6_myeloid_pg_per_ml_day": IIVTerm(1.0, "assumption: peak IL-6 spans > 2 orders of magnitude"),
    "k_neurovascular_on_per_day": IIVTerm(
        2.0, "assumption: pre-treatment endothelial activation (Ang-2/Ang-1, Gust 2017; m-EASIX, Pennisi 2021) "
             "predicts severe ICANS and spans > 1 order of magnitude between patients"),
    "k_endothelial_on_per_day": IIVTerm(
        1.0, "assumption (model v2.1): pre-treatment endothelial activation (Ang-2, vWF: Hay 2017 Blood 130:2295; "
             "m-EASIX: Pennisi 2021) also predicts severe CRS; correlated 0.5 with the neurovascular term"),
}

#: IIV models by key. ``none`` gives every patient the typical values.
IIV_MODELS: Mapping[str, IIVModel] = MappingProxyType({
    "stein2019": IIVModel(
        "stein2019", _STEIN_TERMS,
        correlations={("k_prolif_per_day", "p_il6_myeloid_pg_per_ml_day"): 0.3,
                      ("k_neurovascular_on_per_day", "k_endothelial_on_per_day"): 0.5},
        tied={"r_tumour_neg_per_day": "r_tumour_per_day"},
        description="kinetic omegas from Stein 2019 (tisa-cel, B-ALL); tumour and cytokine terms assumed",
    ),
    "none": IIVModel("none", {}, description="no inter-individual variability"),
})


def get_iiv_model(key: str) -> IIVModel:
    if key not in IIV_MODELS:
        raise ValidationError("iiv", "one of " + ", ".join(IIV_MODELS), key)
    return IIV_MODELS[key]
