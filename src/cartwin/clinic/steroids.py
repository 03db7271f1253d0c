"""Corticosteroid courses for CRS and ICANS: treatment dose, taper, methylprednisolone pulse.

A course, per patient, as the guidelines describe it:

* **treatment**: dexamethasone 10 mg IV every 6 h for ICANS grade 2 (or CRS the policy treats
  with steroids), 20 mg every 6 h for ICANS grade >= 3, continued while the patient still needs
  it (Neelapu SS et al. Nat Rev Clin Oncol 2018;15:47, CARTOX; Santomasso BD et al. J Clin Oncol
  2021;39:3978, ASCO guideline: "continue corticosteroids until improvement to grade 1");
* **taper** once CRS and ICANS are grade <= 1: one step down a dose ladder every
  ``taper_step_days`` -- from 20 mg q6h to 10 mg q6h, then 10 mg q12h, 10 mg q24h and 5 mg
  q24h, halving the daily dose at each step, then stop. The guidelines ask for a rapid taper
  "as clinically appropriate" (Santomasso 2021) over a few days (Hayden PJ et al. Ann Oncol
  2022;33:259, EBMT/JACIE/EHA); the halving ladder and its 2-day steps are this model's
  assumption (no guideline fixes the steps);
* **methylprednisolone pulse** for ICANS grade 4: 1,000 mg IV daily for 3 days, then 250 mg
  q12h for 2 days, 125 mg q12h for 2 days, 60 mg q12h for 2 days (Hayden 2022, ICANS table, as
  tabulated in J Clin Med 2023;12:6124, Table 1; Santomasso 2021: methylprednisolone 1,000 mg/day
  for grade 4). If the patient still needs
  steroids when the 3 pulse days end, dexamethasone treatment follows instead of the taper;
* **re-escalation**: a patient whose toxicity returns to a treated grade during the taper goes
  back to the treatment dose (the course continues);
* **cap**: at most ``max_treatment_days`` of treatment-dose steroids per course. A patient still
  needing steroids then is steroid-refractory: the course tapers and no new course starts until
  the toxicity has fallen to grade <= 1 once. Practice adds anakinra or siltuximab for
  steroid-refractory ICANS (Hayden 2022; Santomasso 2021) rather than weeks of dexamethasone every
  6 h; **second-line agents are not modelled**: a refractory patient's toxicity runs its course
  without them.

Every dose goes into the model's dexamethasone compartment; methylprednisolone as its
dexamethasone-equivalent amount, :data:`METHYLPRED_MG_PER_DEX_MG` mg methylprednisolone = 1 mg
dexamethasone (0.75 mg dexamethasone = 4 mg methylprednisolone: Liu D et al. Allergy Asthma Clin
Immunol 2013;9:30, Table 1; Meikle AW & Tyler FH. Am J Med 1977;63:200). Methylprednisolone's own
kinetics (half-life ~2-3 h, shorter than dexamethasone's) are not modelled.

The doses are only given at the engine's decision points (every 6 h to day 28, daily to day 90,
weekly after: :func:`cartwin.trial.cohort._decision_days`): a q6h or q12h dose after day 28 is
given once a day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.errors import ValidationError

#: mg methylprednisolone with the glucocorticoid potency of 1 mg dexamethasone (4 / 0.75):
#: Liu D et al. Allergy Asthma Clin Immunol 2013;9:30, Table 1 (equivalent doses).
METHYLPRED_MG_PER_DEX_MG = 4.0 / 0.75

_EPS = 1e-9


@dataclass(frozen=True)
class DoseLevel:
    """One rung of a steroid ladder: ``mg`` every ``every_hours`` hours."""

    mg: float
    every_hours: float

    def __post_init__(self) -> None:
        check("steroids.dose_level.mg", self.mg, Interval(0.0, 2000.0, low_open=True))
        check("steroids.dose_level.every_hours", self.every_hours, Interval(1.0, 168.0))

    @property
    def mg_per_day(self) -> float:
        return self.mg * 24.0 / self.every_hours


def _levels(name: str, value) -> tuple[DoseLevel, ...]:
    """A ladder from DoseLevels or (mg, every_hours) pairs; errors name the rung."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValidationError(name, "a list of (mg, every_hours) pairs", value)
    out = []
    for i, v in enumerate(value):
        if isinstance(v, DoseLevel):
            out.append(v)
            continue
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
            raise ValidationError(f"{name}[{i}]", "an (mg, every_hours) pair", v)
        check(f"{name}[{i}].mg", v[0], Interval(0.0, 2000.0, low_open=True))
        check(f"{name}[{i}].every_hours", v[1], Interval(1.0, 168.0))
        out.append(DoseLevel(float(v[0]), float(v[1])))
    if not out:
        raise ValidationError(name, "at least one (mg, every_hours) step", value)
    return tuple(out)


