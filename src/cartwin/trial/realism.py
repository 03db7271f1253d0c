"""Clinical-realism checks of a simulated trial: would a haematologist believe these patients?

Each check reads the per-patient table of a :class:`~cartwin.trial.runner.TrialResult` (infused
patients) and compares one quantity with a published value or a stated physiological bound.
Two kinds:

* **Every preset** (:data:`GENERAL_CHECKS`): bounded CAR-T expansion, toxicity that starts in
  the first weeks and ends, no late peaks, cumulative steroid doses in the range seen in
  practice, no NaN or negative cell counts.
* **Per trial** (``data/clinical_realism.csv``, one row per preset and quantity with its
  source): CRS and ICANS onset and duration, B-cell aplasia, cytopenias at day 28, the share of
  relapses that are antigen-negative, kinetics, and tocilizumab and corticosteroid use under the
  trial's own management algorithm. The criterion is written in the row (a
  published 95 % CI from the reported proportion and n, or a factor around a published
  median); it was fixed before the model was run against it.

:func:`realism_table` returns one tidy row per check (simulated value, criterion, published
value, source, pass/fail); ``scripts/generate_realism.py`` writes it into docs/validation.md and
``tests/trial/test_clinical_realism.py`` asserts it. Published values come from
``../shared/reference/pivotal_trials.csv`` and the sources named in each row; results of the
randomised trials held out for prediction (ZUMA-7, TRANSFORM, BELINDA, KarMMa-3, CARTITUDE-4)
are never used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

#: Physiological ceiling for CAR-T cells in blood (cells/µL): an order of magnitude above the
#: highest peaks reported in the CD19 pivotal trials (ZUMA-1 up to ~1.5 x 10^3 /µL, ZUMA-2
#: ~2.6 x 10^3 /µL: YESCARTA / TECARTUS USPI section 12.3, UNVERIFIED recalls in
#: docs/validation.md) and a tenth of hyperleukocytosis, > 10^5 leukocytes/µL (Röllig C &
#: Ehninger G. Blood 2015;125:3246).
CAR_T_PEAK_BOUND_PER_UL = 1e4
#: B-cell aplasia: CD19+ B cells below ~1 % of lymphocytes, about 20 cells/µL at ~2,000
#: lymphocytes/µL (the usual flow-cytometric definition, e.g. Maude SL et al. NEJM 2018;378:439).
B_CELL_APLASIA_BELOW_PER_UL = 20.0
#: Largest cumulative dexamethasone-equivalent dose among steroid-treated axi-cel patients,
#: and the median (186 mg, range 8-1,803): Strati P et al. Blood 2021;137:3272.
DEX_MAX_MG, DEX_MEDIAN_MG = 1803.0, 186.0


@dataclass(frozen=True)
class Check:
    """One realism check: ``measure(infused) -> value``; passes when ``low <= value <= high``."""

    name: str
    description: str
    measure: Callable[[pd.DataFrame], float]
    low: float
    high: float
    published: str
    source: str


def _share(mask) -> float:
    mask = np.asarray(mask, dtype=bool)
    return float(mask.mean()) if mask.size else float("nan")


def _grade(p: pd.DataFrame, column: str) -> np.ndarray:
    return p[column].fillna(0).to_numpy(float)


def _late_icans2(p):
    return _share(p["icans_grade2plus_last_day"].fillna(-1).to_numpy(float) > 60.0)


def _late_crs(p):
    return _share(p["crs_last_day"].fillna(-1).to_numpy(float) > 30.0)


def _late_grade3(syndrome):
    def measure(p):
        overall = _grade(p, f"{syndrome}_max_grade_astct") >= 3
        early = _grade(p, f"{syndrome}_max_grade_by_day28") >= 3
        return float(overall.mean() - early.mean()) if len(p) else float("nan")
    return measure


def _non_finite_or_negative(p):
    columns = [c for c in p.columns if c.startswith(("cmax_", "b_cells_", "igg_", "anc_", "platelets_", "car_t_", "tumor_"))]
    values = p[columns].to_numpy(float)
    bad = ~np.isfinite(values) | (values < 0)
    # Laboratory values past the follow-up are NaN by design (none here: two years > day 365).
    return float(bad.sum())


def _dex_treated(p):
    mg = p["dexamethasone_mg"].to_numpy(float)
    return mg[mg > 0]


def _dex_median(p):
    mg = _dex_treated(p)
    return float(np.median(mg)) if mg.size >= 10 else float("nan")


def _dex_p99(p):
    mg = _dex_treated(p)
    return float(np.percentile(mg, 99)) if mg.size >= 10 else float("nan")


GENERAL_CHECKS: tuple[Check, ...] = (
    Check("car_t_peak_max_per_ul", "highest CAR-T peak in blood (cells/µL)", lambda p: float(p["cmax_car_t_per_ul"].max()),
          0.0, CAR_T_PEAK_BOUND_PER_UL, "<= 1e4 cells/µL (stated bound)",
          "an order above the highest reported CD19 CAR-T peaks; a tenth of hyperleukocytosis (Röllig & Ehninger, Blood 2015)"),
    Check("car_t_peak_after_day28", "share of patients whose CAR-T peak is after day 28",
          lambda p: _share(p["tmax_car_t_day"].to_numpy(float) > 28.0), 0.0, 0.02, "<= 2 %",
          "expansion peaks at days 7-14 (YESCARTA USPI 12.3; Stein 2019 T_max 9.3 d; liso-cel T_max 9.3 d)"),
    Check("icans_grade2plus_after_day60", "share at ICANS grade >= 2 at any observation after day 60", _late_icans2,
          0.0, 0.01, "<= 1 %", "98 % of axi-cel neurologic events within 8 weeks (YESCARTA USPI 2017, W&P 5.2)"),
    Check("crs_after_day30", "share with CRS (any grade) at any observation after day 30", _late_crs, 0.0, 0.01, "<= 1 %",
          "CRS onset median 1-7 days, ranges end by day 23 (YESCARTA, KYMRIAH, TECARTUS, ABECMA labels)"),
    Check("crs_grade3plus_after_day28", "grade >= 3 CRS rate over the follow-up minus the rate by day 28", _late_grade3("crs"),
          0.0, 0.01, "<= 1 point", "severe CRS occurs in the first weeks (labels above)"),
    Check("icans_grade3plus_after_day28", "grade >= 3 ICANS rate over the follow-up minus the rate by day 28",
          _late_grade3("icans"), 0.0, 0.01, "<= 1 point", "as above; 98 % of neurologic events within 8 weeks"),
    Check("dexamethasone_mg_median", "median cumulative dexamethasone of steroid-treated patients (mg)", _dex_median,
          DEX_MEDIAN_MG / 2.5, DEX_MEDIAN_MG * 2.5, "186 mg (8-1,803); criterion within 2.5x",
          "Strati P et al. Blood 2021;137:3272 (standard-of-care axi-cel)"),
    Check("dexamethasone_mg_p99", "99th percentile of cumulative dexamethasone, steroid-treated (mg)", _dex_p99,
          0.0, DEX_MAX_MG, "<= 1,803 mg (largest reported)", "Strati P et al. Blood 2021;137:3272"),
    Check("non_finite_or_negative_values", "NaN, infinite or negative cell counts and labs in the patient table",
          _non_finite_or_negative, 0.0, 0.0, "0", "conservation: cells and concentrations are non-negative"),
)


# --- per-trial checks ----------------------------------------------------------------------

def _median(column, among=None):
    def measure(p):
        q = p if among is None else p[among(p)]
        v = q[column].dropna().to_numpy(float)
        return float(np.median(v)) if v.size else float("nan")
    return measure


def _responders(p):
    return p["best_response"].isin(["CR", "sCR"]).to_numpy()


def _aplasia_at(day):
    def measure(p):
        q = p[_responders(p)]
        return _share(q[f"b_cells_per_ul_day{day:g}"].to_numpy(float) < B_CELL_APLASIA_BELOW_PER_UL)
    return measure


def _recovered_at(day):
    def measure(p):
        q = p[_responders(p) & p["pfs_day"].ge(day).to_numpy()]
        return _share(q[f"b_cells_per_ul_day{day:g}"].to_numpy(float) >= B_CELL_APLASIA_BELOW_PER_UL)
    return measure


def _cytopenia_day28(p):
    return _share((p["anc_per_ul_day28"].to_numpy(float) < 1000.0) | (p["platelets_per_nl_day28"].to_numpy(float) < 50.0))


def _neutropenia_day28(p):
    return _share(p["anc_per_ul_day28"].to_numpy(float) < 1000.0)


#: Best responses that count as a response (Lugano, IMWG, ALL remission).
RESPONSES = ("CR", "PR", "VGPR", "sCR")


def relapses_after_response(p: pd.DataFrame) -> pd.DataFrame:
    """The infused patients who responded and later progressed (relapsed)."""
    return p[p["progression_day"].notna() & p["best_response"].isin(RESPONSES)]


def antigen_negative_share_of_relapses(p: pd.DataFrame) -> float:
    """Share of responders' relapses whose tumour is mostly antigen-negative at the end (NaN
    below 10 relapses); what B-ALL's escape prevalence is fitted on (cartwin.calibrate.antigen_escape)."""
    relapsed = relapses_after_response(p)
    total = relapsed["tumor_cells_end"].to_numpy(float)
    neg = relapsed["tumor_antigen_neg_cells_end"].to_numpy(float)
    return _share(neg > 0.5 * total) if len(relapsed) >= 10 else float("nan")


