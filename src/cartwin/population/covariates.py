"""Baseline covariates of a trial population: marginals from published baseline tables, a Gaussian copula.

Joint distribution
------------------
Each covariate ``j`` has a marginal distribution given by its quantile function ``F_j⁻¹``. A
patient's latent vector ``z ~ N(0, R)`` (``R`` = the stated correlation matrix) is drawn from the
patient's own stream (:mod:`cartwin.foundation.streams`, purpose ``"covariates"``) and mapped to
``x_j = F_j⁻¹(Φ(z_j))``: a Gaussian copula. Marginals are exact whatever ``R`` is; ``R`` sets
the rank correlations (Spearman ρ_s = (6/π) asin(R/2)). ``R`` must be positive semi-definite;
a :class:`~cartwin.foundation.errors.ValidationError` names the model and the matrix otherwise.

Marginals
---------
* :class:`SplitNormal` for a published *median (range)*: ``x = m + s₋ z`` below the median and
  ``m + s₊ z`` above, with ``s₋ = (m - low)/c``, ``s₊ = (high - m)/c`` and
  ``c = Φ⁻¹(n/(n+1))`` the expected extreme normal score of ``n`` patients, clipped to the
  range. The median is exact; the range is that of a typical sample of the trial's size. With
  ``log=True`` the same is done on log(x) (laboratory values, burdens).
* :class:`Categorical` for published proportions (sex, ECOG), :class:`ZeroInflated` for
  antigen-negative tumour fractions (most patients none).

Each marginal carries a ``source``: a citation, "pivotal_trials.csv: <trial>, <endpoint>" for
values in ``../shared/reference/pivotal_trials.csv``, "recalled (UNVERIFIED)" for published
values not checked against a source in this project, or "assumption: <why>". Correlations are
all assumptions, stated in :data:`DEFAULT_CORRELATIONS`.

Tumour burden in cells is derived from the indication's own measure, inverting
:mod:`cartwin.clinic.response`: B-ALL marrow blasts ``f`` → ``T = f/(1-f) × 7×10¹⁰`` normal marrow
cells; lymphoma SPD → sphere of diameter ``√SPD`` at 10⁹ cells/mL; myeloma M-protein →
``T = T_ref × Mp/Mp_ref`` (the indication's reference burden and M-protein); solid tumours:
RECIST sum of longest diameters as one sphere (placeholder).

Example
-------
>>> from cartwin.population.covariates import COVARIATE_MODELS
>>> df = COVARIATE_MODELS["zuma-1"].sample(200, seed=1)
>>> bool(50 < df["age_years"].median() < 66)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import stats

from cartwin.clinic.response import NORMAL_MARROW_CELLS
from cartwin.foundation.errors import ValidationError
from cartwin.foundation.streams import standard_normals
from cartwin.foundation.units import TUMOUR_CELLS_PER_ML
from cartwin.model.presets import INDICATIONS

CSV = "pivotal_trials.csv"


# ---- marginals --------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitNormal:
    """Median (range) as published: exact median, range of a typical sample of ``n`` patients."""

    median: float
    low: float
    high: float
    n: int = 100
    log: bool = False
    integer: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if not (self.low <= self.median <= self.high) or (self.log and self.low <= 0):
            raise ValidationError("marginal", "low <= median <= high (low > 0 when log)", (self.low, self.median, self.high))

    def ppf_normal(self, z: np.ndarray) -> np.ndarray:
        c = float(stats.norm.ppf(self.n / (self.n + 1.0)))
        f = np.log if self.log else (lambda v: v)
        m, lo, hi = f(self.median), f(self.low), f(self.high)
        x = np.where(z < 0, m + (m - lo) / c * z, m + (hi - m) / c * z)
        x = np.clip(x, lo, hi)
        x = np.exp(x) if self.log else x
        return np.round(x) if self.integer else x

    def describe(self) -> str:
        kind = "log-split-normal" if self.log else "split-normal"
        return f"{kind}, median {self.median:g} (range {self.low:g}-{self.high:g}, n={self.n})"


@dataclass(frozen=True)
class Categorical:
    """Values with probabilities (in order of the latent normal: lowest z → first value)."""

    values: tuple[float, ...]
    probabilities: tuple[float, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.values) != len(self.probabilities) or abs(sum(self.probabilities) - 1.0) > 1e-9:
            raise ValidationError("marginal.probabilities", "one probability per value, summing to 1", self.probabilities)

    def ppf_normal(self, z: np.ndarray) -> np.ndarray:
        u = stats.norm.cdf(z)
        edges = np.cumsum(self.probabilities)[:-1]
        return np.asarray(self.values, dtype=float)[np.searchsorted(edges, u, side="right")]

    def describe(self) -> str:
        return ", ".join(f"{v:g}: {p:.0%}" for v, p in zip(self.values, self.probabilities, strict=True))


@dataclass(frozen=True)
class ZeroInflated:
    """0 with probability ``1 - p``, else log-uniform in [low, high] (highest z → largest values)."""

    p: float
    low: float
    high: float
    source: str = ""

    def ppf_normal(self, z: np.ndarray) -> np.ndarray:
        u = stats.norm.cdf(z)
        w = np.clip((u - (1.0 - self.p)) / max(self.p, 1e-300), 0.0, 1.0)
        x = np.exp(np.log(self.low) + w * (np.log(self.high) - np.log(self.low)))
        return np.where(u > 1.0 - self.p, x, 0.0)

    def describe(self) -> str:
        return f"0 in {1 - self.p:.0%}, else log-uniform {self.low:g}-{self.high:g}"


Marginal = SplitNormal | Categorical | ZeroInflated

#: Columns every covariate model produces (besides its burden measure), in order, with units in names.
COLUMNS = ("age_years", "sex_male", "ecog", "weight_kg", "height_cm", "ldh_u_per_l", "prior_lines",
           "alc_per_ul", "crp_mg_per_l", "ferritin_ng_per_ml", "antigen_negative_fraction")
MEASURES = ("marrow_blasts_pct", "spd_cm2", "m_protein_g_per_dl", "sld_cm")

#: Stated rank-generating correlations of the latent normals (assumptions, see docs/population.md).
DEFAULT_CORRELATIONS: Mapping[tuple[str, str], float] = MappingProxyType({
    ("weight_kg", "height_cm"): 0.5,     # assumption: adult weight-height correlation ~0.4-0.5
    ("sex_male", "height_cm"): 0.6,      # assumption: men taller (latent-scale)
    ("sex_male", "weight_kg"): 0.3,      # assumption
    ("burden", "ldh_u_per_l"): 0.5,      # assumption: LDH tracks tumour burden (Locke 2020 Blood Adv 4:4898, qualitative)
    ("burden", "crp_mg_per_l"): 0.3,     # assumption
    ("crp_mg_per_l", "ferritin_ng_per_ml"): 0.5,  # assumption: both acute-phase (Faramand 2024 Blood Cancer Discov 5:106 uses both)
    ("ldh_u_per_l", "crp_mg_per_l"): 0.3,  # assumption
    ("prior_lines", "alc_per_ul"): -0.2,   # assumption: more chemotherapy, fewer lymphocytes
    ("age_years", "prior_lines"): 0.1,     # assumption
})
#: Children: weight and height follow age (assumption for paediatric B-ALL populations).
PAEDIATRIC_CORRELATIONS: Mapping[tuple[str, str], float] = MappingProxyType({
    **DEFAULT_CORRELATIONS,
    ("age_years", "weight_kg"): 0.8,
    ("age_years", "height_cm"): 0.85,
    ("weight_kg", "height_cm"): 0.8,
    ("sex_male", "height_cm"): 0.2,
    ("sex_male", "weight_kg"): 0.1,
})


@dataclass(frozen=True)
class CovariateModel:
    """Marginals + correlations of one trial population. ``sample(n, seed)`` → one row per patient."""

    key: str
    indication: str
    measure: str
    marginals: Mapping[str, Marginal]
    correlations: Mapping[tuple[str, str], float] = field(default_factory=lambda: DEFAULT_CORRELATIONS)
    description: str = ""

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValidationError(f"covariates.{self.key}.measure", "one of " + ", ".join(MEASURES), self.measure)
        missing = [c for c in (*COLUMNS, self.measure) if c not in self.marginals]
        if missing:
            raise ValidationError(f"covariates.{self.key}.marginals", "a marginal for every covariate", missing[0])
        self.correlation_matrix()  # validate now

    @property
    def columns(self) -> tuple[str, ...]:
        return (*COLUMNS, self.measure)

    def correlation_matrix(self) -> np.ndarray:
        """The latent correlation matrix ``R`` in :attr:`columns` order (``burden`` = the measure)."""
        cols = self.columns
        idx = {c: i for i, c in enumerate(cols)}
        idx["burden"] = idx[self.measure]
        r = np.eye(len(cols))
        for (a, b), rho in self.correlations.items():
            where = f"covariates.{self.key}.correlations[{a}, {b}]"
            if a not in idx or b not in idx:
                raise ValidationError(where, "two covariate names of " + ", ".join((*cols, "burden")), (a, b))
            if not (-1.0 < rho < 1.0) or idx[a] == idx[b]:
                raise ValidationError(where, "a correlation in (-1, 1) between two different covariates", rho)
            r[idx[a], idx[b]] = r[idx[b], idx[a]] = rho
        eig = np.linalg.eigvalsh(r)
        if eig.min() < -1e-10:
            raise ValidationError(f"covariates.{self.key}.correlations", "a positive semi-definite correlation matrix",
                                  f"smallest eigenvalue {eig.min():.3g}")
        return r

    def _factor(self) -> np.ndarray:
        r = self.correlation_matrix()
        w, v = np.linalg.eigh(r)
        return v * np.sqrt(np.clip(w, 0.0, None))  # R = F F^T, works for semi-definite R

    def sample(self, n: int, seed: int, start: int = 0) -> pd.DataFrame:
        """Covariates of patients ``start .. start+n-1``; patient ``k``'s row depends only on ``(seed, k)``."""
        idx = np.arange(int(start), int(start) + int(n))
        eps = standard_normals(seed, idx, len(self.columns), "covariates")
        z = eps @ self._factor().T
        out = {"patient_index": idx}
        for j, col in enumerate(self.columns):
            out[col] = self.marginals[col].ppf_normal(z[:, j])
        df = pd.DataFrame(out)
        df["sex_male"] = df["sex_male"].astype(bool)
        df["ecog"] = df["ecog"].astype(int)
        df["prior_lines"] = df["prior_lines"].astype(int)
        df["tumour_baseline_cells"] = burden_to_cells(self.measure, df[self.measure].to_numpy(), self.indication)
        df.attrs["covariate_model"] = self.key
        return df

    def describe(self) -> pd.DataFrame:
        """One row per covariate: distribution and source (for docs and reports)."""
        return pd.DataFrame([{"covariate": c, "distribution": self.marginals[c].describe(), "source": self.marginals[c].source}
                             for c in self.columns])