@dataclass(frozen=True)
class SteroidPlan:
    """How a steroid course is dosed (see the module docstring for sources).

    Doses in mg, intervals in hours, durations in days. ``dex_taper`` and
    ``methylpred_taper`` are ladders of :class:`DoseLevel` (or ``(mg, every_hours)`` pairs),
    highest first; each rung lasts ``taper_step_days`` (``methylpred_taper_step_days``).
    ``methylpred_from_icans_grade = 5`` turns the pulse off.
    """

    dex_mg: float = 10.0
    dex_high_mg: float = 20.0
    dex_every_hours: float = 6.0
    dex_high_from_icans_grade: int = 3
    dex_taper: tuple = ((10.0, 12.0), (10.0, 24.0), (5.0, 24.0))
    taper_step_days: float = 2.0
    max_treatment_days: float = 7.0
    methylpred_from_icans_grade: int = 4
    methylpred_pulse_mg: float = 1000.0
    methylpred_pulse_days: float = 3.0
    methylpred_taper: tuple = ((250.0, 12.0), (125.0, 12.0), (60.0, 12.0))
    methylpred_taper_step_days: float = 2.0

    def __post_init__(self) -> None:
        check("steroids.dex_mg", self.dex_mg, Interval(0.0, 200.0, low_open=True))
        check("steroids.dex_high_mg", self.dex_high_mg, Interval(0.0, 200.0, low_open=True))
        check("steroids.dex_every_hours", self.dex_every_hours, Interval(1.0, 48.0))
        check("steroids.dex_high_from_icans_grade", self.dex_high_from_icans_grade, Interval(1, 5, integer=True))
        check("steroids.taper_step_days", self.taper_step_days, Interval(0.0, 30.0, low_open=True))
        check("steroids.max_treatment_days", self.max_treatment_days, Interval(0.0, 365.0, low_open=True))
        check("steroids.methylpred_from_icans_grade", self.methylpred_from_icans_grade, Interval(1, 5, integer=True))
        check("steroids.methylpred_pulse_mg", self.methylpred_pulse_mg, Interval(0.0, 2000.0, low_open=True))
        check("steroids.methylpred_pulse_days", self.methylpred_pulse_days, Interval(0.0, 14.0, low_open=True))
        check("steroids.methylpred_taper_step_days", self.methylpred_taper_step_days, Interval(0.0, 30.0, low_open=True))
        object.__setattr__(self, "dex_taper", _levels("steroids.dex_taper", self.dex_taper))
        object.__setattr__(self, "methylpred_taper", _levels("steroids.methylpred_taper", self.methylpred_taper))
        if self.dex_high_mg < self.dex_mg:
            raise ValidationError("steroids.dex_high_mg", f">= steroids.dex_mg ({self.dex_mg:g} mg)", self.dex_high_mg)

    # The dexamethasone ladder: [high, standard, *taper]; methylprednisolone: [pulse, *taper].
    @property
    def dex_ladder(self) -> tuple[DoseLevel, ...]:
        return (DoseLevel(self.dex_high_mg, self.dex_every_hours), DoseLevel(self.dex_mg, self.dex_every_hours),
                *self.dex_taper)

    @property
    def methylpred_ladder(self) -> tuple[DoseLevel, ...]:
        return (DoseLevel(self.methylpred_pulse_mg, 24.0), *self.methylpred_taper)


