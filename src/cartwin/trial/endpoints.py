"""Trial endpoints with 95 % confidence intervals, from a one-row-per-patient table.

Input: a ``patients`` table (:data:`PATIENT_COLUMNS`), one row per *enrolled* patient. Every
endpoint is computed for two analysis sets: **itt** (all enrolled; patients never infused count
as non-responders and as free of toxicity) and **infused** (``infused == True``).

Definitions (``best_response`` categories: CR, CRi, sCR, VGPR, PR, SD, NR, PD, NE; empty/None
for patients without an assessment):

* ``orr`` — objective response: best response in {sCR, CR, CRi, VGPR, PR}. Lugano: CR + PR;
  IMWG: sCR + CR + VGPR + PR; ALL: CR + CRi ("overall remission rate").
* ``cr_rate`` — best response in {sCR, CR, CRi} (IMWG "CR or better"; ALL CR + CRi).
* ``mrd_neg_rate`` — ``mrd_negative`` true over the whole set (missing counts as not negative).
* ``crs_any`` / ``crs_grade3plus`` — ``crs_max_grade_<scale>`` >= 1 / >= 3; same for ICANS.
* ``crs_onset_median_day``, ``icans_onset_median_day`` — median onset among patients with the
  event; ``tmax_median_day``, ``cmax_median``, ``auc0_28_median`` — medians over patients with a
  finite value. CI: distribution-free order-statistic interval (binomial, conservative).
* ``tocilizumab_rate``, ``steroid_rate`` — any dose during the course.
* ``pfs_median_month``, ``os_median_month`` — Kaplan–Meier median (lifelines), months of
  30.4375 days; CI from lifelines' log(-log) pointwise band (``median_survival_times``).
  ``pfs_12m``, ``os_12m`` — KM survival at 365.25 days with the same band. ``dor_median_month``
  — KM median of ``dor_day`` among responders with ``pfs_event`` as the event.
* ``neutropenia_grade3plus_d28`` / ``_d90``, ``thrombocytopenia_grade3plus_d28`` / ``_d90`` —
  CTCAE v5.0 grade >= 3 on that day; ``icaht_early_grade3plus``, ``icaht_late_grade3plus`` —
  EHA/EBMT ICAHT grade >= 3 (:func:`haematotoxicity_endpoints`): rates among patients with a value
  (optional columns of :func:`cartwin.clinic.toxicity.haematotoxicity_course`).
* ``enrolled``, ``infused`` — counts; the interval of ``infused`` is the Clopper–Pearson interval
  of the infused fraction times the number enrolled.

Rates use the exact Clopper–Pearson interval (Clopper & Pearson, Biometrika 1934;26:404).
Every entry is ``{"estimate", "ci_low", "ci_high", "n", "unit", "method"}`` (plus ``"k"`` for
rates); values that cannot be estimated (no patients, median not reached) are ``None``.

Example
-------
>>> from cartwin.trial.endpoints import clopper_pearson
>>> [round(v, 3) for v in clopper_pearson(5, 10)]
[0.187, 0.813]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cartwin.foundation.constraints import OneOf, check
from cartwin.foundation.errors import ValidationError

DAYS_PER_MONTH = 30.4375
SETS = ("itt", "infused")
SCALES = ("astct", "lee2014", "penn", "ctcae5")
RESPONSE_CATEGORIES = ("sCR", "CR", "CRi", "VGPR", "PR", "SD", "NR", "PD", "NE")
RESPONDERS = frozenset({"sCR", "CR", "CRi", "VGPR", "PR"})
COMPLETE = frozenset({"sCR", "CR", "CRi"})

#: Columns :func:`compute_endpoints` reads (``<scale>`` = each of :data:`SCALES` present; at least
#: the reporting scale's two columns are required). Units in names; days from infusion.
PATIENT_COLUMNS: Mapping[str, str] = {
    "patient_id": "int, unique",
    "arm": "str",
    "infused": "bool",
    "not_infused_reason": "str or None (None/empty when infused)",
    "best_response": "one of " + ", ".join(RESPONSE_CATEGORIES) + ", or None",
    "mrd_negative": "bool (missing = not negative)",
    "pfs_day": "float, time to progression/death or censoring",
    "pfs_event": "bool",
    "os_day": "float",
    "os_event": "bool",
    "dor_day": "float, NaN for non-responders",
    "crs_max_grade_<scale>": "int 0-5",
    "icans_max_grade_<scale>": "int 0-5",
    "crs_onset_day": "float, NaN without CRS",
    "crs_duration_day": "float, NaN without CRS",
    "icans_onset_day": "float, NaN without ICANS",
    "tocilizumab": "bool",
    "steroids": "bool",
    "cmax_copies_per_ug": "float, NaN when not infused",
    "tmax_day": "float",
    "auc0_28_day_copies_per_ug": "float",
}


@dataclass(frozen=True)
class EndpointDef:
    name: str
    kind: str  # rate | count | median | km_median | km_at
    unit: str
    definition: str


_DEFS = [
    EndpointDef("enrolled", "count", "patients", "patients enrolled (leukapheresed)"),
    EndpointDef("infused", "count", "patients", "patients infused"),
    EndpointDef("orr", "rate", "fraction", "best response sCR/CR/CRi/VGPR/PR"),
    EndpointDef("cr_rate", "rate", "fraction", "best response sCR/CR/CRi"),
    EndpointDef("mrd_neg_rate", "rate", "fraction", "MRD-negative at any assessment"),
    EndpointDef("crs_any", "rate", "fraction", "CRS grade >= 1 on the reporting scale"),
    EndpointDef("crs_grade3plus", "rate", "fraction", "CRS grade >= 3 on the reporting scale"),
    EndpointDef("icans_any", "rate", "fraction", "ICANS grade >= 1 on the reporting scale"),
    EndpointDef("icans_grade3plus", "rate", "fraction", "ICANS grade >= 3 on the reporting scale"),
    EndpointDef("crs_onset_median_day", "median", "day", "median CRS onset among patients with CRS"),
    EndpointDef("icans_onset_median_day", "median", "day", "median ICANS onset among patients with ICANS"),
    EndpointDef("tocilizumab_rate", "rate", "fraction", "any tocilizumab"),
    EndpointDef("steroid_rate", "rate", "fraction", "any corticosteroid"),
    EndpointDef("pfs_median_month", "km_median", "month", "Kaplan-Meier median PFS"),
    EndpointDef("pfs_12m", "km_at", "fraction", "Kaplan-Meier PFS at 12 months"),
    EndpointDef("os_median_month", "km_median", "month", "Kaplan-Meier median OS"),
    EndpointDef("os_12m", "km_at", "fraction", "Kaplan-Meier OS at 12 months"),
    EndpointDef("dor_median_month", "km_median", "month", "Kaplan-Meier median duration of response"),
    EndpointDef("cmax_median", "median", "copies/ug gDNA", "median transgene Cmax"),
    EndpointDef("tmax_median_day", "median", "day", "median transgene Tmax"),
    EndpointDef("auc0_28_median", "median", "day*copies/ug gDNA", "median transgene AUC0-28"),
]
#: Haematotoxicity (issue 24): rates among patients with a value (a count that day; an
#: assessable ICAHT grade), from the per-patient columns of
#: :func:`cartwin.clinic.toxicity.haematotoxicity_course`. Not counted: patients without one.
HAEMATOTOXICITY_ENDPOINTS: Mapping[str, tuple[str, str]] = {
    "neutropenia_grade3plus_d28": ("neutropenia_grade3plus_d28", "CTCAE v5.0 neutrophil count decreased grade >= 3 on day 28"),
    "neutropenia_grade3plus_d90": ("neutropenia_grade3plus_d90", "CTCAE v5.0 neutrophil count decreased grade >= 3 on day 90"),
    "thrombocytopenia_grade3plus_d28": ("thrombocytopenia_grade3plus_d28", "CTCAE v5.0 platelet count decreased grade >= 3 on day 28"),
    "thrombocytopenia_grade3plus_d90": ("thrombocytopenia_grade3plus_d90", "CTCAE v5.0 platelet count decreased grade >= 3 on day 90"),
    "icaht_early_grade3plus": ("icaht_early_grade3plus", "EHA/EBMT early ICAHT (days 0-30) grade >= 3"),
    "icaht_late_grade3plus": ("icaht_late_grade3plus", "EHA/EBMT late ICAHT (after day 30) grade >= 3"),
}
_DEFS += [EndpointDef(name, "rate", "fraction", text + " (among patients assessed)")
          for name, (_, text) in HAEMATOTOXICITY_ENDPOINTS.items()]
ENDPOINTS: Mapping[str, EndpointDef] = {d.name: d for d in _DEFS}


# ---- interval estimators ------------------------------------------------------------------
def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact binomial (Clopper–Pearson) interval for ``k`` successes in ``n`` trials."""
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ValidationError("k", f"an integer in [0, {n}]", k)
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (low, high)


