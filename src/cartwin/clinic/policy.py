"""Management policies: what the care team gives, decided at the engine's decision points.

A policy is a small stateful object called as ``policy(t_day, observables, y)`` by the engine
(:class:`~cartwin.engine.DecisionPoints`); it grades the bedside picture (noise-free
:func:`~cartwin.clinic.observe.bedside`, ASTCT grades from
:func:`~cartwin.clinic.bedside_grades.assess`) and returns doses. Its ``log`` records
every dose (patient, day, drug, mg) for the result tables. Make a fresh policy per run.

Default, :class:`ConsensusPolicy`, follows published consensus practice:

* tocilizumab 8 mg/kg IV (max 800 mg) for CRS grade >= 2, or grade 1 with fever lasting more
  than 3 days; repeated after 8 h if CRS persists; at most 3 doses in 24 h and 4 in total
  (ACTEMRA USPI 2017 CRS indication; Neelapu SS et al. Nat Rev Clin Oncol 2018;15:47-62;
  Santomasso BD et al. J Clin Oncol 2021;39:3978-3992, ASCO guideline);
* corticosteroids for ICANS grade >= 2 or CRS grade >= 3 as a course
  (:mod:`cartwin.clinic.steroids`): dexamethasone 10 mg IV every 6 h, 20 mg every 6 h for ICANS
  grade >= 3, methylprednisolone 1 g/day for 3 days for ICANS grade 4, continued until CRS and
  ICANS are grade <= 1, then tapered over a few days (same sources; Hayden PJ et al. Ann Oncol
  2022;33:259); at most ``steroids.max_treatment_days`` at treatment dose per course (second-line
  agents for steroid-refractory toxicity, e.g. anakinra, are not modelled).

Every policy that gives steroids (all but :class:`NoTreatment`) gives them as such a course; the
policies differ in the grades that start one (``dex_from_icans_grade``, ``dex_from_crs_grade``).

:class:`SevereOnly` (``severe-crs-only``) is management as JULIET and ELIANA practised it
(tocilizumab and steroids for severe toxicity only). :class:`PennChop` (``penn-chop``) gives
tocilizumab from Penn grade 3, which is ASTCT grade 2 at the bedside. That is closer to ELIANA's
tocilizumab use, but the preset does not use it (see the class). :class:`Lee2014` (``lee-2014``,
ZUMA-1's) adds tocilizumab at CRS grade 2 for older patients. Each preset names the policy its
trial used.

Alternatives for comparison: :class:`NoTreatment`, :class:`ProphylacticTocilizumab`
(tocilizumab on day 2 whatever the grade; ZUMA-1 cohort 3, Locke FL et al. Blood
2017;130(Suppl 1):1547) and :class:`EarlySteroids` (dexamethasone from CRS/ICANS grade 1;
ZUMA-1 cohort 4, Topp MS et al. Br J Haematol 2021;195:388).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cartwin.clinic.bedside_grades import assess
from cartwin.clinic.observe import DEFAULT_MAPPING, BedsideMapping
from cartwin.clinic.steroids import METHYLPRED_MG_PER_DEX_MG, SteroidCourses, SteroidPlan
from cartwin.engine.events import Dose
from cartwin.foundation.constraints import Interval, check, check_array

POLICIES = ("astct-consensus", "severe-crs-only", "penn-chop", "lee-2014", "prophylactic-tocilizumab", "early-steroids", "none")


@dataclass
class ConsensusPolicy:
    """Consensus management (see module docstring). ``weight_kg``: one value per patient.

    Tocilizumab: ``toci_mg_per_kg`` (mg/kg, at most ``toci_max_mg`` mg), repeats
    ``toci_repeat_after_day`` days apart. Steroids start at ICANS grade >= ``dex_from_icans_grade``
    or CRS grade >= ``dex_from_crs_grade``, continue until both are grade <= ``dex_taper_at_grade``
    and are dosed by ``steroids`` (a
    :class:`~cartwin.clinic.steroids.SteroidPlan`: doses in mg, intervals in hours, taper in days).
    """

    weight_kg: np.ndarray | float = 70.0
    mapping: BedsideMapping = DEFAULT_MAPPING
    toci_mg_per_kg: float = 8.0
    toci_max_mg: float = 800.0
    toci_max_doses: int = 4
    toci_max_per_24h: int = 3
    toci_repeat_after_day: float = 8.0 / 24.0
    toci_from_crs_grade: int = 2
    toci_after_fever_days: float = 3.0
    dex_from_icans_grade: int = 2
    dex_from_crs_grade: int = 3
    dex_taper_at_grade: int = 1
    steroids: SteroidPlan = field(default_factory=SteroidPlan)
    name: str = "astct-consensus"
    log: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.weight_kg = check_array("policy.weight_kg", np.atleast_1d(self.weight_kg), Interval(2.0, 400.0))
        check("policy.toci_mg_per_kg", self.toci_mg_per_kg, Interval(0.0, 20.0))
        check("policy.dex_from_icans_grade", self.dex_from_icans_grade, Interval(1, 5, integer=True))
        check("policy.dex_from_crs_grade", self.dex_from_crs_grade, Interval(1, 5, integer=True))
        check("policy.dex_taper_at_grade", self.dex_taper_at_grade, Interval(0, 4, integer=True))
        if not isinstance(self.steroids, SteroidPlan):
            from cartwin.foundation.errors import ValidationError

            raise ValidationError("policy.steroids", "a cartwin.clinic.steroids.SteroidPlan", self.steroids)
        self._state = None

    # -- state per patient, made on the first call (the batch size is known then) ----------
    def _init(self, n: int) -> None:
        self._state = {
            # Days of the tocilizumab doses given, per patient (-inf: slot unused); at most
            # toci_max_doses are ever given.
            "toci_days": np.full((n, max(1, self.toci_max_doses)), -np.inf),
            "steroid_course": SteroidCourses(self.steroids, n),
            "fever_since": np.full(n, np.nan),
            "steroids_given": np.zeros(n, dtype=bool),
        }

    def _record(self, patients: np.ndarray, t: float, drug: str, mg: np.ndarray) -> None:
        for i in patients:
            self.log.append({"patient_id": int(i), "day": float(t), "drug": drug, "mg": float(mg[i])})

    def treatments(self) -> pd.DataFrame:
        return pd.DataFrame(self.log, columns=["patient_id", "day", "drug", "mg"])

    def __call__(self, t: float, observables: dict, y: np.ndarray) -> list[Dose]:
        n = y.shape[1]
        if self._state is None:
            self._init(n)
        if t < 0:
            return []
        st = self._state
        toci_given = np.isfinite(st["toci_days"]).any(axis=1)
        crs, icans, febrile = assess(observables, toci_given, st["steroids_given"], self.mapping)
        st["fever_since"] = np.where(febrile, np.where(np.isnan(st["fever_since"]), t, st["fever_since"]), np.nan)
        return self.decide(t, crs, icans, febrile, n)

    def wants_tocilizumab(self, t, crs, icans, febrile):
        long_fever = febrile & (t - np.nan_to_num(self._state["fever_since"], nan=t) >= self.toci_after_fever_days)
        return (crs >= self.toci_from_crs_grade) | ((crs >= 1) & long_fever)

    def wants_steroids(self, t, crs, icans):
        return (icans >= self.dex_from_icans_grade) | (crs >= self.dex_from_crs_grade)

    def decide(self, t, crs, icans, febrile, n) -> list[Dose]:
        st = self._state
        doses: list[Dose] = []
        want = self.wants_tocilizumab(t, crs, icans, febrile)
        days = st["toci_days"]
        given = np.isfinite(days).sum(axis=1)
        in_24h = (t - days < 1.0 - 1e-9).sum(axis=1)
        last = days.max(axis=1)
        allowed = ((given < self.toci_max_doses) & (in_24h < self.toci_max_per_24h)
                   & ((given == 0) | (t - last >= self.toci_repeat_after_day - 1e-9)))
        give = np.flatnonzero(want & allowed)
        if give.size:
            mg = np.minimum(self.toci_mg_per_kg * np.broadcast_to(self.weight_kg, (n,)), self.toci_max_mg)
            amount = np.zeros(n)
            amount[give] = mg[give]
            days[give, given[give]] = t
            self._record(give, t, "tocilizumab", amount)
            doses.append(Dose(t, "toci_central", amount, "tocilizumab"))
        course = st["steroid_course"]
        # Started at the policy's grades, treatment continues until CRS and ICANS are grade <=
        # dex_taper_at_grade (Neelapu 2018 CARTOX; Santomasso 2021: "continue corticosteroids
        # until improvement to grade 1"), then tapers; re-escalation during a taper needs the
        # starting grades again.
        held = course.active & ~course.tapering
        need = self.wants_steroids(t, crs, icans) | (held & ((crs > self.dex_taper_at_grade) | (icans > self.dex_taper_at_grade)))
        dex_mg, methylpred_mg = course.step(t, need, icans)
        for drug, mg, per_dex_mg in (("dexamethasone", dex_mg, 1.0), ("methylprednisolone", methylpred_mg,
                                                                       METHYLPRED_MG_PER_DEX_MG)):
            give = np.flatnonzero(mg)
            if give.size:
                st["steroids_given"][give] = True
                self._record(give, t, drug, mg)
                # The model has one corticosteroid compartment: dexamethasone-equivalent mg.
                doses.append(Dose(t, "dex_central", mg / per_dex_mg, drug))
        return doses


@dataclass
class NoTreatment(ConsensusPolicy):
    """No anti-cytokine or steroid treatment (comparison arm)."""

    name: str = "none"

    def decide(self, t, crs, icans, febrile, n):
        return []


@dataclass
class ProphylacticTocilizumab(ConsensusPolicy):
    """Tocilizumab on day 2 whatever the grade, then consensus management."""

    prophylaxis_day: float = 2.0
    name: str = "prophylactic-tocilizumab"

    def wants_tocilizumab(self, t, crs, icans, febrile):
        base = super().wants_tocilizumab(t, crs, icans, febrile)
        return base | (abs(t - self.prophylaxis_day) < 1e-9)


@dataclass
class SevereOnly(ConsensusPolicy):
    """Management as the first pivotal trials practised it (2014-2017): tocilizumab for severe
    CRS only, steroids for grade >= 3 neurotoxicity or life-threatening CRS.

    This is JULIET as practised, and the ELIANA preset's. JULIET followed the Penn/CHOP algorithm, tocilizumab for Penn
    grade 3-4 CRS (Porter DL et al. J Hematol Oncol 2018;11:35), but gave it to 14 % of infused
    patients (Schuster SJ et al. NEJM 2019;380:45), fewer than the 23 % who reached Penn grade 3.
    Mapped onto the ASTCT grades the policy reads: tocilizumab from CRS grade 3 (no
    prolonged-fever rule), dexamethasone from ICANS grade 3 or CRS grade 4. ZUMA-1's Lee 2014
    algorithm (tocilizumab at grade 2 too for older patients) is :class:`Lee2014`. ELIANA also
    runs this policy; :class:`PennChop` is closer to its tocilizumab use.
    """

    toci_from_crs_grade: int = 3
    toci_after_fever_days: float = float("inf")
    dex_from_icans_grade: int = 3
    dex_from_crs_grade: int = 4
    name: str = "severe-crs-only"


@dataclass
class PennChop(SevereOnly):
    """The Penn/CHOP algorithm as ELIANA practised it: tocilizumab for Penn grade 3-4 CRS
    (Porter DL et al. J Hematol Oncol 2018;11:35; Maude SL et al. NEJM 2018;378:439), steroids
    for CRS that tocilizumab does not control and for grade >= 3 neurotoxicity.

    Penn grade 3 is hypotension treated with fluids or low-dose vasopressors, or any supplemental
    oxygen; in cartwin's bedside mapping that begins at ASTCT grade 2. So tocilizumab starts at
    ASTCT grade 2 (there is no prolonged-fever rule), and dexamethasone starts at ASTCT grade 3
    CRS, which under tocilizumab means refractory CRS, or at ICANS grade 3. ELIANA gave
    tocilizumab to 51 % of its patients with CRS (KYMRIAH USPI, W&P 5.1: 31/61), close to its
    Penn grade >= 3 share. This policy gives 53 % there (v2.3 factors); :class:`SevereOnly`
    (tocilizumab from ASTCT grade 3) gives 22 %. JULIET, on the same algorithm on paper, gave
    tocilizumab to 14 % of infused patients, fewer than its 23 % at Penn grade >= 3.

    The ELIANA preset still runs ``severe-crs-only``. Its joint refit under this policy was no
    better: objective 199.4 against 197.8, and fresh seed 43/53 against 44 (docs/model.md, v2.4).
    The policy is here for users who model Penn/CHOP practice.
    """

    toci_from_crs_grade: int = 2
    dex_from_crs_grade: int = 3
    name: str = "penn-chop"


@dataclass
class Lee2014(SevereOnly):
    """The Lee 2014 algorithm as ZUMA-1 cohorts 1+2 followed it (Lee DW et al. Blood
    2014;124:188, treatment algorithm; Neelapu SS et al. NEJM 2017;377:2531, protocol in the
    supplement): :class:`SevereOnly`, and tocilizumab already at CRS grade 2 for patients with
    extensive comorbidities or older age.

    ``age_years``: one value per patient. "Older" is age over ``older_than_years`` (60: the
    International Prognostic Index's age factor, Shipp MA et al. NEJM 1993;329:987; Lee 2014
    names no age, so the cut is an *assumption*). Comorbidity is not a covariate of the virtual
    populations, so only age opens the grade-2 rule (an *assumption*: the trials enrolled ECOG
    0-1 patients with adequate organ function). Without it the algorithm gives tocilizumab to
    fewer patients than ZUMA-1 did (27 % simulated against 45 % published, Neelapu 2017;
    docs/validation.md, "Not fitted").
    """

    age_years: np.ndarray | float | None = None
    older_than_years: float = 60.0
    name: str = "lee-2014"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.age_years is None:
            from cartwin.foundation.errors import ValidationError

            raise ValidationError("policy.age_years", "each patient's age in years: the lee-2014 policy gives "
                                  f"tocilizumab at CRS grade 2 to patients older than {self.older_than_years:g}", None)
        self.age_years = check_array("policy.age_years", np.atleast_1d(np.asarray(self.age_years, dtype=float)), Interval(0.0, 130.0))
        check("policy.older_than_years", self.older_than_years, Interval(0.0, 130.0))

    def wants_tocilizumab(self, t, crs, icans, febrile):
        older = np.broadcast_to(self.age_years > self.older_than_years, crs.shape)
        return super().wants_tocilizumab(t, crs, icans, febrile) | (older & (crs >= 2))


@dataclass
class EarlySteroids(ConsensusPolicy):
    """Dexamethasone from CRS or ICANS grade 1 (earlier than consensus)."""

    dex_from_icans_grade: int = 1
    dex_from_crs_grade: int = 1
    name: str = "early-steroids"


def doses_given(treatments: pd.DataFrame | None, patient_ids) -> pd.DataFrame:
    """Per patient (0 where none was given): ``tocilizumab_doses``, ``dexamethasone_doses``,
    ``methylprednisolone_doses`` and ``dexamethasone_mg``, the cumulative corticosteroid dose in
    dexamethasone-equivalent mg (methylprednisolone / :data:`~cartwin.clinic.steroids.METHYLPRED_MG_PER_DEX_MG`,
    as Strati P et al. Blood 2021;137:3272 report exposure)."""
    out = pd.DataFrame({"patient_id": np.asarray(patient_ids)})
    out["dexamethasone_mg"] = 0.0
    for drug, per_dex_mg in (("tocilizumab", None), ("dexamethasone", 1.0), ("methylprednisolone", METHYLPRED_MG_PER_DEX_MG)):
        if treatments is not None and len(treatments):
            given = treatments[treatments["drug"] == drug].groupby("patient_id")
            counts, mg = given.size(), given["mg"].sum() if "mg" in treatments else pd.Series(dtype=float)
        else:
            counts, mg = pd.Series(dtype=int), pd.Series(dtype=float)
        out[f"{drug}_doses"] = out["patient_id"].map(counts).fillna(0).astype(int)
        if per_dex_mg is not None:
            out["dexamethasone_mg"] += out["patient_id"].map(mg).fillna(0.0).astype(float) / per_dex_mg
    return out[["patient_id", "tocilizumab_doses", "dexamethasone_doses", "methylprednisolone_doses", "dexamethasone_mg"]]


def make_policy(name: str, weight_kg, age_years=None) -> ConsensusPolicy:
    """A fresh policy by name (one of :data:`POLICIES`). ``age_years`` (one per patient) is
    needed by ``lee-2014`` and ignored by the others."""
    from cartwin.foundation.errors import ValidationError

    classes = {
        "astct-consensus": ConsensusPolicy,
        "severe-crs-only": SevereOnly,
        "penn-chop": PennChop,
        "lee-2014": Lee2014,
        "prophylactic-tocilizumab": ProphylacticTocilizumab,
        "early-steroids": EarlySteroids,
        "none": NoTreatment,
    }
    if name not in classes:
        raise ValidationError("management.policy", "one of " + ", ".join(POLICIES), name)
    if name == "lee-2014":
        return Lee2014(weight_kg=weight_kg, age_years=age_years)
    return classes[name](weight_kg=weight_kg)