def _relapse_free_at(day: float):
    # Relapse-free survival among responders, from the response: the duration of response
    # (progression or death), as ELIANA reports it. Follow-up of 730 days leaves every
    # responder observable to 12 months after his response.
    def measure(p):
        responders = p[p["best_response"].isin(RESPONSES)]
        ended = responders["dor_event"].fillna(False).to_numpy(bool) & (responders["dor_day"].to_numpy(float) <= day)
        return _share(~ended) if len(responders) >= 10 else float("nan")

    return measure


def _hypogamma(p):
    return _share(p["igg_min_g_per_l"].to_numpy(float) < 4.0)


def _with(syndrome):
    # Published onsets and durations are among patients who had the syndrome.
    return lambda p: p[f"{syndrome}_max_grade_astct"].fillna(0).to_numpy(float) >= 1


def _treated(drug, among=None):
    # Tocilizumab and corticosteroid use are outcomes of the grades under the trial's own
    # algorithm (each preset's management policy), so they check the policy and the grades
    # together; never fitted. ``among``: a mask of the denominator (labels report some shares
    # among patients with CRS).
    def measure(p):
        given = p[drug].fillna(False).to_numpy(bool)
        if among is not None:
            given = given[among(p)]
        return _share(given)

    return measure


MEASURES: dict[str, tuple[str, Callable[[pd.DataFrame], float]]] = {
    "crs_onset_median_day": ("median CRS onset (day after infusion), patients with CRS", _median("crs_onset_day", _with("crs"))),
    "crs_duration_median_day": ("median CRS duration (days), patients with CRS", _median("crs_duration_day", _with("crs"))),
    "icans_onset_median_day": ("median ICANS onset (day), patients with ICANS", _median("icans_onset_day", _with("icans"))),
    "icans_duration_median_day": ("median ICANS duration (days), patients with ICANS",
                                  _median("icans_duration_day", _with("icans"))),
    "b_cell_aplasia_day180_cr": ("share of CR patients in B-cell aplasia at day 180", _aplasia_at(180.0)),
    "b_cells_recovered_day365_cr": ("share of CR patients free of progression with B cells recovered at day 365",
                                    _recovered_at(365.0)),
    "cytopenia_grade3plus_day28": ("share with ANC < 1,000/µL or platelets < 50/nL at day 28", _cytopenia_day28),
    "neutropenia_grade3plus_day28": ("share with ANC < 1,000/µL at day 28", _neutropenia_day28),
    "antigen_negative_share_of_relapses": ("share of relapses after response that are antigen-negative",
                                           antigen_negative_share_of_relapses),
    "relapse_free_12m_responders": ("share of responders alive and relapse-free 12 months after their response",
                                    _relapse_free_at(365.25)),
    "hypogammaglobulinaemia": ("share with IgG nadir < 4 g/L", _hypogamma),
    "car_t_day7_median_per_ul": ("median CAR-T at day 7 (cells/µL)", _median("car_t_per_ul_day7")),
    "car_t_day28_median_per_ul": ("median CAR-T at day 28 (cells/µL)", _median("car_t_per_ul_day28")),
    "cmax_copies_median": ("median Cmax (transgene copies/µg gDNA)", _median("cmax_copies_per_ug")),
    "tocilizumab_rate": ("share given tocilizumab", _treated("tocilizumab")),
    "steroid_rate": ("share given corticosteroids", _treated("steroids")),
    "tocilizumab_among_crs": ("share given tocilizumab among patients with CRS", _treated("tocilizumab", _with("crs"))),
    "steroids_among_crs": ("share given corticosteroids among patients with CRS", _treated("steroids", _with("crs"))),
}


