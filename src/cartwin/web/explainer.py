"""The patient-journey explainer: a plain-language, day-by-day walk driven by simulated patients.

For a product class and disease, a shipped protocol preset of that class and disease is run as a
small virtual trial with :func:`cartwin.trial.runner.run_trial` (enrolment, the vein-to-vein
journey with its real waiting time and dropouts, dynamics, management, grading, response,
survival). One patient whose timecourse the trial kept is chosen for the course asked
(*typical*: responded with at most the cohort's usual toxicity; *rough*: responded after the
worst toxicity; *poor*: did not respond or progressed), and their bedside course is made again
from that timecourse with :func:`cartwin.clinic.observe.observe` and graded with
:func:`cartwin.clinic.grading.grade_frame` (the trial's own path; treatments are read from the
drug levels the timecourse holds). The cohort gives the spread: "most patients ..., some ...".
No number is written here: every one is read from the simulation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cartwin.web.figures import line_figure
from cartwin.web.schemas import COURSES, PRODUCT_CLASSES

DISCLAIMER = ("This page is for education. It is not medical advice. "
              "Talk to your care team about your own treatment.")
EXPLAINER_SEED = 7
EXPLAINER_FOLLOW_UP_DAYS = 365.0

#: Plain words for cartwin.journey.NOT_INFUSED_REASONS (a reason not listed is shown as written).
REASON_WORDS = {
    "manufacturing_failure": "the lab could not make enough cells",
    "out_of_specification": "the cells did not pass the lab's checks",
    "progression": "the cancer grew too fast while they waited",
    "death": "they died while waiting",
    "ineligible": "they became too unwell for the treatment",
}

INDICATION_WORDS = {
    "lbcl": "large B-cell lymphoma", "fl": "follicular lymphoma", "mcl": "mantle cell lymphoma",
    "all": "acute lymphoblastic leukaemia (ALL)", "mm": "multiple myeloma", "gastric": "stomach cancer",
}


def choices() -> dict[str, dict[str, str]]:
    """Product class -> indication -> the first shipped preset of that class and disease."""
    from cartwin.model.presets import PRODUCTS
    from cartwin.trial.protocol import list_protocols, load_protocol

    out: dict[str, dict[str, str]] = {k: {} for k in PRODUCT_CLASSES}
    for name in list_protocols():
        p = load_protocol(name)
        if p.is_placeholder or p.trial.indication == "gastric":
            continue
        cls = PRODUCTS[p.product.key].product_class
        out.setdefault(cls, {}).setdefault(p.trial.indication, name)
    return {k: v for k, v in out.items() if v}


@dataclass
class Cohort:
    preset: str
    result: Any  # TrialResult


_CACHE: dict[tuple[str, int, str], Cohort] = {}
_LOCK = threading.Lock()


def cohort(preset: str, n: int, engine: str = "auto") -> Cohort:
    """The explainer's virtual cohort for ``preset`` (computed once per server and preset)."""
    from cartwin.engine.choice import resolve_solver
    from cartwin.trial.runner import run_trial

    key = (preset, n, engine)
    with _LOCK:
        if key not in _CACHE:
            solver = resolve_solver(engine, field="engine", objects=False)
            result = run_trial(preset, n, EXPLAINER_SEED, follow_up_days=EXPLAINER_FOLLOW_UP_DAYS, solver=solver)
            _CACHE[key] = Cohort(preset, result)
        return _CACHE[key]


def _treatments(tc: pd.DataFrame) -> pd.DataFrame:
    """First day each drug is in the blood (the timecourse's drug levels), as observe() takes it."""
    rows = []
    for drug, column in (("tocilizumab", "tocilizumab_ug_per_ml"), ("dexamethasone", "dexamethasone_ng_per_ml")):
        if column in tc:
            given = tc[tc[column] > 0]
            for pid, day in given.groupby("patient_id")["day"].min().items():
                rows.append({"patient_id": pid, "day": float(day), "drug": drug, "mg": np.nan})
    return pd.DataFrame(rows, columns=["patient_id", "day", "drug", "mg"])


