"""Standard-of-care comparator arms as small parametric response-and-survival models.

Why parametric and not mechanistic: the comparator regimens (platinum salvage then high-dose
chemotherapy and autologous transplant in LBCL; daratumumab / pomalidomide / proteasome-inhibitor
combinations in myeloma) are described in their publications by response rates and survival
landmarks, not by tumour kinetics; a mechanistic chemotherapy model would have many parameters
that these data cannot identify. A response-then-survival model has as many parameters as its
sources have numbers, is calibrated in closed form on them, and is cheap enough for power
calculations over thousands of replicate trials (docs/comparative.md).

The model of one patient (days from randomisation):

1. Response at ``response_day`` (after the salvage cycles): CR with probability ``cr_rate``,
   PR with ``orr - cr_rate``, otherwise no response.
2. LBCL: a responder proceeds to consolidation (HDCT/ASCT) with probability
   ``consolidation_given_response``; a consolidated responder is cured (never progresses) with
   probability ``cure_given_consolidation`` (solved so the model's EFS at the source's landmark
   equals the source's); other responders progress after ``response_day`` at an exponential
   rate with median ``responder_relapse_median_days`` (assumption).
   Myeloma: responders and non-responders progress at exponential rates; the non-responders'
   median is an assumption and the responders' is solved so the arm's median PFS equals the
   source's.
3. Non-responders: no response is an EFS event at ``response_day`` (new lymphoma therapy, as
   ZUMA-7's definition counts it); progression follows after an exponential time with median
   ``nonresponder_progression_median_days`` (from the start for myeloma).
4. Death: the earlier of non-relapse mortality (constant hazard, ``nrm_1y`` by one year) and
   progression plus an exponential post-progression survival with median
   ``post_progression_median_days`` (solved on the source's OS landmark or median where the
   source gives one, else an assumption).

5. Toxicity (reported, not linked to survival): per patient, independent draws of the grade >= 3
   adverse events that the regimen's own source tabulates (:data:`TOXICITY_EVENTS`, rates in
   :data:`TOXICITY`, each with trial, arm and table), from the ``comparator`` stream's substream
   :data:`TOXICITY_SUBSTREAM` (so the response and survival draws above are unchanged by them).
   Febrile neutropenia shares the neutropenia draw (a patient with febrile neutropenia has grade
   >= 3 neutropenia). ``treatment_related_death`` is a reported event only, not a death in OS:
   the models' ``nrm_1y`` already carries treatment-related mortality into OS (LBCL: "~5 % of
   salvage + HDCT/ASCT by one year"), so a drawn treatment-related death on top would count it
   twice, and replacing ``nrm_1y`` by it would move the calibrated parameters and every
   simulated value of docs/validation.md's standard-of-care table.

Every published number is beside its regimen with its source; values recalled from the
publication and not checked against it here are marked UNVERIFIED. :func:`soc_expected` gives the
model's exact expected landmarks (closed forms), which the calibration inverts;
:func:`simulate_soc` draws patients from per-patient streams (``comparator`` purpose).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from cartwin.foundation.constraints import Interval, OneOf, check
from cartwin.foundation.errors import ValidationError
from cartwin.foundation.streams import patient_generators, uniforms

DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class SourceValue:
    """One published number a regimen is calibrated on (or checked against).

    ``endpoint``: ``orr``, ``cr_rate``, ``consolidation`` (share of all patients transplanted),
    ``efs_at``/``pfs_at``/``os_at`` (KM survival at ``day``), ``pfs_median_month``/``os_median_month``.
    ``ci_low``/``ci_high``: the published 95 % CI where given, otherwise None (the validation
    table then uses a binomial interval from ``n``)."""

    endpoint: str
    value: float
    n: int
    source: str
    day: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    verified: bool = False

    def interval(self) -> tuple[float, float]:
        """The published CI, or an approximate 95 % interval from ``n`` (binomial for rates and
        landmarks, Greenwood without censoring; for medians +/- 1.96 x median / sqrt(n/2), the
        exponential-model standard error with about half the patients having the event)."""
        if self.ci_low is not None and self.ci_high is not None:
            return (self.ci_low, self.ci_high)
        if self.endpoint.endswith("median_month"):
            half = 1.96 * self.value / math.sqrt(max(self.n / 2.0, 1.0))
            return (self.value - half, self.value + half)
        se = math.sqrt(self.value * (1.0 - self.value) / self.n)
        return (max(0.0, self.value - 1.96 * se), min(1.0, self.value + 1.96 * se))


#: Grade >= 3 adverse events a standard-of-care model can draw: CTCAE grade >= 3 at any time
#: during the regimen's treatment, as the registration trials tabulate treatment-emergent
#: adverse events. The order is part of the reproducibility contract (event ``k`` reads the
#: ``k``-th uniform of a patient's toxicity stream; febrile neutropenia reads neutropenia's):
#: append, never reorder.
TOXICITY_EVENTS: Mapping[str, str] = MappingProxyType({
    "neutropenia_grade3plus": "grade >= 3 neutropenia (neutrophil count decreased) during treatment",
    "thrombocytopenia_grade3plus": "grade >= 3 thrombocytopenia (platelet count decreased) during treatment",
    "anaemia_grade3plus": "grade >= 3 anaemia during treatment",
    "febrile_neutropenia_grade3plus": "grade >= 3 febrile neutropenia during treatment",
    "infection_grade3plus": "grade >= 3 infection (any infection, the sources' pooled term) during treatment",
    "treatment_related_death": "death the source attributes to treatment (LBCL: after HDCT/ASCT, among the transplanted); "
                               "reported only, not a death in OS (docs/comparative.md, \"Toxicity per arm\")",
})
#: Substream of the ``comparator`` purpose that toxicity draws come from (1: crossover, 2:
#: parametric arms, 3: post-progression survival).
TOXICITY_SUBSTREAM = 4
#: Who a rate is a share of: every treated patient of the arm, or those who received HDCT/ASCT.
AMONG = ("treated", "transplanted")


@dataclass(frozen=True)
class AdverseEventRate:
    """One published adverse-event rate a regimen's toxicity draws reproduce.

    ``rate``: share of ``among`` patients (``treated``: the arm's safety population;
    ``transplanted``: those who received HDCT/ASCT) with the event; ``n``: the source's
    denominator; ``source``: trial, arm and table; ``recalled``: True where the value is recalled
    from the publication and not read from it here. Checked where a regimen is built
    (:func:`adverse_events`, :class:`SocRegimen`), with the regimen's key in the field name."""

    event: str
    rate: float
    n: int
    source: str
    among: str = "treated"
    recalled: bool = True

    def interval(self) -> tuple[float, float]:
        """Clopper-Pearson 95 % interval of the published share (``rate`` x ``n`` events in ``n``)."""
        from cartwin.trial.endpoints import clopper_pearson

        return clopper_pearson(int(round(self.rate * self.n)), self.n)