def burden_to_cells(measure: str, values: np.ndarray, indication: str) -> np.ndarray:
    """Tumour cells from the indication's disease measure (inverse of cartwin.clinic.response)."""
    v = np.asarray(values, dtype=float)
    if measure == "marrow_blasts_pct":
        f = np.clip(v / 100.0, 1e-6, 0.999)
        cells = f / (1.0 - f) * NORMAL_MARROW_CELLS
    elif measure in ("spd_cm2", "sld_cm"):
        d = np.sqrt(v) if measure == "spd_cm2" else v
        cells = math.pi / 6.0 * d**3 * TUMOUR_CELLS_PER_ML
    elif measure == "m_protein_g_per_dl":
        ind = INDICATIONS[indication]
        cells = ind.tumour_baseline_cells * v / ind.m_protein_baseline_g_per_dl
    else:
        raise ValidationError("measure", "one of " + ", ".join(MEASURES), measure)
    return np.clip(cells, 1.0, 1e14)


def _escape_subclone() -> ZeroInflated:
    """B-ALL's CD19-negative escape subclone, below detection at enrolment: the prevalence fitted
    to ELIANA's 14 CD19-negative of 19 relapses (cartwin.calibrate.antigen_escape, whose record
    ships in population/data/antigen_escape.json), log-uniform size between its stated bounds."""
    import json
    from importlib import resources

    record = json.loads(resources.files("cartwin.population").joinpath("data/antigen_escape.json").read_text())
    return ZeroInflated(
        float(record["prevalence"]), float(record["low_fraction"]), float(record["high_fraction"]),
        f"fitted ({record['date']}; {record['command']}): prevalence {record['prevalence']} "
        f"(95 % {record['interval_95'][0]}-{record['interval_95'][1]}) of a subclone of "
        f"{record['low_fraction']:g}-{record['high_fraction']:g} of the leukaemic cells, on {record['data']['source']}; "
        "until 2026-12-08 an assumption of 5 % of patients with 1e-4-0.05")