def trial_checks(preset: str) -> list[Check]:
    """The per-trial checks of ``preset`` from ``data/clinical_realism.csv``."""
    table = pd.read_csv(resources.files("cartwin.trial").joinpath("data/clinical_realism.csv").open())
    rows = table[table["preset"] == preset]
    out = []
    for row in rows.itertuples(index=False):
        description, measure = MEASURES[row.quantity]
        out.append(Check(row.quantity, description, measure, float(row.low), float(row.high), str(row.published),
                         str(row.source)))
    return out


def realism_table(result, preset: str | None = None) -> pd.DataFrame:
    """Every check for one trial result: one row each (see the module docstring)."""
    # The published values checked are the trial's own: looked up by the preset's name.
    preset = preset or (Path(result.protocol.path).stem if result.protocol.path else None)
    infused = result.patients[result.patients["infused"].astype(bool)]
    rows = []
    for kind, checks in (("general", GENERAL_CHECKS), ("trial", trial_checks(preset))):
        for c in checks:
            value = c.measure(infused)
            rows.append({
                "preset": preset, "kind": kind, "check": c.name, "description": c.description,
                "simulated": value, "low": c.low, "high": c.high, "published": c.published, "source": c.source,
                "n_infused": len(infused), "passed": bool(np.isfinite(value) and c.low <= value <= c.high),
                # Too few patients with the event (e.g. < 10 steroid-treated) to measure it.
                "status": ("not measurable" if not np.isfinite(value)
                           else "pass" if c.low <= value <= c.high else "fail"),
            })
    return pd.DataFrame(rows)