def _check_event(where: str, ae: AdverseEventRate) -> None:
    check(f"{where}.event", ae.event, OneOf(tuple(TOXICITY_EVENTS)))
    check(f"{where}.rate", ae.rate, Interval(0.0, 1.0))
    check(f"{where}.n", ae.n, Interval(1, 10**7, integer=True))
    check(f"{where}.among", ae.among, OneOf(AMONG))
    if not isinstance(ae.source, str) or not ae.source.strip():
        raise ValidationError(f"{where}.source", "the trial, arm and table the rate is from", ae.source)


def adverse_events(regimen: str, table: Mapping[str, Mapping[str, Any]]) -> tuple[AdverseEventRate, ...]:
    """A regimen's toxicity from plain data: ``{event: {"rate", "n", "source", "among"?,
    "recalled"?}}`` (as a TOML table would give it); errors name
    ``standard_of_care.<regimen>.toxicity.<event>.<field>``.

    >>> adverse_events("mm-x", {"neutropenia_grade3plus": {"rate": 0.4, "n": 100, "source": "trial X, arm A, table 3"}})[0].rate
    0.4
    """
    out = []
    allowed = {"rate", "n", "source", "among", "recalled"}
    for event, entry in table.items():
        where = f"standard_of_care.{regimen}.toxicity.{event}"
        if not isinstance(entry, Mapping):
            raise ValidationError(where, "a table with rate, n and source", entry)
        for name in entry:
            if name not in allowed:
                raise ValidationError(f"{where}.{name}", "one of the known fields " + ", ".join(sorted(allowed)), name)
        for name in ("rate", "n", "source"):
            if name not in entry:
                raise ValidationError(f"{where}.{name}", "a value (required)", None)
        ae = AdverseEventRate(event, entry["rate"], entry["n"], entry["source"], entry.get("among", "treated"),
                              bool(entry.get("recalled", True)))
        _check_event(where, ae)
        out.append(ae)
    return tuple(out)


@dataclass(frozen=True)
class SocRegimen:
    """A standard-of-care regimen model (see module docstring). Build with :func:`calibrated_regimen`."""

    key: str
    label: str
    indication: str
    orr: float
    cr_rate: float
    response_day: float
    nonresponder_progression_median_days: float
    post_progression_median_days: float
    nrm_1y: float
    consolidation_given_response: float = 0.0
    cure_given_consolidation: float = 0.0
    responder_relapse_median_days: float = 240.0
    responder_pfs_median_days: float | None = None  # myeloma form (None: LBCL form)
    sources: tuple[SourceValue, ...] = ()
    assumptions: Mapping[str, str] = field(default_factory=dict)
    toxicity: tuple[AdverseEventRate, ...] = ()  # grade >= 3 adverse events of its own source

    def __post_init__(self) -> None:
        seen: dict[str, AdverseEventRate] = {}
        for ae in self.toxicity:
            where = f"standard_of_care.{self.key}.toxicity.{getattr(ae, 'event', ae)}"
            if not isinstance(ae, AdverseEventRate):
                raise ValidationError(where, "an AdverseEventRate", ae)
            _check_event(where, ae)
            if ae.event in seen:
                raise ValidationError(where, "each event once", "a second entry")
            seen[ae.event] = ae
        fn, neut = seen.get("febrile_neutropenia_grade3plus"), seen.get("neutropenia_grade3plus")
        if fn is not None and neut is not None and fn.rate > neut.rate:
            # Febrile neutropenia shares neutropenia's draw, so it is a subset of it.
            raise ValidationError(f"standard_of_care.{self.key}.toxicity.febrile_neutropenia_grade3plus.rate",
                                  f"at most the grade >= 3 neutropenia rate ({neut.rate:g})", fn.rate)
        if any(ae.among == "transplanted" for ae in self.toxicity) and self.responder_pfs_median_days is not None:
            raise ValidationError(f"standard_of_care.{self.key}.toxicity", "rates among the transplanted only in an LBCL "
                                  "(salvage + HDCT/ASCT) model", "a myeloma model")

    @property
    def form(self) -> str:
        return "myeloma" if self.responder_pfs_median_days is not None else "lbcl"

    def calibration_targets(self) -> tuple[SourceValue, ...]:
        return self.sources


def _surv_sum(lam1: float, lam2: float, s: float) -> float:
    """P(X + Y > s) for independent exponentials with rates lam1, lam2 (s >= 0)."""
    if s <= 0:
        return 1.0
    if abs(lam1 - lam2) < 1e-12 * max(lam1, lam2):
        return math.exp(-lam1 * s) * (1.0 + lam1 * s)
    return (lam1 * math.exp(-lam2 * s) - lam2 * math.exp(-lam1 * s)) / (lam1 - lam2)


def _rate(median_days: float) -> float:
    return math.log(2.0) / median_days


def _nrm_rate(r: SocRegimen) -> float:
    return -math.log(1.0 - r.nrm_1y) / DAYS_PER_YEAR