def median_ci(values: Sequence[float], alpha: float = 0.05) -> tuple[float, float, float]:
    """Median and a distribution-free CI from order statistics (coverage >= 1 - alpha).

    The interval is ``[x_(r), x_(n+1-r)]`` (1-based order statistics) with the largest ``r``
    such that ``2 P(Binomial(n, 1/2) <= r - 1) <= alpha``; for ``n < 6`` no rank reaches 95 %
    and the interval is the sample range (coverage ``1 - 2^(1-n)``).
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    med = float(np.median(x))
    r = int(stats.binom.ppf(alpha / 2, n, 0.5))  # candidate rank
    while r >= 1 and 2.0 * stats.binom.cdf(r - 1, n, 0.5) > alpha:
        r -= 1
    while 2.0 * stats.binom.cdf(r, n, 0.5) <= alpha:
        r += 1
    r = max(r, 1)
    return (med, float(x[r - 1]), float(x[n - r]))


def _entry(estimate, low, high, n, unit, method, **extra) -> dict[str, Any]:
    def clean(v):
        if v is None:
            return None
        v = float(v)
        return v if math.isfinite(v) else None

    out = {"estimate": clean(estimate), "ci_low": clean(low), "ci_high": clean(high), "n": int(n), "unit": unit, "method": method}
    out.update(extra)
    return out


def _rate(mask: np.ndarray, unit: str = "fraction") -> dict[str, Any]:
    n = int(mask.size)
    k = int(mask.sum())
    lo, hi = clopper_pearson(k, n)
    return _entry(k / n if n else None, lo, hi, n, unit, "Clopper-Pearson exact", k=k)


def _median(values: np.ndarray, unit: str) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    med, lo, hi = median_ci(v)
    return _entry(med, lo, hi, v.size, unit, "median; order-statistic CI")


def _km(durations: np.ndarray, events: np.ndarray):
    from lifelines import KaplanMeierFitter

    ok = np.isfinite(durations)
    kmf = KaplanMeierFitter()
    kmf.fit(np.maximum(durations[ok], 0.0), event_observed=events[ok].astype(bool))
    return kmf, int(ok.sum())


def _km_median(durations: np.ndarray, events: np.ndarray) -> dict[str, Any]:
    from lifelines.utils import median_survival_times

    if not np.isfinite(durations).any():
        return _entry(None, None, None, 0, "month", "Kaplan-Meier median")
    kmf, n = _km(durations, events)
    med = kmf.median_survival_time_
    ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = float(ci.iloc[0, 0]), float(ci.iloc[0, 1])
    return _entry(med / DAYS_PER_MONTH, lo / DAYS_PER_MONTH, hi / DAYS_PER_MONTH, n, "month",
                  "Kaplan-Meier median (lifelines); log(-log) CI; None = not reached", events=int(np.asarray(events)[np.isfinite(durations)].sum()))


def _km_at(durations: np.ndarray, events: np.ndarray, day: float) -> dict[str, Any]:
    if not np.isfinite(durations).any():
        return _entry(None, None, None, 0, "fraction", "Kaplan-Meier")
    kmf, n = _km(durations, events)
    s = float(kmf.survival_function_at_times(day).iloc[0])
    band = kmf.confidence_interval_survival_function_
    row = band.loc[band.index <= day].iloc[-1]
    return _entry(s, row.iloc[0], row.iloc[1], n, "fraction", f"Kaplan-Meier at day {day:g} (lifelines); log(-log) CI")


# ---- the table check --------------------------------------------------------------------
def check_patients(patients: pd.DataFrame, scale: str = "astct") -> None:
    """Raise :class:`ValidationError` naming the first missing column or bad value."""
    if scale not in SCALES:
        raise ValidationError("scale", "one of " + ", ".join(SCALES), scale)
    needed = [c for c in PATIENT_COLUMNS if "<scale>" not in c]
    needed += [f"crs_max_grade_{scale}", f"icans_max_grade_{scale}"]
    for col in needed:
        if col not in patients.columns:
            raise ValidationError(f"patients.{col}", "a column of the patients table (see cartwin.trial.endpoints.PATIENT_COLUMNS)", "missing")
    if patients["patient_id"].duplicated().any():
        raise ValidationError("patients.patient_id", "unique patient ids", int(patients["patient_id"][patients["patient_id"].duplicated()].iloc[0]))
    resp = patients["best_response"].dropna()
    resp = resp[resp != ""]
    bad = ~resp.isin(RESPONSE_CATEGORIES)
    if bad.any():
        raise ValidationError("patients.best_response", "one of " + ", ".join(RESPONSE_CATEGORIES), resp[bad].iloc[0])
    for col in (f"crs_max_grade_{scale}", f"icans_max_grade_{scale}"):
        g = patients[col].fillna(0).to_numpy(dtype=float)
        if ((g < 0) | (g > 5) | (g != np.round(g))).any():
            raise ValidationError(f"patients.{col}", "integer grades 0-5", float(g[(g < 0) | (g > 5) | (g != np.round(g))][0]))


def _bool(series: pd.Series) -> np.ndarray:
    return series.fillna(False).astype(bool).to_numpy()


def _set_endpoints(df: pd.DataFrame, scale: str, n_enrolled: int, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The endpoints ``names`` (default every one of :data:`ENDPOINTS`, in that order) of one set;
    each is computed only when asked for (a sensitivity design needs one, not the KM fits)."""
    resp = df["best_response"].fillna("").astype(str).to_numpy()
    crs = df[f"crs_max_grade_{scale}"].fillna(0).to_numpy(dtype=float)
    icans = df[f"icans_max_grade_{scale}"].fillna(0).to_numpy(dtype=float)
    infused = _bool(df["infused"])
    responders = np.isin(resp, list(RESPONDERS))

    def infused_count():
        n_inf = int(infused.sum())
        lo, hi = clopper_pearson(n_inf, n_enrolled)
        return _entry(n_inf, lo * n_enrolled, hi * n_enrolled, n_enrolled, "patients",
                      "count; CI = Clopper-Pearson on the infused fraction x enrolled")

    def km(kind, column, *args):
        d = df[f"{column}_day"].to_numpy(dtype=float)
        e = _bool(df[f"{column}_event"])
        return _km_median(d, e) if kind == "median" else _km_at(d, e, *args)

    pfs_e = lambda: _bool(df["pfs_event"])  # noqa: E731
    makers = {
        "enrolled": lambda: _entry(n_enrolled, n_enrolled, n_enrolled, n_enrolled, "patients", "count"),
        "infused": infused_count,
        "orr": lambda: _rate(responders),
        "cr_rate": lambda: _rate(np.isin(resp, list(COMPLETE))),
        "mrd_neg_rate": lambda: _rate(_bool(df["mrd_negative"])),
        "crs_any": lambda: _rate(crs >= 1),
        "crs_grade3plus": lambda: _rate(crs >= 3),
        "icans_any": lambda: _rate(icans >= 1),
        "icans_grade3plus": lambda: _rate(icans >= 3),
        "crs_onset_median_day": lambda: _median(df["crs_onset_day"].to_numpy(dtype=float)[crs >= 1], "day"),
        "icans_onset_median_day": lambda: _median(df["icans_onset_day"].to_numpy(dtype=float)[icans >= 1], "day"),
        "tocilizumab_rate": lambda: _rate(_bool(df["tocilizumab"])),
        "steroid_rate": lambda: _rate(_bool(df["steroids"])),
        "pfs_median_month": lambda: km("median", "pfs"),
        "pfs_12m": lambda: km("at", "pfs", 365.25),
        "os_median_month": lambda: km("median", "os"),
        "os_12m": lambda: km("at", "os", 365.25),
        "dor_median_month": lambda: _km_median(df["dor_day"].to_numpy(dtype=float)[responders], pfs_e()[responders]),
        "cmax_median": lambda: _median(df["cmax_copies_per_ug"].to_numpy(dtype=float)[infused], "copies/ug gDNA"),
        "tmax_median_day": lambda: _median(df["tmax_day"].to_numpy(dtype=float)[infused], "day"),
        "auc0_28_median": lambda: _median(df["auc0_28_day_copies_per_ug"].to_numpy(dtype=float)[infused], "day*copies/ug gDNA"),
    }
    for name in HAEMATOTOXICITY_ENDPOINTS:
        makers[name] = lambda name=name: haematotoxicity_endpoints(df, (name,))[name]
    wanted = tuple(ENDPOINTS) if names is None else tuple(names)
    return {name: makers[name]() for name in wanted}


