"""Survival after progression in a randomised trial: one model per indication and line, both arms.

A patient of either arm who progresses (or, in the CAR-T arm, is never infused) goes on to the
same later-line care, whichever arm he was randomised to; his survival from that day is drawn
from the trial's post-progression model. The only asymmetry between arms after progression is
the one the design makes: protocol crossover (a standard-of-care patient who receives the
CAR-T arm's product, :mod:`cartwin.trial.comparative`).

Before this module the CAR-T arm used :mod:`cartwin.trial.outcomes`' post-progression median
(LBCL 155 days, after CAR-T failure in third line and later) and the standard-of-care arm a
median solved on each regimen source's OS (CORAL early relapse: ~16 months, that era's later
lines included): an asymmetry of the model, not of the therapies, that drove the OS HR above 1.

The form: a share ``long_term_fraction`` of progressors survives long term (a background
mortality ``long_term_mortality_1y`` a year), the rest die at an exponential rate:

    S(t) = c exp(-h t) + (1 - c) exp(-ln 2 t / m),   t = days since progression,

with ``c`` and ``m`` solved so that the source's median and landmark are reproduced (closed-form
root finding, :func:`post_progression_model`). Models (values recalled, UNVERIFIED):

* ``lbcl-refractory-scholar1`` — refractory LBCL on salvage therapy without cellular therapy:
  SCHOLAR-1, Crump M et al. Blood 2017;130:1800-1808, 523 patients (refractory to first- or
  later-line chemotherapy or relapse <= 12 months after ASCT; MDACC, Mayo/Iowa, and the
  refractory patients of CORAL and LY.12), OS from the start of salvage: median 6.3 months,
  2-year 20 %. It is the population a second-line patient of either arm becomes at progression
  (refractory to his second-line therapy); its pooled trials include CORAL's and LY.12's own
  salvage failures. Survival after CAR-T failure (Spiegel JY et al. Blood 2021;137:1832, median
  5.1 months) agrees with it to about a month.
* ``mm-triple-class-exposed-locommotion`` — triple-class-exposed myeloma on real-world standard
  care: LocoMMotion, Mateos MV et al. Leukemia 2024;38:2554-2560 (final analysis), 248 patients
  (>= 3 prior lines or double-refractory, triple-class exposed), median OS 13.8 months (the primary
  analysis, Leukemia 2022;36:1371, had 12.4; used until 2026-12-08); exponential (no long-term
  survivors in relapsed myeloma: ``c`` = 0). KarMMa-3's progressors (2-4 prior regimens, triple-
  class exposed, one more line) are this population; CARTITUDE-4's (1-3 prior lines,
  lenalidomide-refractory, after PVd/DPd or cilta-cel) are a line earlier and mostly triple-class
  exposed after it: *assumption* that LocoMMotion stands for them too (it biases both arms alike).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

import numpy as np
from scipy import optimize

from cartwin.foundation.errors import ValidationError
from cartwin.foundation.streams import patient_generators

DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25
#: Substream of the ``comparator`` purpose that post-progression draws come from.
SUBSTREAM = 3


@dataclass(frozen=True)
class PostProgression:
    """Survival from progression: a long-term share ``long_term_fraction`` with background
    mortality, the rest exponential with median ``median_days`` (module docstring)."""

    key: str
    label: str
    indication: str
    median_days: float
    long_term_fraction: float
    long_term_mortality_1y: float
    source: str
    targets: tuple[tuple[str, float, float], ...] = ()  # (endpoint, day, value): what it reproduces
    assumptions: Mapping[str, str] = field(default_factory=dict)

    @property
    def _rates(self) -> tuple[float, float]:
        return math.log(2.0) / self.median_days, -math.log(1.0 - self.long_term_mortality_1y) / DAYS_PER_YEAR

    def survival(self, t_days) -> np.ndarray:
        """S(t) at days since progression."""
        lam, h = self._rates
        t = np.asarray(t_days, dtype=float)
        c = self.long_term_fraction
        return c * np.exp(-h * t) + (1.0 - c) * np.exp(-lam * t)

    def draw(self, u: np.ndarray) -> np.ndarray:
        """Days from progression to death for uniforms ``u`` of shape (n, 2): the first picks the
        long-term share, the second the time (inverse of the exponential)."""
        lam, h = self._rates
        u = np.asarray(u, dtype=float)
        e = -np.log1p(-np.clip(u[:, 1], 0.0, 1.0 - 1e-16))
        long_term = u[:, 0] < self.long_term_fraction
        return np.where(long_term, e / h if h > 0 else np.inf, e / lam)


def _solve(key: str, label: str, indication: str, median_month: float, landmark: tuple[float, float] | None,
           mortality_1y: float, source: str, assumptions: Mapping[str, str]) -> PostProgression:
    """Solve ``long_term_fraction`` and ``median_days`` so S(median) = 1/2 and S(landmark day) = value."""
    med = median_month * DAYS_PER_MONTH
    if landmark is None:
        return PostProgression(key, label, indication, med, 0.0, mortality_1y, source, (("os_median_month", med, 0.5),),
                               MappingProxyType(dict(assumptions)))
    day, value = landmark

    def model(c: float) -> PostProgression:
        # Given c, the exponential median that puts S(med) at 1/2.
        h = -math.log(1.0 - mortality_1y) / DAYS_PER_YEAR
        rest = (0.5 - c * math.exp(-h * med)) / (1.0 - c)
        lam = -math.log(rest) / med
        return PostProgression(key, label, indication, math.log(2.0) / lam, c, mortality_1y, source,
                               (("os_median_month", med, 0.5), ("os_at", day, value)), MappingProxyType(dict(assumptions)))

    c = optimize.brentq(lambda c: float(model(c).survival(day)) - value, 0.0, 0.49)
    return model(c)


@cache
def _models() -> Mapping[str, PostProgression]:
    scholar = _solve(
        "lbcl-refractory-scholar1", "refractory LBCL on salvage therapy without cellular therapy (SCHOLAR-1)", "lbcl",
        6.3, (2 * DAYS_PER_YEAR, 0.20), 0.05,
        "Crump M et al. Blood 2017;130:1800-1808 (SCHOLAR-1): median OS 6.3 months, 2-year OS 20 % from the start of "
        "salvage for refractory disease (UNVERIFIED)",
        {"long_term_mortality_1y": "assumption: long-term survivors (responders consolidated by transplant) die at 5 % a year, "
                                   "the non-relapse mortality of the LBCL salvage models",
         "line": "a second-line patient of either arm who progresses is refractory to his second-line therapy: SCHOLAR-1's population"})
    loco = _solve(
        "mm-triple-class-exposed-locommotion", "triple-class-exposed myeloma on real-world standard care (LocoMMotion)", "mm",
        13.8, None, 0.0,
        "Mateos MV et al. Leukemia 2024;38:2554-2560 (LocoMMotion final analysis, abstract): median OS 13.8 months "
        "(95 % CI 10.8-17.0) in 248 triple-class-exposed patients on real-world standard care (until 2026-12-08 the "
        "primary analysis's 12.4 months, Leukemia 2022;36:1371)",
        {"form": "exponential: no long-term survivors in relapsed myeloma",
         "line": "assumption: stands for progressors after 1-4 prior lines who are triple-class exposed after their trial line"})
    return MappingProxyType({m.key: m for m in (scholar, loco)})


#: The model a randomised trial uses when its ``[randomisation]`` names none.
DEFAULT_BY_INDICATION: Mapping[str, str] = MappingProxyType({
    "lbcl": "lbcl-refractory-scholar1", "mm": "mm-triple-class-exposed-locommotion"})


def model_names() -> tuple[str, ...]:
    return tuple(_models())


def post_progression_model(key: str) -> PostProgression:
    """The model ``key`` (see :func:`model_names`)."""
    models = _models()
    if key not in models:
        raise ValidationError("protocol.randomisation.post_progression", "one of " + ", ".join(models), key)
    return models[key]


def model_for(indication: str, key: str = "") -> PostProgression | None:
    """The trial's model: ``key`` if given, else the indication's default (None where there is none)."""
    if key:
        return post_progression_model(key)
    return _models()[DEFAULT_BY_INDICATION[indication]] if indication in DEFAULT_BY_INDICATION else None


def trial_model(protocol) -> PostProgression | None:
    """The model of a randomised protocol (its ``[randomisation] post_progression``, else the
    indication's default): looked up once per trial and passed to each arm's simulation."""
    return model_for(protocol.trial.indication, protocol.randomisation.post_progression)


def death_after(model: PostProgression, progression_day: np.ndarray, patient_ids: np.ndarray, seed: int) -> np.ndarray:
    """Day of death (same clock as ``progression_day``) of patients who progressed on that day
    (``inf`` where they did not); the draw of patient ``k`` depends only on ``(seed, k)``."""
    prog = np.asarray(progression_day, dtype=float)
    ids = np.asarray(patient_ids, dtype=np.int64)
    out = np.full(prog.size, np.inf)
    if ids.size == 0:
        return out
    u = np.empty((ids.size, 2))
    for i, rng in enumerate(patient_generators(seed, ids, "comparator", substream=SUBSTREAM)):
        u[i] = rng.random(2)
    finite = np.isfinite(prog)
    out[finite] = prog[finite] + model.draw(u[finite])
    return out