DEX, METHYLPRED = 0, 1


@dataclass
class SteroidCourses:
    """The steroid course of every patient in a batch (arrays over patients).

    ``active``: on a course; ``drug``: :data:`DEX` or :data:`METHYLPRED` ladder; ``level``: rung
    of that ladder (0 = highest); ``tapering``: stepping down (else held at a treatment rung);
    ``level_since_day``: when the rung began; ``last_dose_day``; ``treated_days``: days held at
    treatment rungs in this course; ``pulsed``: this course had its methylprednisolone pulse
    (one per course); ``refractory``: capped, no new course until grade <= 1; ``courses_capped``:
    how many of the patient's courses reached ``max_treatment_days``.

    Example: ICANS grade 3 at day 1 (20 mg), improved by day 1.25 (taper: 10 mg q6h for 2 days)::

        >>> courses = SteroidCourses(SteroidPlan(), n=2)
        >>> courses.step(1.0, need=np.array([True, False]), icans=np.array([3, 0]))
        (array([20.,  0.]), array([0., 0.]))
        >>> courses.step(1.25, need=np.array([False, False]), icans=np.array([1, 0]))
        (array([10.,  0.]), array([0., 0.]))
        >>> courses.level.tolist(), courses.tapering.tolist()
        ([1, 0], [True, False])
    """

    plan: SteroidPlan
    n: int
    active: np.ndarray = field(init=False)
    drug: np.ndarray = field(init=False)
    level: np.ndarray = field(init=False)
    tapering: np.ndarray = field(init=False)
    level_since_day: np.ndarray = field(init=False)
    last_dose_day: np.ndarray = field(init=False)
    treated_days: np.ndarray = field(init=False)
    pulsed: np.ndarray = field(init=False)
    refractory: np.ndarray = field(init=False)
    courses_capped: np.ndarray = field(init=False)
    last_call_day: float = field(init=False, default=-np.inf)

    def __post_init__(self) -> None:
        n = self.n
        self.active = np.zeros(n, dtype=bool)
        self.drug = np.full(n, DEX, dtype=np.int8)
        self.level = np.zeros(n, dtype=np.int64)
        self.tapering = np.zeros(n, dtype=bool)
        self.level_since_day = np.full(n, -np.inf)
        self.last_dose_day = np.full(n, -np.inf)
        self.treated_days = np.zeros(n)
        self.pulsed = np.zeros(n, dtype=bool)
        self.refractory = np.zeros(n, dtype=bool)
        self.courses_capped = np.zeros(n, dtype=np.int64)
        dex, mp = self.plan.dex_ladder, self.plan.methylpred_ladder
        width = max(len(dex), len(mp))
        # (drug, level) -> mg, interval (days), rung length while tapering (days).
        self._mg = np.zeros((2, width))
        self._every = np.full((2, width), np.inf)
        self._length = np.array([[self.plan.taper_step_days] * width, [self.plan.methylpred_taper_step_days] * width])
        self._length[METHYLPRED, 0] = self.plan.methylpred_pulse_days
        self._last = np.array([len(dex) - 1, len(mp) - 1])
        for d, ladder in ((DEX, dex), (METHYLPRED, mp)):
            for k, lv in enumerate(ladder):
                self._mg[d, k], self._every[d, k] = lv.mg, lv.every_hours / 24.0
        # Dexamethasone-equivalent mg/day of each rung (to tell an escalation from a step down).
        self._dex_eq_per_day = self._mg / self._every / np.array([[1.0], [METHYLPRED_MG_PER_DEX_MG]])

    def step(self, t: float, need: np.ndarray, icans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance every course to day ``t`` and return the doses due now: (dexamethasone mg,
        methylprednisolone mg), one value per patient (0: none).

        ``need``: the policy wants steroids now (its grade thresholds); ``icans``: ICANS grade.
        """
        p = self.plan
        need = np.asarray(need, dtype=bool)
        icans = np.asarray(icans)
        dt = t - self.last_call_day if np.isfinite(self.last_call_day) else 0.0
        self.last_call_day = t
        held = self.active & ~self.tapering
        self.treated_days[held] += dt

        # A refractory patient is not treated again until the toxicity has resolved once.
        self.refractory &= need
        need = need & ~self.refractory

        pulse = self.active & (self.drug == METHYLPRED) & (self.level == 0)
        pulse_over = pulse & (t - self.level_since_day >= self._length[METHYLPRED, 0] - _EPS)
        in_pulse = pulse & ~pulse_over

        # Cap: treatment-dose steroids for max_treatment_days -> refractory, taper from here.
        capped = held & ~in_pulse & need & (self.treated_days >= p.max_treatment_days - _EPS)
        self.refractory |= capped
        self.courses_capped += capped
        need = need & ~capped

        # Start or escalate: the methylprednisolone pulse for ICANS >= its grade (once per
        # course), else the dexamethasone treatment rung for the ICANS grade. A finished pulse
        # hands a patient who still needs treatment over to dexamethasone.
        want_mp = need & (icans >= p.methylpred_from_icans_grade) & ~self.pulsed & ~in_pulse
        self.treated_days[need & ~self.active] = 0.0
        self._enter(want_mp, METHYLPRED, 0, t)
        self.pulsed |= want_mp
        dex_rung = np.where(icans >= p.dex_high_from_icans_grade, 0, 1)
        to_dex = need & ~want_mp & ~in_pulse & (
            ~self.active | self.tapering | (self.drug == METHYLPRED) | (self.level != dex_rung))
        self._enter(to_dex, DEX, dex_rung, t)

        # Improvement (or cap): leave a treatment rung at once, one rung down, then taper; the
        # pulse always runs its days.
        improved = self.active & ~self.tapering & ~need & ~in_pulse
        self.level[improved] += 1
        self.level_since_day[improved] = t
        self.tapering[improved] = True
        # Tapering: one rung down every step; past the last rung the course ends.
        length = self._length[self.drug, np.minimum(self.level, self._length.shape[1] - 1)]
        down = self.active & self.tapering & ~improved & (t - self.level_since_day >= length - _EPS)
        self.level[down] += 1
        self.level_since_day[down] = t
        ended = self.active & (self.level > self._last[self.drug])
        self.active[ended] = False
        self.tapering[ended] = False
        self.level[ended] = 0
        self.pulsed[ended] = False

        level = np.minimum(self.level, self._mg.shape[1] - 1)
        every = self._every[self.drug, level]
        due = self.active & (t - self.last_dose_day >= every - _EPS)
        mg = np.where(due, self._mg[self.drug, level], 0.0)
        self.last_dose_day[due] = t
        is_mp = self.drug == METHYLPRED
        return np.where(is_mp, 0.0, mg), np.where(is_mp, mg, 0.0)

    def _enter(self, mask: np.ndarray, drug: int, level, t: float) -> None:
        if not mask.any():
            return
        level = np.broadcast_to(np.asarray(level), mask.shape)
        # A rung of higher dexamethasone-equivalent daily dose is given at once; a lower one
        # keeps the interval from the last dose.
        now = np.where(self.active, self._dex_eq_per_day[self.drug, np.minimum(self.level, self._mg.shape[1] - 1)], 0.0)
        escalate = mask & (self._dex_eq_per_day[drug, level] > now + _EPS)
        self.last_dose_day[escalate] = -np.inf
        self.active[mask] = True
        self.drug[mask] = drug
        self.level[mask] = level[mask]
        self.tapering[mask] = False
        self.level_since_day[mask] = t