def bedside_course(tc: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Bedside observations and ASTCT grades of sampled patients (clinic.observe -> grade_frame)."""
    from cartwin.clinic.grading import grade_frame
    from cartwin.clinic.observe import observe

    obs = observe(tc, seed=seed, treatments=_treatments(tc))
    graded = grade_frame(obs, "astct")
    obs["crs_grade"] = graded["crs_grade"].to_numpy(dtype=float)
    obs["icans_grade"] = graded["icans_grade"].to_numpy(dtype=float)
    obs["crs_rule"] = graded["crs_rule"].to_numpy()
    return obs


def pick_patient(patients: pd.DataFrame, bedside: pd.DataFrame, course: str) -> tuple[int | None, str]:
    """The sampled patient whose course fits ``course``, and a sentence on how they were chosen."""
    from cartwin.trial.endpoints import RESPONDERS

    tox = bedside.groupby("patient_id").agg(crs=("crs_grade", "max"), icans=("icans_grade", "max"))
    rows = patients.set_index("patient_id").loc[tox.index]
    responded = rows["best_response"].astype(str).isin(RESPONDERS)
    progressed = rows["pfs_event"].fillna(False).astype(bool)
    worst = tox["crs"].fillna(0) + tox["icans"].fillna(0)
    usual = float(np.median(worst)) if len(worst) else 0.0
    if course == "typical":
        pool = rows[responded & ~progressed & (worst <= usual)]
        if pool.empty:
            pool = rows[responded & (worst <= usual)]
        how = "a patient whose cancer went away and stayed away, with side effects no worse than most"
        key = (pool["cmax_car_t_per_ul"] - rows["cmax_car_t_per_ul"].median()).abs().sort_values() if len(pool) else None
    elif course == "rough":
        pool = rows[responded & (worst >= max(usual + 1, 2))]
        how = "a patient whose cancer answered, after strong side effects"
        key = worst.loc[pool.index].sort_values(ascending=False) if len(pool) else None
    else:
        pool = rows[~responded | progressed]
        how = "a patient whose cancer did not go away or came back"
        key = rows.loc[pool.index, "pfs_day"].sort_values() if len(pool) else None
    if key is None or key.empty:
        return None, how
    return int(key.index[0]), how


def _pct(x: float) -> str:
    return f"{100 * x:.0f} in 100"


def _few(x: float) -> str:
    if x >= 0.75:
        return "most patients"
    if x >= 0.5:
        return "more than half of patients"
    if x >= 0.25:
        return "some patients"
    if x > 0:
        return "a few patients"
    return "no patient in this group"


def _grade_words(g: float) -> str:
    g = 0 if g != g else int(g)
    return {0: "no", 1: "mild (grade 1)", 2: "moderate (grade 2)", 3: "severe (grade 3)", 4: "life-threatening (grade 4)"}.get(g, f"grade {g}")


def explain(product_class: str, indication: str, course: str, n: int, engine: str = "auto") -> dict[str, Any]:
    """The explainer's steps, sentences and figures for one product class, disease and course."""
    from cartwin.foundation.errors import ValidationError
    from cartwin.model.presets import PRODUCTS
    from cartwin.trial.endpoints import RESPONDERS

    options = choices()
    if product_class not in options:
        raise ValidationError("product", "one of " + ", ".join(options), product_class)
    if indication not in options[product_class]:
        raise ValidationError("disease", f"one of {', '.join(options[product_class])} for {product_class}", indication)
    if course not in COURSES:
        raise ValidationError("course", "one of " + ", ".join(COURSES), course)
    preset = options[product_class][indication]
    c = cohort(preset, n, engine)
    res = c.result
    pts = res.patients
    inf = pts[pts["infused"].fillna(False).astype(bool)]
    product = PRODUCTS[res.protocol.product.key]
    bedside = bedside_course(res.timecourses, res.seed)
    pid, how = pick_patient(pts, bedside, course)

    n_all, n_inf = len(pts), len(inf)
    v2v = inf["vein_to_vein_day"].dropna()
    reasons = pts.loc[~pts["infused"].fillna(False).astype(bool), "not_infused_reason"].value_counts()
    crs = inf["crs_max_grade_astct"].fillna(0)
    icans = inf["icans_max_grade_astct"].fillna(0)
    resp = inf["best_response"].astype(str).isin(RESPONDERS).mean() if n_inf else 0.0
    ep = res.endpoints.get("infused", {})
    pfs12 = (ep.get("pfs_12m") or {}).get("estimate")
    os12 = (ep.get("os_12m") or {}).get("estimate")
    disease = INDICATION_WORDS.get(indication, indication)

    steps: list[dict[str, Any]] = []

    def step(key, when, title, what, why, watch, feel, cohort_text=""):
        steps.append({"key": key, "when": when, "title": title, "what": what, "why": why, "watch": watch,
                      "feel": feel, "cohort": cohort_text})

    own = product_class == "autologous_car_t"
    if own:
        collect = ("A nurse puts a thin tube in a vein. A machine takes blood out, keeps some white cells (T cells) "
                   "and gives the rest back. This is called apheresis. It takes a few hours.")
        make = ("Your T cells go to a lab. There they get a new gene, so they can find the cancer. "
                "The lab grows many copies of them, checks them and freezes them.")
    elif product_class == "allogeneic_car_t":
        collect = ("You do not give your own cells. The cells come from a healthy donor. "
                   "They were made and frozen before you came, so no machine needs to collect your blood.")
        make = ("The donor cells were given a new gene in a lab, so they can find the cancer. "
                "A dose is picked from the freezer and checked. Your body may see these cells as foreign and clear them.")
    else:
        collect = ("You do not give your own cells. The cells are natural killer (NK) cells from donated cord blood, "
                   "the blood left in a baby's cord after birth.")
        make = ("In a lab the NK cells get a new gene, so they can find the cancer. They are grown, checked and frozen. "
                "NK cells do not last long in the body.")
    wait = (f"In this simulation the time from collecting cells to the drip was about {v2v.median():.0f} days for half of "
            f"the patients (most waited {v2v.quantile(0.25):.0f} to {v2v.quantile(0.75):.0f} days).") if len(v2v) else ""
    lost = ""
    if len(reasons):
        lost = (f" Of {n_all} patients who signed up, {n_all - n_inf} never got the cells. "
                f"The most common reason was that {REASON_WORDS.get(str(reasons.index[0]), str(reasons.index[0]).replace('_', ' '))}.")
    step("referral", "weeks before", "Referral and first visit",
         f"Your doctor sends you to a centre that gives {product.product_class.replace('_', ' ').replace('car t', 'CAR-T').replace('car nk', 'CAR-NK')} "
         f"treatment for {disease}. You have tests of your blood, heart and scans.",
         "The team checks that the treatment is safe for you and that it may help.",
         "Blood counts, heart and lung function, infections, how active you are.",
         "Many people feel worried or hopeful. It helps to bring someone with you.")
    step("collection", "about a month before" if own else "before you come", "Where the cells come from", collect,
         "CAR cells are made from living immune cells.",
         "Blood pressure, calcium levels and blood counts during the collection." if own
         else "That a dose that suits you is ready.",
         "Some people feel tired, cold or have tingling lips. It passes." if own
         else "Nothing: this step happens without you.")
    step("manufacturing", "the waiting weeks", "Making the cells", make + " " + wait + lost,
         "Each dose must be made and tested before it can be given.",
         "The cancer, because it can grow while you wait.",
         "Waiting can be hard. The cancer may cause pain or tiredness.",
         "")
    bridged = pts["bridging"].fillna(False).astype(bool).mean() if "bridging" in pts else 0.0
    step("bridging", "while waiting", "Bridging treatment",
         "Some patients get a short treatment to hold the cancer back while they wait.",
         "It keeps the cancer in check until the cells are ready.",
         "Scans and blood tests of the cancer.",
         "It depends on the drug. Ask what to expect.",
         f"In this simulation {_few(bridged)} ({_pct(bridged)}) had bridging." if bridged else "")
    step("lymphodepletion", "day -5 to day -3", "Chemotherapy to make room",
         "You get two chemotherapy drugs through a drip for three days.",
         "The drugs lower your own white cells, so the new cells have room to grow.",
         "Blood counts and kidney function.",
         "You may feel sick or tired. Your hair may thin.")
    step("infusion", "day 0", "The cells go in",
         "The cells are thawed and given through a drip. It takes less than an hour.",
         "This is the treatment. From now on the cells grow and attack the cancer.",
         "Temperature, blood pressure and oxygen, every few hours.",
         "Most people feel fine on the day. Some feel chills.")

    pat_figs: list[dict[str, Any]] = []
    story = how
    first_two = last = ""
    if pid is not None:
        tc = res.timecourses[res.timecourses["patient_id"] == pid].sort_values("day")
        bs = bedside[bedside["patient_id"] == pid].sort_values("time_day")
        row = pts.set_index("patient_id").loc[pid]
        early = bs[bs["time_day"] <= 28]
        crs_days = early.loc[early["crs_grade"] > 0, "time_day"]
        icans_days = early.loc[early["icans_grade"] > 0, "time_day"]
        crs_max, icans_max = early["crs_grade"].max(), early["icans_grade"].max()
        fever = early.loc[early["temperature_c"] >= 38.0, "time_day"]
        first_two = (f"The patient in the pictures had {_grade_words(crs_max)} CRS"
                     + (f", starting on day {crs_days.min():.0f}" if len(crs_days) else "") + ". "
                     + (f"They first had a fever on day {fever.min():.0f}. " if len(fever) else "They had no fever. ")
                     + f"They had {_grade_words(icans_max)} nerve side effects (ICANS)"
                     + (f", starting on day {icans_days.min():.0f}" if len(icans_days) else "") + ". "
                     + f"Their CAR cells were at their peak on day {row['tmax_car_t_day']:.0f}.")
        resp_word = str(row["best_response"])
        responded = resp_word in RESPONDERS
        last = (("The cancer shrank " + ("away" if resp_word in ("CR", "sCR", "CRi") else "a lot")
                 + f" (best response {resp_word}). ") if responded else f"The cancer did not shrink enough (best response {resp_word}). ")
        if bool(row["pfs_event"]) and row["pfs_day"] == row["pfs_day"]:
            last += f"The cancer grew again or the patient died around month {row['pfs_day'] / 30.44:.0f}."
        else:
            last += "A year on, the cancer had not come back."
        day = tc["day"].to_numpy()
        pat_figs = [
            line_figure("CAR cells and B cells in the blood", "day after the drip", "cells per µL (log scale)",
                        [("CAR cells", day, np.where(tc["car_t_per_ul"] >= 1e-3, tc["car_t_per_ul"], np.nan), "#3b6ea8"),
                         ("B cells", day, np.where(tc["b_cells_per_ul"] >= 1e-3, tc["b_cells_per_ul"], np.nan), "#2e8b57")], log=True),
            line_figure("Cancer cells in the body", "day after the drip", "cells (log scale)",
                        [("cancer cells", day, np.where(tc["tumor_cells"] >= 1.0, tc["tumor_cells"], np.nan), "#d9534f"),
                         ("cells without the target", day, np.where(tc["tumor_antigen_neg_cells"] >= 1.0, tc["tumor_antigen_neg_cells"], np.nan), "#f0a030")], log=True),
            line_figure("Temperature in the first four weeks", "day after the drip", "°C",
                        [("temperature", early["time_day"], early["temperature_c"], "#d9534f")],
                        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 38, "y1": 38,
                                 "line": {"dash": "dot", "color": "#999"}}]),
            line_figure("Blood pressure (mean) in the first four weeks", "day after the drip", "mmHg",
                        [("mean blood pressure", early["time_day"], early["map_mmhg"], "#3b6ea8")],
                        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 65, "y1": 65,
                                 "line": {"dash": "dot", "color": "#999"}}]),
            line_figure("CRS and ICANS grade (ASTCT)", "day after the drip", "grade (0 = none)",
                        [("CRS", early["time_day"], early["crs_grade"].fillna(0), "#d9534f"),
                         ("ICANS", early["time_day"], early["icans_grade"].fillna(0), "#6f42c1")], step=True, y_range=[-0.1, 4.2]),
        ]
    crs_any, crs3 = float((crs >= 1).mean()) if n_inf else 0.0, float((crs >= 3).mean()) if n_inf else 0.0
    icans_any = float((icans >= 1).mean()) if n_inf else 0.0
    step("first_two_weeks", "day 0 to day 14", "The first two weeks in hospital",
         "The cells grow fast. As they attack the cancer they send out signals. This can cause a fever and low blood "
         "pressure, called CRS. Some people get confused or have trouble with words, called ICANS. "
         + (first_two if first_two else ""),
         "The team wants to catch these side effects early. There are drugs that calm them down.",
         "Temperature, blood pressure, oxygen, a short test of writing and naming things, and blood tests.",
         "You may feel like you have a bad flu. Tell the team at once if you feel confused or faint.",
         f"In this simulation {_few(crs_any)} ({_pct(crs_any)}) had CRS and {_pct(crs3)} had severe CRS. "
         f"{_few(icans_any).capitalize()} ({_pct(icans_any)}) had ICANS.")
    step("first_months", "week 3 to month 3", "The first months",
         "You go home but stay close to the centre for about four weeks. You cannot drive for eight weeks. "
         "The CAR cells also remove healthy B cells, which make antibodies, so infections are more likely.",
         "The team checks that the side effects have gone and looks at the cancer with a scan at about one month.",
         "Blood counts, infections and a scan.",
         "Many people feel tired for weeks. This slowly gets better.",
         f"In this simulation the cancer shrank in {_few(resp)} ({_pct(resp)})." if n_inf else "")
    step("year_on", "a year on", "A year on",
         (last if last else "") + " Check-ups become less frequent.",
         "The team watches for the cancer coming back and for late effects.",
         "Scans, blood counts and antibody levels.",
         "Many people are back to most of their daily life.",
         (f"In this simulation about {_pct(pfs12)} were alive without the cancer growing at one year"
          + (f", and {_pct(os12)} were alive." if os12 is not None else ".")) if pfs12 is not None else "")
    return {
        "product_class": product_class, "product_label": PRODUCT_CLASSES[product_class], "indication": indication,
        "disease": disease, "course": course, "preset": preset, "protocol": res.protocol.name,
        "product": product.key, "patients": n_all, "infused": n_inf, "patient_id": pid, "how_chosen": story,
        "steps": steps, "figures": pat_figs, "disclaimer": DISCLAIMER, "choices": options,
    }


def explanatory_text(payload: dict[str, Any]) -> str:
    """The prose of an explainer payload (what the reading-level check reads)."""
    parts = []
    for s in payload["steps"]:
        parts += [s["what"], s["why"], s["watch"], s["feel"], s["cohort"]]
    return " ".join(p for p in parts if p)