def soc_expected(r: SocRegimen, endpoint: str, day: float | None = None) -> float:
    """The model's exact expected value of ``endpoint`` (see :class:`SourceValue`)."""
    nrm = _nrm_rate(r)
    lam_nr = _rate(r.nonresponder_progression_median_days)
    mu = _rate(r.post_progression_median_days)
    if endpoint == "orr":
        return r.orr
    if endpoint == "cr_rate":
        return r.cr_rate
    if endpoint == "consolidation":
        return r.orr * r.consolidation_given_response
    if endpoint in ("pfs_median_month", "os_median_month"):
        kind = endpoint.split("_")[0]
        f = lambda t: soc_expected(r, f"{kind}_at", t) - 0.5  # noqa: E731
        return optimize.brentq(f, 1e-6, 50 * DAYS_PER_YEAR) / DAYS_PER_MONTH
    if day is None:
        raise ValidationError("day", "a landmark day for " + endpoint, None)
    t = float(day)
    snrm = math.exp(-nrm * t)
    if r.form == "myeloma":
        lam_r = _rate(r.responder_pfs_median_days)
        if endpoint in ("pfs_at", "efs_at"):
            return snrm * (r.orr * math.exp(-lam_r * t) + (1 - r.orr) * math.exp(-lam_nr * t))
        if endpoint == "os_at":
            return snrm * (r.orr * _surv_sum(lam_r, mu, t) + (1 - r.orr) * _surv_sum(lam_nr, mu, t))
    else:
        lam_r = _rate(r.responder_relapse_median_days)
        rd = r.response_day
        cured = r.orr * r.consolidation_given_response * r.cure_given_consolidation
        uncured_resp = r.orr - cured
        after = max(t - rd, 0.0)
        if endpoint == "efs_at":
            return snrm * (cured + uncured_resp * math.exp(-lam_r * after)) if t >= rd else snrm
        if endpoint == "pfs_at":
            return snrm * (cured + uncured_resp * math.exp(-lam_r * after) + (1 - r.orr) * math.exp(-lam_nr * after))
        if endpoint == "os_at":
            return snrm * (cured + uncured_resp * _surv_sum(lam_r, mu, after) + (1 - r.orr) * _surv_sum(lam_nr, mu, after))
    raise ValidationError("endpoint", "orr, cr_rate, consolidation, efs_at, pfs_at, os_at, pfs_median_month, os_median_month",
                          endpoint)


def _solve(r: SocRegimen, name: str, target: SourceValue, low: float, high: float) -> SocRegimen:
    def gap(x: float) -> float:
        return soc_expected(replace(r, **{name: x}), target.endpoint, target.day) - target.value

    a, b = gap(low), gap(high)
    if a * b > 0:
        raise ValidationError(f"standard_of_care.{r.key}.{name}",
                              f"a value in [{low:g}, {high:g}] reproducing {target.endpoint} = {target.value:g}",
                              "no solution (the source's numbers are inconsistent with the model's assumptions)")
    return replace(r, **{name: optimize.brentq(gap, low, high, xtol=1e-10)})


def calibrated_regimen(base: SocRegimen, *, fit: Mapping[str, str]) -> SocRegimen:
    """``base`` with its free parameters solved on its sources: ``fit`` maps a parameter
    (``cure_given_consolidation``, ``responder_pfs_median_days``, ``nonresponder_progression_median_days``,
    ``post_progression_median_days``)
    to the endpoint of :attr:`SocRegimen.sources` it reproduces, solved coordinate-wise in the
    order given until none moves."""
    bounds = {"cure_given_consolidation": (0.0, 1.0), "responder_pfs_median_days": (1.0, 20 * DAYS_PER_YEAR),
              "nonresponder_progression_median_days": (1.0, 20 * DAYS_PER_YEAR),
              "post_progression_median_days": (1.0, 30 * DAYS_PER_YEAR)}
    r = base
    by_endpoint = {s.endpoint: s for s in base.sources}
    names = list(fit)  # solved in the order given
    # Coordinate-wise solves until the parameters stop moving (one pass when each target
    # depends on its own parameter only, as EFS does not depend on post-progression survival).
    for _ in range(100):
        before = [getattr(r, n) for n in names]
        for name in names:
            r = _solve(r, name, by_endpoint[fit[name]], *bounds[name])
        if all(abs(getattr(r, n) - b) <= 1e-9 * max(abs(b), 1.0) for n, b in zip(names, before, strict=True)):
            return r
    raise ValidationError(f"standard_of_care.{base.key}", "sources the model can reproduce jointly", "no convergence")


# ---- the regimens ------------------------------------------------------------------------
_CORAL = "Gisselbrecht C et al. J Clin Oncol 2010;28:4184-4190 (CORAL)"
_LY12 = "Crump M et al. J Clin Oncol 2014;32:3490-3496 (LY.12)"
_SCHOLAR = "Crump M et al. Blood 2017;130:1800-1808 (SCHOLAR-1)"
_APOLLO = "Dimopoulos MA et al. Lancet Oncol 2021;22:801-812 (APOLLO)"
_OPTIMISMM = "Richardson PG et al. Lancet Oncol 2019;20:781-794 (OPTIMISMM)"
_CASTOR = "Palumbo A et al. N Engl J Med 2016;375:754-766 (CASTOR); median PFS from Spencer A et al. Haematologica 2018;103:2079 (UNVERIFIED)"
_ASPIRE = "Stewart AK et al. N Engl J Med 2015;372:142-152 (ASPIRE)"
_ENDEAVOR = "Dimopoulos MA et al. Lancet Oncol 2016;17:27-38 (ENDEAVOR)"
_ELOQUENT3 = "Dimopoulos MA et al. N Engl J Med 2018;379:1811-1822 (ELOQUENT-3)"
_TOURMALINE = "Moreau P et al. N Engl J Med 2016;374:1621-1634 (TOURMALINE-MM1)"
_LOCOMMOTION = ("Mateos MV et al. Leukemia 2024;38:2554-2560 (LocoMMotion final analysis, abstract); duration of "
                "response from Janssen Medical Information, 'CARVYKTI - LocoMMotion (MMY4001) Study' (2024)")