def haematotoxicity_endpoints(df: pd.DataFrame, names: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Rates of :data:`HAEMATOTOXICITY_ENDPOINTS` (or those of ``names``) among the patients of
    ``df`` with a value; ``estimate`` None (n = 0) where the column is absent or no patient has one."""
    out = {}
    for name, (column, _) in HAEMATOTOXICITY_ENDPOINTS.items():
        if names is not None and name not in names:
            continue
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float) if column in df.columns else np.array([])
        values = values[np.isfinite(values)]
        entry = _rate(values >= 1.0)  # 0/1 indicators
        entry["method"] += "; among patients assessed"
        out[name] = entry
    return out


def compute_endpoints(patients: pd.DataFrame, scale: str = "astct", names: Sequence[str] | None = None) -> dict[str, Any]:
    """Every endpoint of :data:`ENDPOINTS` (or only those of ``names``) for the ITT and infused sets.

    Returns ``{"scale": scale, "itt": {name: entry}, "infused": {name: entry}}`` — the content of
    ``endpoints.json``. ``scale`` picks the ``crs_max_grade_<scale>`` / ``icans_max_grade_<scale>``
    columns.
    """
    check_patients(patients, scale)
    if names is not None:
        for name in names:
            check("names", name, OneOf(tuple(ENDPOINTS)))
    n = len(patients)
    infused = patients[_bool(patients["infused"])]
    return {
        "scale": scale,
        "itt": _set_endpoints(patients, scale, n, names),
        "infused": _set_endpoints(infused, scale, n, names),
    }


def toxicity_by_scale(patients: pd.DataFrame) -> pd.DataFrame:
    """Rates of CRS/ICANS any grade and grade >= 3 among infused patients, one row per scale present."""
    inf = patients[_bool(patients["infused"])]
    rows = []
    for scale in SCALES:
        for tox in ("crs", "icans"):
            col = f"{tox}_max_grade_{scale}"
            if col not in inf:
                continue
            g = inf[col].fillna(0).to_numpy(dtype=float)
            for label, mask in (("any", g >= 1), ("grade3plus", g >= 3)):
                e = _rate(mask)
                rows.append({"scale": scale, "toxicity": tox, "level": label, "rate": e["estimate"], "ci_low": e["ci_low"], "ci_high": e["ci_high"], "n": e["n"]})
    return pd.DataFrame(rows)


def summarise_replicates(replicates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Trial-to-trial spread over replicate endpoint dicts (from :func:`compute_endpoints`).

    For each set and endpoint: ``mean``, ``sd``, ``p2_5``, ``median``, ``p97_5`` of the replicate
    estimates, and ``n_replicates`` (estimates that were defined, e.g. a median reached).
    """
    if not replicates:
        raise ValidationError("replicates", "a non-empty list of endpoint dicts", replicates)
    out: dict[str, Any] = {"scale": replicates[0].get("scale"), "n_replicates": len(replicates)}
    for s in SETS:
        out[s] = {}
        for name in ENDPOINTS:
            vals = np.array([r[s][name]["estimate"] for r in replicates if r[s][name]["estimate"] is not None], dtype=float)
            if vals.size == 0:
                out[s][name] = {"mean": None, "sd": None, "p2_5": None, "median": None, "p97_5": None, "n_replicates": 0}
                continue
            out[s][name] = {
                "mean": float(vals.mean()),
                "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
                "p2_5": float(np.percentile(vals, 2.5)),
                "median": float(np.median(vals)),
                "p97_5": float(np.percentile(vals, 97.5)),
                "n_replicates": int(vals.size),
            }
    return out
