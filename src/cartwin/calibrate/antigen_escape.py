"""How many B-ALL patients carry a CD19-negative escape subclone: fitted to ELIANA's relapses.

Why a subclone in most patients, below detection. Most relapses after CD19 CAR-T in B-ALL are
CD19-negative: 14 of 19 in ELIANA (Grupp et al. ASH 2018, as quoted in review; the ELIANA
realism check). The escape variants (CD19 exon-2 skipping and frameshift mutations, lineage
switch) are selected from cells present before infusion (Sotillo E et al. Cancer Discov
2015;5:1282; Orlando EJ et al. Nat Med 2018;24:1504). Every ELIANA responder was MRD-negative by
flow cytometry (Maude et al. NEJM 2018;378:439; pivotal_trials.csv), so such a subclone is below
flow-MRD detection (< 1e-4 of marrow cells) at day 28.

The model (the ``antigen_negative_fraction`` covariate of the ``eliana`` covariate model,
:mod:`cartwin.population.covariates`): with probability ``prevalence`` a patient carries an
antigen-negative subclone whose fraction of his leukaemic cells at enrolment is log-uniform
between :data:`LOW` and :data:`HIGH`, otherwise none. The subclone grows at the leukaemia's own
rate and CAR-T cells do not kill it (cartwin.model.cart: ``tn``).
- *Assumption*: the bounds. A typical ELIANA burden is ~2e11 cells (74 % marrow blasts over
  7e10 normal marrow cells). At 1e-6 of it a subclone is ~2e5 cells at enrolment and ~1e6 by
  day 28 after infusion, below 1e-4 of the marrow: flow-MRD-negative, as every ELIANA
  responder was. (An upper bound of 1e-5, tried first, made ~2 % of the simulated responders
  MRD-positive at day 28 and pushed the fitted MRD-negative share below its CI.) At 1e-10 a
  subclone needs more than a year to regrow. The log-uniform spread stands for the heavy tail
  of mutant clone sizes in a growing population (Luria-Delbrück).
- *Fitted*: ``prevalence``, by the binomial likelihood of 14 antigen-negative of 19 relapses.
  It is the simulated share among responders' relapses within 730 days, as
  :func:`cartwin.trial.realism` measures it.
- The grid runs ``run_trial("eliana", n, seed)`` once per candidate. Every run has the same
  seed, so apart from the subclone the patients are the same (common random numbers).
- The maximum is interpolated, and the 95 % profile-likelihood interval is where the log
  likelihood is within 1.92 of it.

Not used in the fit, so it stays a check: ELIANA's relapse-free share of responders at 12 months
(59 %, Laetsch 2023; the ``relapse_free_12m_responders`` realism check).

Run: ``python scripts/calibrate_antigen_escape.py`` (writes :data:`RECORD`; 46-95 s measured on 2 cores).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Subclone fraction bounds at enrolment (share of the leukaemic cells; assumptions, above).
LOW, HIGH = 1e-10, 1e-6
#: The published datum the prevalence is fitted to.
DATA = {"preset": "eliana", "antigen_negative_relapses": 14, "relapses": 19,
        "source": "Grupp SA et al. ASH 2018 ELIANA update (Blood 2018;132 suppl), as quoted in review: 14 of 19 "
                  "relapses CD19-negative (src/cartwin/trial/data/clinical_realism.csv)"}
RECORD = Path(__file__).resolve().parents[1] / "population" / "data" / "antigen_escape.json"
GRID = tuple(np.round(np.linspace(0.05, 0.95, 19), 3))


def simulated_share(prevalence: float, n: int, seed: int, follow_up_days: float = 730.0) -> tuple[float, int]:
    """The share of ELIANA responders' relapses that are antigen-negative, and their number, at
    ``prevalence`` (the eliana covariate model with its escape marginal replaced)."""
    from cartwin.population.covariates import COVARIATE_MODELS, ZeroInflated
    from cartwin.trial.protocol import load_protocol
    from cartwin.trial.realism import antigen_negative_share_of_relapses, relapses_after_response
    from cartwin.trial.runner import run_trial

    protocol = load_protocol(DATA["preset"])
    base = COVARIATE_MODELS[protocol.population.covariates]
    marginal = ZeroInflated(float(prevalence), LOW, HIGH, "candidate prevalence (calibrate.antigen_escape)")
    model = dataclasses.replace(base, marginals={**base.marginals, "antigen_negative_fraction": marginal})
    protocol = dataclasses.replace(protocol, population=dataclasses.replace(protocol.population, covariates=model))
    result = run_trial(protocol, n, seed, follow_up_days=follow_up_days)
    infused = result.patients[result.patients["infused"].astype(bool)]
    return float(antigen_negative_share_of_relapses(infused)), int(len(relapses_after_response(infused)))


def binomial_loglik(share: float, k: int, n: int) -> float:
    s = min(max(share, 1e-9), 1.0 - 1e-9)
    return k * math.log(s) + (n - k) * math.log(1.0 - s)


def fit(n: int = 2000, seed: int = 1, grid: Sequence[float] = GRID) -> dict[str, Any]:
    """The maximum-likelihood prevalence on ``grid`` (interpolated) and its profile interval."""
    from cartwin.foundation.constraints import Interval, check
    from cartwin.foundation.errors import ValidationError
    from cartwin.model.calibrated import committed_record_path

    # Checked before the first of the grid's trials runs (a bad value would fail minutes in).
    check("n", n, Interval(100, 1e8, integer=True), hint="patients enrolled per candidate; fewer than 100 leave "
          "too few relapses for a share")
    check("seed", seed, Interval(0, 2**63 - 1, integer=True))
    if len(grid) < 3 or not all(0.0 < p < 1.0 for p in grid) or list(grid) != sorted(set(grid)):
        raise ValidationError("grid", "at least three increasing prevalences strictly between 0 and 1", list(grid))
    k, m = DATA["antigen_negative_relapses"], DATA["relapses"]
    rows = []
    for p in grid:
        share, relapses = simulated_share(p, n, seed)
        rows.append({"prevalence": float(p), "simulated_share": share, "simulated_relapses": relapses,
                     "loglik": binomial_loglik(share, k, m)})
    ps = np.array([r["prevalence"] for r in rows])
    ll = np.array([r["loglik"] for r in rows])
    fine = np.linspace(ps[0], ps[-1], 2001)
    curve = np.interp(fine, ps, ll)
    best = float(fine[np.argmax(curve)])
    inside = fine[curve >= curve.max() - 1.92]
    at_best = float(np.interp(best, ps, [r["simulated_share"] for r in rows]))
    joint = json.loads(committed_record_path().read_text())
    return {
        "prevalence": round(best, 3), "interval_95": [round(float(inside.min()), 3), round(float(inside.max()), 3)],
        "low_fraction": LOW, "high_fraction": HIGH, "simulated_share_at_fit": round(at_best, 4),
        "data": DATA, "grid": rows,
        "settings": {"n_enrolled": int(n), "seed": int(seed), "follow_up_days": 730.0},
        "method": "binomial likelihood of the published count on the simulated share; grid with common random "
                  "numbers, linear interpolation; 95 % profile-likelihood interval (log-likelihood drop 1.92)",
        "not_fitted": "ELIANA relapse-free share of responders at 12 months (59 %, Laetsch 2023): a realism check",
        # The share depends on the CAR-T parameters too (how many relapses are antigen-positive),
        # so the record names the joint calibration it ran on; the joint fit then runs with it.
        "run_on_joint_calibration": {"date": joint.get("date"), "objective_value": joint.get("objective_value")},
        "date": _dt.date.today().isoformat(),
        "command": "python scripts/calibrate_antigen_escape.py",
    }


def write(record: dict[str, Any], path: Path = RECORD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