#: Assumptions shared by the LBCL salvage models.
_LBCL_ASSUMED = {
    "response_day": "assumption: response assessed after 2-3 cycles of 21-day salvage (~day 63)",
    "responder_relapse_median_days": "assumption: relapses after salvage/ASCT mostly within the first year (median 8 months among those who relapse)",
    "nonresponder_progression_median_days": "assumption: progression ~1 month after a failed salvage assessment",
    "nrm_1y": "assumption: ~5 % treatment-related mortality of salvage + HDCT/ASCT by one year",
}
_MM_ASSUMED = {
    "response_day": "assumption: response by ~2 cycles (day 56)",
    "nonresponder_progression_median_days": "assumption: non-responders progress with median 3 months",
    "nrm_1y": "assumption: ~3 % non-relapse mortality by one year",
    "post_progression_median_days": "assumption where the source's OS was immature: median 12 months after progression (outcomes.py's myeloma value)",
}


def _lbcl(key, label, orr, cr, consolidation_given_response, sources, fit, pp_median=180.0, assumed=None) -> SocRegimen:
    base = SocRegimen(key, label, "lbcl", orr=orr, cr_rate=cr, response_day=63.0, nonresponder_progression_median_days=30.0,
                      post_progression_median_days=pp_median, nrm_1y=0.05, consolidation_given_response=consolidation_given_response,
                      cure_given_consolidation=0.5, responder_relapse_median_days=240.0, sources=tuple(sources),
                      assumptions=MappingProxyType({**_LBCL_ASSUMED, **(assumed or {})}))
    return calibrated_regimen(base, fit=fit)


def _mm(key, label, orr, cr, sources, fit, pp_median=365.0) -> SocRegimen:
    base = SocRegimen(key, label, "mm", orr=orr, cr_rate=cr, response_day=56.0, nonresponder_progression_median_days=91.0,
                      post_progression_median_days=pp_median, nrm_1y=0.03, responder_pfs_median_days=365.0,
                      sources=tuple(sources), assumptions=MappingProxyType(dict(_MM_ASSUMED)))
    return calibrated_regimen(base, fit=fit)


