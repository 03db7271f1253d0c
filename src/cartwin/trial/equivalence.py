"""Endpoint equivalence: does a faster engine setting give the trial a tight reference gives?

Issue #25's accuracy target for engine settings (tolerances, methods, model shortcuts): on the
*same* patients, a candidate run is **endpoint-equivalent** to a reference run (rtol 1e-8) when

* every endpoint of :data:`cartwin.trial.endpoints.ENDPOINTS` (rates, medians, Kaplan-Meier
  landmarks and medians, kinetics), in both analysis sets, differs from the reference's estimate
  by at most ``max_ci_fraction`` (0.1) x the half-width of the reference's 95 % CI, and
* at least ``min_grade_agreement`` (99.9 %) of the infused patients have identical per-patient
  maximum grades (every ``crs_max_grade_*`` and ``icans_max_grade_*`` column).

The first criterion scales the tolerance with what a trial of that size can resolve: a
difference a tenth of the CI's half-width cannot change a conclusion the CI supports. The
second guards what the CI of a rate hides in a large cohort (grades that move in both
directions). An endpoint whose reference CI has zero width (a count; a median on a discrete
day grid with all order statistics on one day) must match exactly; an endpoint estimated in one
run and not in the other (a median reached in one only) fails.

Example
-------
>>> from cartwin.trial.equivalence import endpoint_equivalence
>>> (report,), reference = endpoint_equivalence("zuma-1", n=2000, candidates=[{"rtol": 1e-4}])  # doctest: +SKIP
>>> report.passed, report.worst_endpoint, report.grade_agreement  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartwin.foundation.errors import ValidationError
from cartwin.trial.endpoints import SETS

#: The accuracy target of issue #25.
MAX_CI_FRACTION = 0.1
MIN_GRADE_AGREEMENT = 0.999
REFERENCE_RTOL = 1e-8
_GRADE_COLUMN = re.compile(r"^(crs|icans)_max_grade_")


@dataclass(frozen=True)
class EndpointDifference:
    """One endpoint of one analysis set: the estimates, the reference's CI half-width and
    ``ratio`` = |candidate - reference| / half-width (0 when equal, inf when a zero-width CI or
    a missing estimate is not matched)."""

    set: str
    endpoint: str
    reference: float | None
    candidate: float | None
    half_width: float | None
    ratio: float


@dataclass
class EquivalenceReport:
    """The comparison of a candidate trial with its reference (see module docstring)."""

    endpoints: list[EndpointDifference]
    grade_agreement: float
    patients_compared: int
    grade_columns: list[str]
    max_ci_fraction: float = MAX_CI_FRACTION
    min_grade_agreement: float = MIN_GRADE_AGREEMENT
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def worst(self) -> EndpointDifference | None:
        return max(self.endpoints, key=lambda d: d.ratio) if self.endpoints else None

    @property
    def worst_ratio(self) -> float:
        return self.worst.ratio if self.endpoints else 0.0

    @property
    def worst_endpoint(self) -> str | None:
        return None if self.worst is None else f"{self.worst.set}.{self.worst.endpoint}"

    @property
    def endpoints_pass(self) -> bool:
        return self.worst_ratio <= self.max_ci_fraction

    @property
    def grades_pass(self) -> bool:
        return self.grade_agreement >= self.min_grade_agreement

    @property
    def passed(self) -> bool:
        return self.endpoints_pass and self.grades_pass

    def failing(self) -> list[EndpointDifference]:
        return [d for d in self.endpoints if d.ratio > self.max_ci_fraction]

    def summary(self) -> dict[str, Any]:
        """A one-line JSON-able summary (worst endpoint, grade agreement, pass/fail)."""
        worst = self.worst
        return {
            **self.settings,
            "passed": self.passed, "endpoints_pass": self.endpoints_pass, "grades_pass": self.grades_pass,
            "worst_endpoint": self.worst_endpoint, "worst_ratio": _round(self.worst_ratio),
            "worst_reference": None if worst is None else worst.reference,
            "worst_candidate": None if worst is None else worst.candidate,
            "failing_endpoints": [f"{d.set}.{d.endpoint}" for d in self.failing()],
            "grade_agreement": round(self.grade_agreement, 6), "patients_compared": self.patients_compared,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "max_ci_fraction": self.max_ci_fraction, "min_grade_agreement": self.min_grade_agreement,
                "grade_columns": self.grade_columns,
                "endpoints": [{**asdict(d), "ratio": _round(d.ratio)} for d in self.endpoints]}


def _round(x: float) -> float | str:
    return "inf" if math.isinf(x) else float(f"{x:.4g}")


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _half_width(entry: Mapping[str, Any]) -> float | None:
    """Half the reference CI's width; with one bound missing (a KM band not closed), the
    distance from the estimate to the other bound."""
    est, low, high = (_number(entry.get(k)) for k in ("estimate", "ci_low", "ci_high"))
    if low is not None and high is not None:
        return (high - low) / 2.0
    if est is not None and (low is not None or high is not None):
        return abs(est - (low if low is not None else high))
    return None


def _ratio(ref: float | None, cand: float | None, half_width: float | None) -> float:
    if ref is None or cand is None:
        return 0.0 if ref is None and cand is None else math.inf
    diff = abs(cand - ref)
    if diff == 0.0:
        return 0.0
    if half_width is None or half_width <= 0.0:
        return math.inf
    return diff / half_width


def _grade_agreement(reference: pd.DataFrame, candidate: pd.DataFrame) -> tuple[float, int, list[str]]:
    ref = reference[reference["infused"].astype(bool)].set_index("patient_id")
    cand = candidate[candidate["infused"].astype(bool)].set_index("patient_id")
    if set(ref.index) != set(cand.index):
        raise ValidationError("candidate", "a trial of the reference's infused patients (same protocol, n and seed)",
                              f"{len(cand)} infused patients, {len(set(ref.index) ^ set(cand.index))} not in both")
    columns = sorted(c for c in ref.columns if _GRADE_COLUMN.match(c))
    if not len(ref):
        return 1.0, 0, columns
    cand = cand.loc[ref.index]
    same = np.ones(len(ref), dtype=bool)
    for c in columns:
        a = pd.to_numeric(ref[c], errors="coerce").to_numpy(float)
        b = pd.to_numeric(cand[c], errors="coerce").to_numpy(float)
        same &= (a == b) | (np.isnan(a) & np.isnan(b))
    return float(same.mean()), len(ref), columns


def compare_results(reference_patients: pd.DataFrame, reference_endpoints: Mapping[str, Any],
                    candidate_patients: pd.DataFrame, candidate_endpoints: Mapping[str, Any], *,
                    max_ci_fraction: float = MAX_CI_FRACTION, min_grade_agreement: float = MIN_GRADE_AGREEMENT,
                    settings: Mapping[str, Any] | None = None) -> EquivalenceReport:
    """Compare two trials of the same patients: their per-patient tables and their endpoints
    (:func:`cartwin.trial.endpoints.compute_endpoints`). See the module docstring."""
    if list(reference_patients["patient_id"]) != list(candidate_patients["patient_id"]):
        raise ValidationError("candidate", "a trial of the reference's patients (same protocol, n and seed)",
                              f"{len(candidate_patients)} patients against the reference's {len(reference_patients)}")
    rows = []
    for group in SETS:
        ref_set, cand_set = reference_endpoints[group], candidate_endpoints[group]
        for name, entry in ref_set.items():
            if not isinstance(entry, Mapping) or "estimate" not in entry:
                continue
            ref, cand = _number(entry.get("estimate")), _number(cand_set.get(name, {}).get("estimate"))
            hw = _half_width(entry)
            rows.append(EndpointDifference(group, name, ref, cand, hw, _ratio(ref, cand, hw)))
    agreement, n, columns = _grade_agreement(reference_patients, candidate_patients)
    return EquivalenceReport(rows, agreement, n, columns, max_ci_fraction, min_grade_agreement, dict(settings or {}))


def compare_trials(reference, candidate, **kwargs) -> EquivalenceReport:
    """:func:`compare_results` of two :class:`~cartwin.trial.runner.TrialResult`."""
    return compare_results(reference.patients, reference.endpoints, candidate.patients, candidate.endpoints, **kwargs)


def endpoint_equivalence(protocol, n: int, seed: int = 1, candidates: list[Mapping[str, Any]] | None = None, *,
                         reference: Mapping[str, Any] | None = None, **run_kwargs) -> tuple[list[EquivalenceReport], dict]:
    """Run ``protocol`` once with the ``reference`` settings (default rtol 1e-8) and once per
    candidate (each a dict of :func:`~cartwin.trial.runner.run_trial` keywords, e.g.
    ``{"rtol": 1e-4}`` or ``{"solver": NumbaRosenbrock(method="rodas4"), "rtol": 1e-5}``), on
    the same ``n`` patients and ``seed``; returns one report per candidate (its ``settings``
    hold the candidate's wall seconds) and the reference's wall seconds under ``"seconds"``."""
    from cartwin.trial.runner import run_trial

    reference = {"rtol": REFERENCE_RTOL, **(reference or {})}
    t = time.perf_counter()
    ref = run_trial(protocol, n=n, seed=seed, **run_kwargs, **reference)
    ref_info = {"seconds": round(time.perf_counter() - t, 2), **_describe(reference)}
    reports = []
    for settings in candidates or [{"rtol": 1e-6}]:
        t = time.perf_counter()
        cand = run_trial(protocol, n=n, seed=seed, **run_kwargs, **settings)
        seconds = time.perf_counter() - t
        reports.append(compare_trials(ref, cand, settings={**_describe(settings), "seconds": round(seconds, 2)}))
    return reports, ref_info


def _describe(settings: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in settings.items():
        out[k] = getattr(v, "name", v) if k == "solver" else v
    return out