# ---- shared marginals (assumptions unless cited) ---------------------------------------
def _adult(n: int, male: float, male_src: str, ecog1: float, ecog_src: str) -> dict[str, Marginal]:
    return {
        "sex_male": Categorical((0.0, 1.0), (1 - male, male), male_src),
        "ecog": Categorical((0.0, 1.0), (1 - ecog1, ecog1), ecog_src),
        "weight_kg": SplitNormal(78.0, 45.0, 150.0, n, source="assumption: adult r/r lymphoma/myeloma weight (US/EU adults)"),
        "height_cm": SplitNormal(172.0, 148.0, 196.0, n, source="assumption: adult height"),
        "alc_per_ul": SplitNormal(700.0, 100.0, 4000.0, n, log=True, source="assumption: lymphopenic heavily pretreated adults; eligibility usually ALC >= 100/uL"),
        "crp_mg_per_l": SplitNormal(15.0, 0.5, 300.0, n, log=True, source="assumption: pre-lymphodepletion CRP (Faramand 2024 Blood Cancer Discov 5:106 stratifies on CRP; medians not read)"),
        "ferritin_ng_per_ml": SplitNormal(600.0, 20.0, 10000.0, n, log=True, source="assumption: pre-lymphodepletion ferritin (same source; medians not read)"),
        "antigen_negative_fraction": ZeroInflated(0.05, 1e-3, 0.3, "assumption: small antigen-negative subclone in 5 % of patients"),
    }