_Y3 = 3 * DAYS_PER_YEAR
_REGIMENS = [
    # CORAL, whole population (R-ICE and R-DHAP pooled; the arms did not differ): 396 patients,
    # response 63 %, CR/CRu ~38 %, ~52 % of all patients transplanted, 3-year EFS 31 %, OS 49 %.
    _lbcl("lbcl-salvage-coral", "R-ICE or R-DHAP x3, then BEAM + ASCT for chemosensitive (CORAL, all)", 0.63, 0.38, 0.52 / 0.63, [
        SourceValue("orr", 0.63, 396, f"{_CORAL}: overall response 63 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.38, 396, f"{_CORAL}: CR/CRu 38 % (UNVERIFIED)"),
        SourceValue("consolidation", 0.52, 396, f"{_CORAL}: ~52 % of patients received ASCT (UNVERIFIED)"),
        SourceValue("efs_at", 0.31, 396, f"{_CORAL}: 3-year EFS 31 % (UNVERIFIED)", day=_Y3),
        SourceValue("os_at", 0.49, 396, f"{_CORAL}: 3-year OS 49 % (UNVERIFIED)", day=_Y3),
    ], fit={"cure_given_consolidation": "efs_at", "post_progression_median_days": "os_at"}),
    # CORAL, patients relapsing within 12 months of diagnosis after rituximab-containing first
    # line: the subgroup nearest the second-line randomised trials' population (primary
    # refractory or relapse <= 12 months). Response ~51 % after prior rituximab; 3-year EFS ~20 %
    # for relapse < 12 months; transplant share of responders taken as in the whole population.
    _lbcl("lbcl-salvage-early-relapse", "platinum salvage, then HDCT + ASCT for chemosensitive (CORAL, early relapse after rituximab)",
          0.51, 0.30, 0.52 / 0.63, [
              SourceValue("orr", 0.51, 188, f"{_CORAL}: response 51 % after prior rituximab (UNVERIFIED; n of the subgroup UNVERIFIED)"),
              SourceValue("cr_rate", 0.30, 188, "assumption: CR share of responders as in the whole CORAL population (0.38/0.63)"),
              SourceValue("efs_at", 0.20, 160, f"{_CORAL}: 3-year EFS ~20 % for relapse < 12 months after diagnosis (UNVERIFIED; n UNVERIFIED)", day=_Y3),
              SourceValue("os_at", 0.39, 160, f"{_CORAL}: 3-year OS ~39 % for relapse < 12 months (UNVERIFIED; n UNVERIFIED)", day=_Y3),
          ], fit={"cure_given_consolidation": "efs_at", "post_progression_median_days": "os_at"},
          assumed={"consolidation_given_response": "assumption: share of responders transplanted as in the whole CORAL population (0.52/0.63)"}),
    # LY.12, GDP arm (non-inferior to DHAP): 310 patients, response after 2 cycles 45.2 %,
    # transplanted 52.1 %, 4-year EFS ~26 %, 4-year OS ~39 %.
    _lbcl("lbcl-salvage-ly12-gdp", "R-GDP x2-3, then HDCT + ASCT for chemosensitive (LY.12, GDP arm)", 0.452, 0.14, min(0.521 / 0.452, 1.0) * 0.95, [
        SourceValue("orr", 0.452, 310, f"{_LY12}: response after 2 cycles 45.2 % (GDP arm; UNVERIFIED)"),
        SourceValue("cr_rate", 0.14, 310, f"{_LY12}: CR/CRu ~14 % (GDP arm; UNVERIFIED)"),
        SourceValue("efs_at", 0.26, 310, f"{_LY12}: 4-year EFS ~26 % (UNVERIFIED)", day=4 * DAYS_PER_YEAR),
        SourceValue("os_at", 0.39, 310, f"{_LY12}: 4-year OS ~39 % (UNVERIFIED)", day=4 * DAYS_PER_YEAR),
    ], fit={"cure_given_consolidation": "efs_at", "post_progression_median_days": "os_at"},
        assumed={"consolidation_given_response": "assumption: LY.12 transplanted 52.1 % of all patients, more than responded "
                                                 "after 2 cycles (some responded after cycle 3); modelled as 95 % of responders"}),
    # SCHOLAR-1: refractory DLBCL (pooled MDACC, IA/MC, LY.12, CORAL): 523 patients, response
    # 26 %, CR 7 %, median OS 6.3 months, 2-year OS 20 %. Few were transplanted.
    _lbcl("lbcl-refractory-scholar1", "salvage therapy in refractory LBCL (SCHOLAR-1)", 0.26, 0.07, 1.0, [
        SourceValue("orr", 0.26, 523, f"{_SCHOLAR}: response 26 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.07, 523, f"{_SCHOLAR}: CR 7 % (UNVERIFIED)"),
        SourceValue("os_median_month", 6.3, 523, f"{_SCHOLAR}: median OS 6.3 months (UNVERIFIED)"),
        SourceValue("os_at", 0.20, 523, f"{_SCHOLAR}: 2-year OS 20 % (UNVERIFIED)", day=2 * DAYS_PER_YEAR),
    ], fit={"post_progression_median_days": "os_median_month", "cure_given_consolidation": "os_at"},
        assumed={"consolidation_given_response": "assumption: SCHOLAR-1's long-term survivors (2-year OS 20 % with median 6.3 "
                                                 "months) are responders, most consolidated by transplant; every responder is "
                                                 "modelled as consolidated (cure_given_consolidation is then the cured share of responders)"}),
    # Myeloma: response and median PFS of each regimen's own registration trial.
    _mm("mm-dpd", "daratumumab + pomalidomide + dexamethasone (APOLLO)", 0.69, 0.25, [
        SourceValue("orr", 0.69, 151, f"{_APOLLO}: ORR 69 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.25, 151, f"{_APOLLO}: CR or better 25 % (UNVERIFIED)"),
        SourceValue("pfs_median_month", 12.4, 151, f"{_APOLLO}: median PFS 12.4 months (95 % CI 8.3-19.3; UNVERIFIED)", ci_low=8.3, ci_high=19.3),
    ], fit={"responder_pfs_median_days": "pfs_median_month"}),
    _mm("mm-pvd", "pomalidomide + bortezomib + dexamethasone (OPTIMISMM)", 0.822, 0.157, [
        SourceValue("orr", 0.822, 281, f"{_OPTIMISMM}: ORR 82.2 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.157, 281, f"{_OPTIMISMM}: CR or better 15.7 % (UNVERIFIED)"),
        SourceValue("pfs_median_month", 11.2, 281, f"{_OPTIMISMM}: median PFS 11.20 months (95 % CI 9.66-13.73; UNVERIFIED)", ci_low=9.66, ci_high=13.73),
    ], fit={"responder_pfs_median_days": "pfs_median_month"}),
    _mm("mm-dvd", "daratumumab + bortezomib + dexamethasone (CASTOR)", 0.83, 0.19, [
        SourceValue("orr", 0.83, 251, f"{_CASTOR}: ORR 83 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.19, 251, f"{_CASTOR}: CR or better 19 % (UNVERIFIED)"),
        SourceValue("pfs_median_month", 16.7, 251, f"{_CASTOR}: median PFS 16.7 months (UNVERIFIED)"),
    ], fit={"responder_pfs_median_days": "pfs_median_month"}),
    _mm("mm-krd", "carfilzomib + lenalidomide + dexamethasone (ASPIRE)", 0.871, 0.318, [
        SourceValue("orr", 0.871, 396, f"{_ASPIRE}: ORR 87.1 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.318, 396, f"{_ASPIRE}: CR or better 31.8 % (UNVERIFIED)"),
        SourceValue("pfs_median_month", 26.3, 396, f"{_ASPIRE}: median PFS 26.3 months (95 % CI 23.3-30.5; UNVERIFIED)", ci_low=23.3, ci_high=30.5),
    ], fit={"responder_pfs_median_days": "pfs_median_month"}),
    _mm("mm-kd", "carfilzomib 56 mg/m2 + dexamethasone (ENDEAVOR)", 0.77, 0.13, [
        SourceValue("orr", 0.77, 464, f"{_ENDEAVOR}: ORR 77 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.13, 464, f"{_ENDEAVOR}: CR or better 13 % (UNVERIFIED)"),
        SourceValue("pfs_median_month", 18.7, 464, f"{_ENDEAVOR}: median PFS 18.7 months (UNVERIFIED)"),
    ], fit={"responder_pfs_median_days": "pfs_median_month"}),
    _mm("mm-epd", "elotuzumab + pomalidomide + dexamethasone (ELOQUENT-3)", 0.53, 0.08, [
        SourceValue("orr", 0.53, 60, f"{_ELOQUENT3}: ORR 53 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.08, 60, f"{_ELOQUENT3}: CR or better 8 % (UNVERIFIED)"),
        SourceValue("pfs_median_month", 10.3, 60, f"{_ELOQUENT3}: median PFS 10.3 months (UNVERIFIED)"),
    ], fit={"responder_pfs_median_days": "pfs_median_month"}),
    _mm("mm-ird", "ixazomib + lenalidomide + dexamethasone (TOURMALINE-MM1)", 0.78, 0.12, [
        SourceValue("orr", 0.78, 360, f"{_TOURMALINE}: ORR 78 % (UNVERIFIED)"),
        SourceValue("cr_rate", 0.12, 360, f"{_TOURMALINE}: CR 12 % (UNVERIFIED)"),
        SourceValue("pfs_median_month", 20.6, 360, f"{_TOURMALINE}: median PFS 20.6 months (UNVERIFIED)"),
    ], fit={"responder_pfs_median_days": "pfs_median_month"}),
    # LocoMMotion: the prospective cohort of triple-class-exposed patients (a PI, an IMiD and an
    # anti-CD38 antibody before; progressing on the last line; ECOG 0-1) on the regimens of
    # everyday practice (91 regimens), 248 patients, median 4 prior lines (2-13). The registration
    # trials above enrolled patients before anti-CD38 exposure was usual, so their PFS is not a
    # triple-class-exposed patient's on the same drugs. The responders' median PFS is time to
    # response plus the median duration of response (7.4 months), and the non-responders' median
    # is solved on the median PFS (the other myeloma models assume it and solve the responders').
    calibrated_regimen(SocRegimen(
        "mm-real-world-locommotion", "real-world standard regimens in triple-class-exposed myeloma (LocoMMotion)", "mm",
        orr=0.319, cr_rate=0.01, response_day=56.0, nonresponder_progression_median_days=91.0,
        post_progression_median_days=365.0, nrm_1y=0.077, responder_pfs_median_days=56.0 + 7.4 * DAYS_PER_MONTH,
        sources=(
            SourceValue("orr", 0.319, 248, f"{_LOCOMMOTION}: ORR 31.9 % (95 % CI 26.1-38.0)", ci_low=0.261, ci_high=0.380,
                        verified=True),
            SourceValue("pfs_median_month", 4.6, 248, f"{_LOCOMMOTION}: median PFS 4.6 months (95 % CI 3.9-5.6)",
                        ci_low=3.9, ci_high=5.6, verified=True),
            SourceValue("os_median_month", 13.8, 248, f"{_LOCOMMOTION}: median OS 13.8 months (95 % CI 10.8-17.0)",
                        ci_low=10.8, ci_high=17.0, verified=True),
        ),
        assumptions=MappingProxyType({
            "response_day": _MM_ASSUMED["response_day"],
            "cr_rate": "assumption: 1 %; the source reports responses as 'neither deep nor durable' (CR share not read)",
            "responder_pfs_median_days": f"time to response (day 56, assumption) + median duration of response 7.4 months "
                                         f"(95 % CI 4.9-11.1; {_LOCOMMOTION})",
            "nonresponder_progression_median_days": "solved on the median PFS",
            "post_progression_median_days": "solved on the median OS",
            "nrm_1y": "Mateos MV et al. Leukemia 2022;36:1371-1376 (primary analysis): 19 of 248 patients died of adverse "
                      "events, ~1 year of follow-up (follow-up length UNVERIFIED): 7.7 % a year",
        })), fit={"nonresponder_progression_median_days": "pfs_median_month", "post_progression_median_days": "os_median_month"}),
]

# ---- toxicity of each regimen, from its own source ---------------------------------------
# Grade >= 3 adverse events as each source tabulates them for the arm the model stands for (the
# safety population: patients who received any study treatment). Every value is recalled from
# the publication, not read here (no copy at hand): "recalled" beside each; "low confidence"
# where the recollection is vague, to be checked first against the paper's table. Events a
# source reports but that are not recalled with any confidence are left out (not drawn: the
# endpoint then says "not modelled") rather than guessed. None of these comes from ZUMA-7,
# TRANSFORM, BELINDA, KarMMa-3 or CARTITUDE-4 (their results are the prediction test).
_CORAL_TOX = {
    "thrombocytopenia_grade3plus": {"rate": 0.80, "n": 396, "source": f"{_CORAL}, R-ICE and R-DHAP pooled, grade 3-4 toxicity "
                                    "of the salvage phase (toxicity table): thrombocytopenia R-ICE ~73 %, R-DHAP ~87 % (recalled, "
                                    "UNVERIFIED, low confidence)"},
    "infection_grade3plus": {"rate": 0.16, "n": 396, "source": f"{_CORAL}, R-ICE and R-DHAP pooled, grade 3-4 infection during "
                             "salvage ~16 % in either arm (toxicity table; recalled, UNVERIFIED, low confidence)"},
    "treatment_related_death": {"rate": 0.03, "n": 206, "among": "transplanted",
                                "source": f"{_CORAL}, patients who received BEAM + ASCT: treatment-related mortality ~3 % "
                                          "(recalled, UNVERIFIED, low confidence)"},
}
#: Grade >= 3 adverse events per regimen key, as plain data (:func:`adverse_events` checks it).
TOXICITY: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType({
    "lbcl-salvage-coral": _CORAL_TOX,
    # The early-relapse subgroup's toxicity is not reported apart: the whole CORAL population's.
    "lbcl-salvage-early-relapse": {k: {**v, "source": v["source"] + "; assumption: the early-relapse subgroup as the whole "
                                                                    "CORAL population (subgroup toxicity not reported)"}
                                   for k, v in _CORAL_TOX.items()},
    "lbcl-salvage-ly12-gdp": {
        "febrile_neutropenia_grade3plus": {"rate": 0.09, "n": 310, "source": f"{_LY12}, R-GDP arm: febrile neutropenia 9 % "
                                           "(R-DHAP 23 %) during salvage (abstract and toxicity table; recalled, UNVERIFIED)"},
    },
    # SCHOLAR-1 is a retrospective pooled analysis of survival: it reports no adverse events.
    "lbcl-refractory-scholar1": {},
    "mm-dpd": {
        "neutropenia_grade3plus": {"rate": 0.68, "n": 149, "source": f"{_APOLLO}, DPd arm, grade 3-4 treatment-emergent "
                                   "adverse events (abstract; safety table): neutropenia 101/149 (recalled, UNVERIFIED)"},
        "anaemia_grade3plus": {"rate": 0.17, "n": 149, "source": f"{_APOLLO}, DPd arm: anaemia 25/149 (recalled, UNVERIFIED)"},
        "thrombocytopenia_grade3plus": {"rate": 0.17, "n": 149, "source": f"{_APOLLO}, DPd arm: thrombocytopenia 26/149 "
                                        "(recalled, UNVERIFIED)"},
        "febrile_neutropenia_grade3plus": {"rate": 0.09, "n": 149, "source": f"{_APOLLO}, DPd arm: febrile neutropenia ~9 % "
                                           "(safety table; recalled, UNVERIFIED, low confidence)"},
        "infection_grade3plus": {"rate": 0.28, "n": 149, "source": f"{_APOLLO}, DPd arm: grade 3-4 infections ~28 % (safety "
                                 "table; recalled, UNVERIFIED, low confidence)"},
    },
    "mm-pvd": {
        "neutropenia_grade3plus": {"rate": 0.42, "n": 278, "source": f"{_OPTIMISMM}, PVd arm, grade 3-4 treatment-emergent "
                                   "adverse events (abstract; safety table): neutropenia 116/278 (recalled, UNVERIFIED)"},
        "infection_grade3plus": {"rate": 0.31, "n": 278, "source": f"{_OPTIMISMM}, PVd arm: infections 86/278 (recalled, UNVERIFIED)"},
        "thrombocytopenia_grade3plus": {"rate": 0.27, "n": 278, "source": f"{_OPTIMISMM}, PVd arm: thrombocytopenia 76/278 "
                                        "(recalled, UNVERIFIED)"},
        "treatment_related_death": {"rate": 0.029, "n": 278, "source": f"{_OPTIMISMM}, PVd arm: treatment-related deaths 8/278 "
                                    "(abstract; recalled, UNVERIFIED)"},
    },
    "mm-dvd": {
        "thrombocytopenia_grade3plus": {"rate": 0.453, "n": 243, "source": f"{_CASTOR}, DVd arm, grade 3-4 adverse events "
                                        "(abstract; safety table): thrombocytopenia 45.3 % (recalled, UNVERIFIED)"},
        "anaemia_grade3plus": {"rate": 0.144, "n": 243, "source": f"{_CASTOR}, DVd arm: anaemia 14.4 % (recalled, UNVERIFIED)"},
        "neutropenia_grade3plus": {"rate": 0.128, "n": 243, "source": f"{_CASTOR}, DVd arm: neutropenia 12.8 % (recalled, UNVERIFIED)"},
    },
    "mm-krd": {
        "neutropenia_grade3plus": {"rate": 0.296, "n": 392, "source": f"{_ASPIRE}, KRd arm, grade >= 3 adverse events (safety "
                                   "table): neutropenia 29.6 % (recalled, UNVERIFIED)"},
        "anaemia_grade3plus": {"rate": 0.179, "n": 392, "source": f"{_ASPIRE}, KRd arm: anaemia 17.9 % (recalled, UNVERIFIED)"},
        "thrombocytopenia_grade3plus": {"rate": 0.166, "n": 392, "source": f"{_ASPIRE}, KRd arm: thrombocytopenia 16.6 % "
                                        "(recalled, UNVERIFIED)"},
    },
    "mm-kd": {
        "anaemia_grade3plus": {"rate": 0.14, "n": 463, "source": f"{_ENDEAVOR}, Kd arm, grade >= 3 adverse events (abstract; "
                               "safety table): anaemia 67/463 (recalled, UNVERIFIED)"},
        "thrombocytopenia_grade3plus": {"rate": 0.08, "n": 463, "source": f"{_ENDEAVOR}, Kd arm: thrombocytopenia 39/463 "
                                        "(recalled, UNVERIFIED)"},
    },
    "mm-epd": {
        "neutropenia_grade3plus": {"rate": 0.13, "n": 60, "source": f"{_ELOQUENT3}, EPd arm, grade 3-4 haematologic adverse events "
                                   "(abstract): neutropenia 13 % (recalled, UNVERIFIED)"},
        "anaemia_grade3plus": {"rate": 0.10, "n": 60, "source": f"{_ELOQUENT3}, EPd arm: anaemia 10 % (recalled, UNVERIFIED)"},
    },
    "mm-ird": {
        "thrombocytopenia_grade3plus": {"rate": 0.19, "n": 361, "source": f"{_TOURMALINE}, IRd arm: thrombocytopenia grade 3 "
                                        "12 % + grade 4 7 % (abstract; recalled, UNVERIFIED)"},
    },
})

#: Standard-of-care regimen models by key (each with its toxicity).
REGIMENS: Mapping[str, SocRegimen] = MappingProxyType(
    {r.key: replace(r, toxicity=adverse_events(r.key, TOXICITY.get(r.key, {}))) for r in _REGIMENS})

#: Mixtures: an investigator's-choice arm draws each patient's regimen with these weights.
#: The weights are assumptions (equal shares of the regimens the protocol allowed): the shares
#: actually given are reported with the trials' results, which cartwin does not use.
MIXTURES: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "mm-karmma-3-choice": MappingProxyType({"mm-dpd": 0.2, "mm-dvd": 0.2, "mm-ird": 0.2, "mm-kd": 0.2, "mm-epd": 0.2}),
    "mm-cartitude-4-choice": MappingProxyType({"mm-pvd": 0.5, "mm-dpd": 0.5}),
})


def regimen_names() -> tuple[str, ...]:
    return (*REGIMENS, *MIXTURES)


def regimen_indication(key: str) -> str:
    return REGIMENS[key].indication if key in REGIMENS else REGIMENS[next(iter(MIXTURES[key]))].indication


def simulate_soc(key: str, patient_ids: np.ndarray, seed: int, horizon_days: float, post_progression=None) -> pd.DataFrame:
    """One row per patient of a standard-of-care arm: latent times (days from randomisation,
    censored only at ``horizon_days``), best response and regimen. Patient ``k``'s row depends
    only on ``(seed, k)`` (``comparator`` stream).

    ``post_progression`` (a :class:`cartwin.trial.post_progression.PostProgression`): survival
    after progression is drawn from it (a randomised trial: the same model as its CAR-T arm's),
    not from the regimen's own ``post_progression_median_days`` (which reproduces the regimen
    source's OS in its own era and population: :func:`regimen_table`); a patient then dies of
    non-relapse mortality if it comes before progression, else at progression plus the draw."""
    if key not in REGIMENS and key not in MIXTURES:
        raise ValidationError("regimen", "one of " + ", ".join(regimen_names()), key)
    ids = np.asarray(patient_ids, dtype=np.int64)
    u = uniforms(seed, ids, 8, "comparator") if ids.size else np.zeros((0, 8))
    if key in MIXTURES:
        names = list(MIXTURES[key])
        cum = np.cumsum([MIXTURES[key][k] for k in names])
        which = np.minimum(np.searchsorted(cum / cum[-1], u[:, 0], side="right"), len(names) - 1)
        chosen = np.array(names, dtype=object)[which]
    else:
        chosen = np.full(ids.size, key, dtype=object)
    out = {name: np.empty(ids.size) for name in ("efs_latent_day", "pfs_latent_day", "os_latent_day", "response_day")}
    resp = np.empty(ids.size, dtype=object)
    consolidated = np.zeros(ids.size, bool)
    expo = -np.log1p(-np.clip(u[:, 3:7], 0.0, 1 - 1e-16))  # unit exponentials
    for name in set(chosen):
        m = chosen == name
        r = REGIMENS[name]
        ur = u[m, 1]
        cr = ur < r.cr_rate
        responder = ur < r.orr
        resp[m] = np.where(cr, "CR", np.where(responder, "PR", "SD"))
        nrm = expo[m, 0] / _nrm_rate(r)
        pp = expo[m, 1] * r.post_progression_median_days / math.log(2.0)
        if r.form == "myeloma":
            med = np.where(responder, r.responder_pfs_median_days, r.nonresponder_progression_median_days)
            prog = expo[m, 2] * med / math.log(2.0)
            efs_nr = np.full(m.sum(), np.inf)
            cons = np.zeros(m.sum(), bool)
        else:
            cons = responder & (u[m, 2] < r.consolidation_given_response)
            cured = cons & (u[m, 7] < r.cure_given_consolidation)
            med = np.where(responder, r.responder_relapse_median_days, r.nonresponder_progression_median_days)
            prog = np.where(cured, np.inf, r.response_day + expo[m, 2] * med / math.log(2.0))
            efs_nr = np.where(responder, np.inf, r.response_day)
        if post_progression is not None:
            from cartwin.trial.post_progression import death_after

            after = death_after(post_progression, np.where(np.isfinite(prog), prog, np.nan), ids[m], seed)
            death = np.where(nrm < prog, nrm, after)
        else:
            death = np.minimum(nrm, prog + pp)
        pfs = np.minimum(prog, death)
        out["pfs_latent_day"][m] = pfs
        out["efs_latent_day"][m] = np.minimum(pfs, efs_nr)
        out["os_latent_day"][m] = death
        out["response_day"][m] = np.where(responder, r.response_day, np.nan)
        consolidated[m] = cons
        # A patient who dies before the assessment is not evaluable.
        dead_first = death < r.response_day
        resp[np.flatnonzero(m)[dead_first]] = "NE"
    table = pd.DataFrame({"patient_id": ids, "regimen": chosen.astype(str), "best_response": resp,
                          "consolidated": consolidated, **out})
    table["progression_latent_day"] = table["pfs_latent_day"]
    tox = draw_toxicity(chosen.astype(str), consolidated, ids, seed)
    for event in TOXICITY_EVENTS:
        table[event] = tox[event]
    return table


def draw_toxicity(regimens: np.ndarray, transplanted: np.ndarray, patient_ids: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Per patient and event of :data:`TOXICITY_EVENTS`: 1.0 with the event, 0.0 without, NaN
    where the patient's regimen's source does not report it (not modelled). ``regimens``: each
    patient's regimen key; ``transplanted``: whether he received HDCT/ASCT (a rate ``among``
    the transplanted is 0.0 for the others). Patient ``k``'s draws depend only on ``(seed, k)``
    (``comparator`` stream, substream :data:`TOXICITY_SUBSTREAM`), one uniform per event in the
    catalogue's order; febrile neutropenia reads neutropenia's uniform, so it is a subset of it."""
    ids = np.asarray(patient_ids, dtype=np.int64)
    regimens = np.asarray(regimens, dtype=object)
    transplanted = np.asarray(transplanted, dtype=bool)
    events = list(TOXICITY_EVENTS)
    u = np.empty((ids.size, len(events)))
    for i, rng in enumerate(patient_generators(seed, ids, "comparator", substream=TOXICITY_SUBSTREAM)):
        u[i] = rng.random(len(events))
    column = {e: j for j, e in enumerate(events)}
    column["febrile_neutropenia_grade3plus"] = column["neutropenia_grade3plus"]
    out = {e: np.full(ids.size, np.nan) for e in events}
    for name in dict.fromkeys(regimens.tolist()):
        if name not in REGIMENS:
            raise ValidationError("regimen", "one of " + ", ".join(REGIMENS), name)
        m = regimens == name
        for ae in REGIMENS[name].toxicity:
            hit = u[m, column[ae.event]] < ae.rate
            if ae.among == "transplanted":
                hit &= transplanted[m]
            out[ae.event][m] = hit.astype(float)
    return out


def regimen_toxicity_table() -> pd.DataFrame:
    """Every regimen's grade >= 3 adverse-event rates with their sources (docs/comparative.md)."""
    rows = [{"regimen": r.key, "event": ae.event, "rate": ae.rate, "n": ae.n, "among": ae.among, "recalled": ae.recalled,
             "source": ae.source} for r in REGIMENS.values() for ae in r.toxicity]
    return pd.DataFrame(rows, columns=["regimen", "event", "rate", "n", "among", "recalled", "source"])


def regimen_table() -> pd.DataFrame:
    """Every regimen's calibration sources beside the model's expected value (docs/validation.md)."""
    rows: list[dict[str, Any]] = []
    for r in REGIMENS.values():
        for s in r.sources:
            lo, hi = s.interval()
            model = soc_expected(r, s.endpoint, s.day)
            rows.append({"regimen": r.key, "endpoint": s.endpoint if s.day is None else f"{s.endpoint} day {s.day:g}",
                         "published": s.value, "ci_low": lo, "ci_high": hi, "model": model, "source": s.source})
    return pd.DataFrame(rows)