def _lbcl_burden(n: int) -> dict[str, Marginal]:
    return {
        "spd_cm2": SplitNormal(32.0, 1.0, 300.0, n, log=True,
                               source="assumption: median = the model's LBCL reference tumour (Kimmel 2021 94.86 mL as one sphere: SPD 32 cm2)"),
        "ldh_u_per_l": SplitNormal(300.0, 120.0, 3000.0, n, log=True, source="assumption: about 60 % above a 250 U/L upper limit of normal"),
    }


_Z1 = "Neelapu SS et al. N Engl J Med 2017;377:2531, Table 1 (PMC5882485)"
_MODELS = [
    CovariateModel(
        "eliana", "all", "marrow_blasts_pct",
        {
            "age_years": SplitNormal(11.0, 3.0, 24.0, 79, source=f"{CSV}: ELIANA, median age (range) 11 (3-24)"),
            "sex_male": Categorical((0.0, 1.0), (0.43, 0.57), "recalled (UNVERIFIED): Maude 2018 NEJM 378:439, 57 % male"),
            "ecog": Categorical((0.0, 1.0), (0.7, 0.3), "assumption (Karnofsky/Lansky >= 50 required)"),
            "weight_kg": SplitNormal(40.0, 12.0, 120.0, 79, source="assumption: consistent with 46/137 patients > 50 kg (pivotal_trials.csv: ELIANA+ENSIGN pooled, dose note)"),
            "height_cm": SplitNormal(145.0, 95.0, 190.0, 79, source="assumption: height for ages 3-24"),
            "marrow_blasts_pct": SplitNormal(74.0, 5.0, 99.0, 75, source=f"{CSV}: ELIANA, median marrow blasts at baseline 74 (5-99) %"),
            "ldh_u_per_l": SplitNormal(350.0, 120.0, 3000.0, 79, log=True, source="assumption: paediatric r/r B-ALL"),
            "prior_lines": SplitNormal(3.0, 1.0, 8.0, 79, integer=True, source="recalled (UNVERIFIED): Maude 2018, median 3 previous therapies (1-8)"),
            "alc_per_ul": SplitNormal(800.0, 100.0, 5000.0, 79, log=True, source="assumption"),
            "crp_mg_per_l": SplitNormal(5.0, 0.3, 200.0, 79, log=True, source="assumption"),
            "ferritin_ng_per_ml": SplitNormal(900.0, 30.0, 15000.0, 79, log=True, source="assumption: transfusion iron load after prior alloHSCT (61 %, pivotal_trials.csv ELIANA)"),
            "antigen_negative_fraction": _escape_subclone(),
        },
        PAEDIATRIC_CORRELATIONS, "ELIANA: children and young adults with r/r B-ALL",
    ),
    CovariateModel(
        "zuma-1", "lbcl", "spd_cm2",
        {
            **_adult(101, 0.67, f"{_Z1}: male 67 %", 0.58, f"{_Z1}: ECOG 1 in 58 %"),
            **_lbcl_burden(101),
            "age_years": SplitNormal(58.0, 23.0, 76.0, 101, source=f"{_Z1}: median age 58 (23-76)"),
            "prior_lines": SplitNormal(3.0, 1.0, 10.0, 101, integer=True, source=f"{_Z1}: >= 3 prior lines in 69 % (median 3 and range: assumption)"),
            "antigen_negative_fraction": ZeroInflated(0.10, 1e-3, 0.5, f"{_Z1}: CD19-negative by IHC in 8/82 (10 %); fraction: assumption"),
        },
        description="ZUMA-1 phase 2: refractory LBCL",
    ),
    CovariateModel(
        "juliet", "lbcl", "spd_cm2",
        {
            **_adult(115, 0.64, "recalled (UNVERIFIED): Schuster 2019 NEJM 380:45, 64 % male", 0.45, "assumption"),
            **_lbcl_burden(115),
            "age_years": SplitNormal(56.0, 22.0, 76.0, 115, source="recalled (UNVERIFIED): Schuster 2019 NEJM 380:45, median age 56 (22-76)"),
            "prior_lines": SplitNormal(3.0, 1.0, 6.0, 115, integer=True, source="recalled (UNVERIFIED): >= 3 prior lines in ~52 %"),
        },
        description="JULIET: r/r DLBCL after >= 2 lines",
    ),
    CovariateModel(
        "transcend", "lbcl", "spd_cm2",
        {
            **_adult(269, 0.65, "recalled (UNVERIFIED): Abramson 2020 Lancet 396:839, 65 % male", 0.4, "assumption"),
            **_lbcl_burden(269),
            "age_years": SplitNormal(63.0, 18.0, 86.0, 269, source=f"{CSV}: TRANSCEND NHL 001, median age 63 (range recalled, UNVERIFIED)"),
            "prior_lines": SplitNormal(3.0, 1.0, 8.0, 269, integer=True, source=f"{CSV}: TRANSCEND NHL 001, median prior lines 3 (range recalled, UNVERIFIED)"),
        },
        description="TRANSCEND NHL 001: r/r LBCL",
    ),
    CovariateModel(
        "zuma-2", "mcl", "spd_cm2",
        {
            **_adult(68, 0.84, "recalled (UNVERIFIED): Wang 2020 NEJM 382:1331, 84 % male", 0.35, "assumption"),
            **_lbcl_burden(68),
            "age_years": SplitNormal(65.0, 38.0, 79.0, 68, source="recalled (UNVERIFIED): Wang 2020 NEJM 382:1331, median age 65 (38-79)"),
            "prior_lines": SplitNormal(3.0, 1.0, 5.0, 68, integer=True, source="recalled (UNVERIFIED): Wang 2020, median 3 prior therapies (1-5)"),
        },
        description="ZUMA-2 cohort 1: r/r MCL after BTK inhibitor",
    ),
    CovariateModel(
        "karmma", "mm", "m_protein_g_per_dl",
        {
            **_adult(128, 0.59, "recalled (UNVERIFIED): Munshi 2021 NEJM 384:705, 59 % male", 0.55, "assumption"),
            "age_years": SplitNormal(61.0, 33.0, 78.0, 128, source="recalled (UNVERIFIED): Munshi 2021 NEJM 384:705, median age 61 (33-78)"),
            "prior_lines": SplitNormal(6.0, 3.0, 16.0, 128, integer=True, source=f"{CSV}: KarMMa, median prior lines 6 (3-16)"),
            "m_protein_g_per_dl": SplitNormal(2.0, 0.2, 8.0, 128, log=True, source="assumption: measurable disease >= 0.5 g/dL serum M-protein in most"),
            "ldh_u_per_l": SplitNormal(200.0, 90.0, 1500.0, 128, log=True, source="assumption"),
            "antigen_negative_fraction": ZeroInflated(0.03, 1e-3, 0.2, "assumption: BCMA-low/negative subclone rare before therapy"),
        },
        description="KarMMa: triple-class-exposed r/r myeloma",
    ),
    CovariateModel(
        "cartitude-1", "mm", "m_protein_g_per_dl",
        {
            **_adult(97, 0.59, "recalled (UNVERIFIED): Berdeja 2021 Lancet 398:314, 59 % male", 0.55, "assumption"),
            "age_years": SplitNormal(61.0, 43.0, 78.0, 97, source="recalled (UNVERIFIED): Berdeja 2021 Lancet 398:314, median age 61 (43-78)"),
            "prior_lines": SplitNormal(6.0, 3.0, 18.0, 97, integer=True, source=f"{CSV}: CARTITUDE-1, median prior lines 6 (3-18)"),
            "m_protein_g_per_dl": SplitNormal(2.0, 0.2, 8.0, 97, log=True, source="assumption"),
            "ldh_u_per_l": SplitNormal(200.0, 90.0, 1500.0, 97, log=True, source="assumption"),
            "antigen_negative_fraction": ZeroInflated(0.03, 1e-3, 0.2, "assumption"),
        },
        description="CARTITUDE-1: r/r myeloma after >= 3 lines",
    ),
    CovariateModel(
        "liu2020-car-nk", "lbcl", "spd_cm2",
        {
            **_adult(11, 0.6, "assumption", 0.4, "assumption"),
            **_lbcl_burden(11),
            "age_years": SplitNormal(60.0, 47.0, 70.0, 11, source="recalled (UNVERIFIED): Liu 2020 NEJM 382:545, median age 60 (47-70)"),
            "prior_lines": SplitNormal(4.0, 3.0, 11.0, 11, integer=True, source="recalled (UNVERIFIED): Liu 2020, median 4 prior lines (3-11)"),
        },
        description="Liu 2020 CAR-NK: CLL and NHL (modelled as LBCL-like)",
    ),
    CovariateModel(
        "alpha-allo501", "lbcl", "spd_cm2",
        {
            **_adult(33, 0.65, "assumption", 0.45, "assumption"),
            **_lbcl_burden(33),
            "age_years": SplitNormal(66.0, 30.0, 82.0, 33, source=f"{CSV}: ALLO-501 (ALPHA/ALPHA2) CAR-T naive LBCL, median age 66 (range: assumption)"),
            "prior_lines": SplitNormal(3.0, 2.0, 8.0, 33, integer=True, source=f"{CSV}: ALLO-501, median 3 prior lines (range: assumption)"),
        },
        description="ALPHA/ALPHA2: CAR-T-naive r/r LBCL, allogeneic CD19",
    ),
    CovariateModel(
        "ct041-gastric", "lbcl", "sld_cm",  # indication used only for burden conversion defaults
        {
            **_adult(98, 0.55, "assumption", 0.5, "assumption"),
            "age_years": SplitNormal(53.0, 25.0, 75.0, 98, source="recalled (UNVERIFIED): Qi 2022 Nat Med 28:1189 (CT041), median age ~53"),
            "prior_lines": SplitNormal(2.0, 1.0, 6.0, 98, integer=True, source="assumption: >= 1 prior line, most >= 2"),
            "sld_cm": SplitNormal(6.0, 1.0, 25.0, 98, log=True, source="assumption: RECIST sum of longest diameters"),
            "ldh_u_per_l": SplitNormal(220.0, 100.0, 1500.0, 98, log=True, source="assumption"),
            "antigen_negative_fraction": ZeroInflated(0.5, 0.05, 0.6, "assumption: CLDN18.2 expression is heterogeneous (eligibility >= 40 % of cells 2+/3+)"),
        },
        description="CT041 (satri-cel): CLDN18.2+ gastrointestinal cancers (placeholder: no solid-tumour model yet)",
    ),
]

# ---- second-line randomised trials (issue 21): baseline tables only, never their results ----
_ZUMA7 = "Locke FL et al. N Engl J Med 2022;386:640-654 (ZUMA-7), Table 1"
_TRANSFORM = "Kamdar M et al. Lancet 2022;399:2294-2308 (TRANSFORM), Table 1"
_BELINDA = "Bishop MR et al. N Engl J Med 2022;386:629-639 (BELINDA), Table 1"
_KARMMA3 = "Rodriguez-Otero P et al. N Engl J Med 2023;388:1002-1014 (KarMMa-3), Table 1"
_CARTITUDE4 = "San-Miguel J et al. N Engl J Med 2023;389:335-347 (CARTITUDE-4), Table 1"
_ONE_PRIOR_LINE = "design: second-line trial, exactly one prior line of therapy"
_MM_RANDOMISED = {
    "m_protein_g_per_dl": SplitNormal(2.0, 0.2, 8.0, 200, log=True, source="assumption: measurable disease >= 0.5 g/dL serum M-protein in most"),
    "ldh_u_per_l": SplitNormal(200.0, 90.0, 1500.0, 200, log=True, source="assumption"),
    "antigen_negative_fraction": ZeroInflated(0.03, 1e-3, 0.2, "assumption: BCMA-low/negative subclone rare before therapy"),
}
_MODELS += [
    CovariateModel(
        "zuma-7", "lbcl", "spd_cm2",
        {
            **_adult(359, 0.66, f"recalled (UNVERIFIED): {_ZUMA7}, ~66 % male", 0.5, f"recalled (UNVERIFIED): {_ZUMA7}, ECOG 0-1 required, ~half ECOG 1"),
            **_lbcl_burden(359),
            "age_years": SplitNormal(58.0, 21.0, 81.0, 359, source=f"recalled (UNVERIFIED): {_ZUMA7}, median age ~58-59 (21-81)"),
            "prior_lines": Categorical((1.0,), (1.0,), _ONE_PRIOR_LINE),
        },
        description="ZUMA-7: LBCL refractory to or relapsed <= 12 months after first-line chemoimmunotherapy",
    ),
    CovariateModel(
        "transform", "lbcl", "spd_cm2",
        {
            **_adult(184, 0.55, f"recalled (UNVERIFIED): {_TRANSFORM}, ~55 % male", 0.45, f"recalled (UNVERIFIED): {_TRANSFORM}, ECOG 0-1 required"),
            **_lbcl_burden(184),
            "age_years": SplitNormal(59.0, 20.0, 75.0, 184, source=f"recalled (UNVERIFIED): {_TRANSFORM}, median age ~59, eligibility 18-75"),
            "prior_lines": Categorical((1.0,), (1.0,), _ONE_PRIOR_LINE),
        },
        description="TRANSFORM: LBCL refractory to or relapsed <= 12 months after first-line therapy, transplant-eligible",
    ),
    CovariateModel(
        "belinda", "lbcl", "spd_cm2",
        {
            **_adult(322, 0.62, f"recalled (UNVERIFIED): {_BELINDA}, ~62 % male", 0.4, f"recalled (UNVERIFIED): {_BELINDA}, ECOG 0-1 required"),
            **_lbcl_burden(322),
            "age_years": SplitNormal(59.0, 19.0, 79.0, 322, source=f"recalled (UNVERIFIED): {_BELINDA}, median age ~59"),
            "prior_lines": Categorical((1.0,), (1.0,), _ONE_PRIOR_LINE),
        },
        description="BELINDA: aggressive B-cell lymphoma refractory to or relapsed <= 12 months after first-line therapy",
    ),
    CovariateModel(
        "karmma-3", "mm", "m_protein_g_per_dl",
        {
            **_adult(386, 0.6, f"recalled (UNVERIFIED): {_KARMMA3}, ~60 % male", 0.5, "assumption"),
            **_MM_RANDOMISED,
            "age_years": SplitNormal(63.0, 30.0, 83.0, 386, source=f"recalled (UNVERIFIED): {_KARMMA3}, median age ~63"),
            "prior_lines": Categorical((2.0, 3.0, 4.0), (0.35, 0.4, 0.25),
                                       f"design: 2-4 prior regimens ({_KARMMA3}); shares: assumption (UNVERIFIED)"),
        },
        description="KarMMa-3: triple-class-exposed myeloma after 2-4 regimens, refractory to the last",
    ),
    CovariateModel(
        "cartitude-4", "mm", "m_protein_g_per_dl",
        {
            **_adult(419, 0.56, f"recalled (UNVERIFIED): {_CARTITUDE4}, ~56 % male", 0.45, "assumption"),
            **_MM_RANDOMISED,
            "age_years": SplitNormal(61.0, 27.0, 80.0, 419, source=f"recalled (UNVERIFIED): {_CARTITUDE4}, median age ~61"),
            "prior_lines": Categorical((1.0, 2.0, 3.0), (0.33, 0.4, 0.27),
                                       f"design: 1-3 prior lines, lenalidomide-refractory ({_CARTITUDE4}); shares: assumption (UNVERIFIED)"),
        },
        description="CARTITUDE-4: lenalidomide-refractory myeloma after 1-3 lines",
    ),
]

#: Covariate models by key (one per trial population).
COVARIATE_MODELS: Mapping[str, CovariateModel] = MappingProxyType({m.key: m for m in _MODELS})


def get_covariate_model(key: str) -> CovariateModel:
    if key not in COVARIATE_MODELS:
        raise ValidationError("covariates", "one of " + ", ".join(COVARIATE_MODELS), key)
    return COVARIATE_MODELS[key]
