"""Design tools for randomised protocols: power and the distribution of the HR by sample size.

``power_analysis(protocol, n_values, replicates, seed)`` runs ``replicates`` virtual trials at
each total sample size and reports, per size, the share of trials whose two-sided log-rank test
rejects at ``alpha`` in favour of the experimental arm (power), the distribution of the Cox HR
(median, 2.5 and 97.5 %), the mean number of events, and the power Schoenfeld's formula gives
for that number of events (Schoenfeld D. Biometrika 1981;68:316; Schoenfeld DA. Biometrics
1983;39:499): ``Phi(sqrt(D p (1-p)) |log HR| - z_{1-alpha/2})`` with ``p`` the allocation share
and ``HR`` = ``hr_target`` (or the simulated median HR).

How replicates are drawn:

* standard-of-care and parametric arms are simulated afresh for every replicate (their models
  are closed-form draws, microseconds a patient);
* the CAR-T arm's patients are drawn with replacement from one simulated **pool** of the arm
  (``pool_size`` patients, default twice the largest arm): a mechanistic patient costs
  milliseconds, and patients are independent given the protocol (no shared manufacturing
  capacity in the journey), so a replicate's arm is a sample of the same distribution. The
  pool's own sampling error (of order 1/sqrt(pool_size)) is common to every replicate; say so
  when quoting the HR distribution.
* the analysis is unstratified (log-rank and a one-covariate Cox fit), and each size's trials
  share their first patients (replicate ``r`` uses the same seed at every size): common random
  numbers make the power curve smooth in ``n``.

The HR and log-rank statistics of a replicate come from :func:`fast_hr_logrank`, a NumPy
implementation of the two-group Cox model (Efron ties, Newton-Raphson) and the log-rank test
(hypergeometric variance), checked against lifelines in the tests: lifelines' ``CoxPHFitter``
took 58 ms a fit at n = 400 (2026-12-07), which over thousands of replicates dominated the run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cartwin.engine.choice import DEFAULT_RTOL
from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.errors import ValidationError
from cartwin.trial.arms import Arm, Randomisation, entry_days, randomise
from cartwin.trial.comparative import (
    KINDS,
    _car_t_arm,
    _car_t_latent,
    _checked,
    _parametric_latent,
    _soc_latent,
    apply_data_cut,
    control_arm,
)
from cartwin.trial.crossover import risk_sets
from cartwin.trial.post_progression import trial_model
from cartwin.trial.protocol import Protocol


def fast_hr_logrank(t: np.ndarray, e: np.ndarray, treated: np.ndarray) -> tuple[float, float, int]:
    """(Cox HR of treated vs control, two-sided log-rank p, events) for two groups.

    Cox: maximum of the partial likelihood with Efron's handling of ties (as lifelines), by
    Newton-Raphson from b = 0; log-rank:
    ``(O1 - E1)^2 / V`` with ``V = sum d n1 n0 (n - d) / (n^2 (n - 1))``. NaN HR when a group has
    no events or no patients."""
    t = np.asarray(t, float)
    e = np.asarray(e, bool)
    x = np.asarray(treated, bool)
    events = int(e.sum())
    if events == 0 or x.all() or not x.any():
        return (math.nan, math.nan, events)
    n, n1, d, d1 = risk_sets(t, e, x)
    n0 = n - n1
    e1 = d * n1 / n
    v = np.where(n > 1, d * n1 * n0 * (n - d) / (n.astype(float) ** 2 * np.maximum(n - 1, 1)), 0.0)
    chi2 = (d1.sum() - e1.sum()) ** 2 / v.sum() if v.sum() > 0 else 0.0
    p = float(stats.chi2.sf(chi2, 1))
    if d1.sum() == 0 or d1.sum() == d.sum():
        return (0.0 if d1.sum() == 0 else math.inf, p, events)
    b = 0.0
    d0 = d - d1
    ls = [np.flatnonzero(d > k) for k in range(int(d.max()))]  # Efron: the k-th of d tied deaths
    for _ in range(50):
        r = math.exp(b)
        score, info = float(d1.sum()), 0.0
        for k, rows in enumerate(ls):
            f = k / d[rows]
            s1 = n1[rows] * r - f * d1[rows] * r
            s0 = n0[rows] - f * d0[rows]
            m = s1 / (s0 + s1)
            score -= float(m.sum())
            info += float((m * (1 - m)).sum())
        step = score / info
        b += max(min(step, 5.0), -5.0)
        if abs(step) < 1e-12:
            break
    return (math.exp(b), p, events)


def schoenfeld_power(events: float, hr: float, share: float = 0.5, alpha: float = 0.05) -> float:
    """Power of a two-sided level-``alpha`` log-rank test with ``events`` events, true ``hr`` and
    allocation share ``share`` (Schoenfeld 1981/1983)."""
    z = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.cdf(math.sqrt(events * share * (1 - share)) * abs(math.log(hr)) - z))


def schoenfeld_events(hr: float, power: float = 0.8, share: float = 0.5, alpha: float = 0.05) -> float:
    """Events needed for ``power`` (the inverse of :func:`schoenfeld_power`)."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z**2 / (share * (1 - share) * math.log(hr) ** 2))


def parse_n_values(text: str) -> list[int]:
    """``"100:600:50"`` -> [100, 150, ..., 600]; ``"200,400"`` -> [200, 400]."""
    try:
        if ":" in text:
            parts = [int(v) for v in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[0] < 2 or parts[1] < parts[0]:
                raise ValueError
            values = list(range(parts[0], parts[1] + 1, parts[2]))
        else:
            values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValidationError("--n", "START:STOP:STEP (e.g. 100:600:50) or a comma-separated list of sizes >= 2", text) from None
    if not values or min(values) < 2 or len(values) > 200:
        raise ValidationError("--n", "1 to 200 sample sizes, each >= 2", text)
    return values


def _arm_pair(protocol: Protocol) -> tuple[Arm, Arm]:
    control = control_arm(protocol.arms)
    experimental = next(a for a in protocol.arms if a.name != control.name)
    return experimental, control


def power_analysis(protocol: Protocol | str | Path, n_values, replicates: int, seed: int = 1, *, hr_target: float | None = None,
                   endpoint: str | None = None, alpha: float | None = None, follow_up_days: float | None = None,
                   pool_size: int | None = None, solver: Any = "auto", progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Power and HR distribution by total sample size (module docstring).

    Returns ``(summary, trials)``: one row per size, and one row per simulated trial (size,
    replicate, HR, p, events)."""
    protocol, _, follow = _checked(protocol, 2, seed, follow_up_days)
    n_values = [int(v) for v in n_values]
    for v in n_values:
        check("n", v, Interval(2, 1e6, integer=True))
    check("replicates", replicates, Interval(1, 100000, integer=True))
    if hr_target is not None:
        check("hr_target", hr_target, Interval(0.0, 10.0, low_open=True))
    endpoint = endpoint or protocol.randomisation.primary_endpoint
    if endpoint not in KINDS:
        raise ValidationError("endpoint", "one of " + ", ".join(KINDS), endpoint)
    alpha = protocol.randomisation.alpha if alpha is None else alpha
    check("alpha", alpha, Interval(0.001, 0.5))
    experimental, control = _arm_pair(protocol)
    arms = (experimental, control)
    total = experimental.allocation + control.allocation
    share = experimental.allocation / total
    car_t = next((a for a in arms if a.kind == "car-t"), None)
    crossover_needs_pool = any(a.crossover for a in arms)
    post_progression = trial_model(protocol)
    pool = None
    if car_t is not None or crossover_needs_pool:
        from cartwin.engine.choice import resolve_solver
        from cartwin.trial.runner import enrol

        size = pool_size or max(200, 2 * int(math.ceil(max(n_values) * share)))
        check("pool_size", size, Interval(2, 1e6, integer=True))
        if car_t is None:
            raise ValidationError("protocol.arms", "a car-t arm for the crossover arm to cross over to", "none")
        patients, _ = _car_t_arm(protocol, enrol(protocol, size, seed), seed, follow, solver=resolve_solver(solver),
                                 batch_size=256, rtol=DEFAULT_RTOL, calibrated=True, progress=progress)
        pool = _car_t_latent(protocol, patients, follow, seed, post_progression=post_progression)
    cut = protocol.randomisation.accrual_days + follow
    rows = []
    nmax = max(n_values)
    for r in range(replicates):
        s = int(np.random.SeedSequence([seed, r]).generate_state(1)[0] >> 1)
        rng = np.random.default_rng(np.random.SeedSequence([seed, r, 1]))
        ids_all = np.arange(nmax, dtype=np.int64)
        alloc_all = randomise(pd.DataFrame(index=ids_all), arms, Randomisation(block_size=protocol.randomisation.block_size), s)
        parts = {}
        for arm in arms:
            ids = ids_all[alloc_all == arm.name]
            if arm.kind == "car-t":
                part = pool.iloc[rng.integers(len(pool), size=ids.size)].reset_index(drop=True).copy()
                part["patient_id"] = ids
            elif arm.kind == "standard-of-care":
                part = _soc_latent(arm, ids, s, follow, pool, post_progression)
            else:
                part = _parametric_latent(arm, ids, s, follow, protocol.trial.indication)
            part["arm"] = arm.name
            parts[arm.name] = part
        latent = pd.concat(parts.values(), ignore_index=True)
        if "crossover_day" not in latent:
            latent["crossover_day"] = np.nan
        latent = latent.sort_values("patient_id").reset_index(drop=True)
        ids_sorted = latent["patient_id"].to_numpy(np.int64)
        for n in n_values:
            # The first n patients in enrolment order, accrued over the whole accrual period.
            sub = latent.iloc[:n]
            cutted = apply_data_cut(sub, entry_days(ids_sorted[:n], protocol.randomisation.accrual_days, s), cut)
            hr, p, events = fast_hr_logrank(cutted[f"{endpoint}_day"].to_numpy(float), cutted[f"{endpoint}_event"].to_numpy(bool),
                                            (cutted["arm"] == experimental.name).to_numpy())
            rows.append({"n": n, "replicate": r, "hr": hr, "p_logrank": p, "events": events,
                         "significant_benefit": bool(p < alpha and hr < 1.0)})
        if progress is not None:
            progress(1)
    trials = pd.DataFrame(rows)
    summary = []
    for n, g in trials.groupby("n", sort=True):
        hr = g["hr"].to_numpy(float)
        ok = np.isfinite(hr) & (hr > 0)
        median_hr = float(np.median(hr[ok])) if ok.any() else math.nan
        reference = hr_target if hr_target is not None else median_hr
        events = float(g["events"].mean())
        row = {"n": int(n), "replicates": int(len(g)), "endpoint": endpoint, "power": float(g["significant_benefit"].mean()),
               "rejection_rate": float((g["p_logrank"] < alpha).mean()), "events_mean": events,
               "hr_median": median_hr, "hr_p2_5": float(np.percentile(hr[ok], 2.5)) if ok.any() else math.nan,
               "hr_p97_5": float(np.percentile(hr[ok], 97.5)) if ok.any() else math.nan,
               "schoenfeld_power": schoenfeld_power(events, reference, share, alpha) if np.isfinite(reference) and reference != 1 else alpha / 2,
               "schoenfeld_hr": reference}
        if hr_target is not None:
            row["p_hr_below_target"] = float(np.mean(hr[ok] < hr_target)) if ok.any() else math.nan
        summary.append(row)
    return pd.DataFrame(summary), trials


def hr_sensitivity(protocol: Protocol | str | Path, n: int, seeds, *, delays=(0.0,), manufacturing_lines=(None,),
                   endpoint: str | None = None, follow_up_days: float | None = None, solver: Any = "auto",
                   progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The HR's sensitivity to the CAR-T arm's logistics: bridging delay and manufacturing capacity.

    For every scenario — each extra delay (days added to the wait between the product's arrival
    and lymphodepletion: the patient waits and bridges that much longer) crossed with each number
    of parallel manufacturing lines the arm's patients share (None: unlimited) — the trial of
    ``n`` patients is simulated for every seed in ``seeds`` (:class:`cartwin.trial.comparative.JourneyScenario`),
    and the ITT HR of ``endpoint`` (default the primary) of the CAR-T arm against the control is
    computed (:func:`fast_hr_logrank`, unstratified). A seed's scenarios share their patients,
    their comparator arm and every journey draw (common random numbers), so the differences
    between scenarios come from the logistics alone: longer waits mean more dropouts (the
    journey's hazards), more tumour growth before infusion, and a later infusion.

    Returns ``(summary, runs)``: per scenario the mean and 2.5/97.5 % of the HR over seeds, the
    mean infused share and median enrolment-to-infusion days of the CAR-T arm; per run the same."""
    from cartwin.engine.choice import resolve_solver
    from cartwin.trial.comparative import JourneyScenario, simulate_trial

    protocol, n, follow = _checked(protocol, n, 1, follow_up_days)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValidationError("seeds", "one or more seeds", seeds)
    for s in seeds:
        check("seed", s, Interval(0, 2**63 - 1, integer=True))
    endpoint = endpoint or protocol.randomisation.primary_endpoint
    if endpoint not in KINDS:
        raise ValidationError("endpoint", "one of " + ", ".join(KINDS), endpoint)
    experimental, control = _arm_pair(protocol)
    if experimental.kind != "car-t":
        raise ValidationError("protocol.arms", "a car-t arm compared with the control (the journey is the CAR-T arm's)", experimental.kind)
    scenarios = [JourneyScenario(float(d), None if m is None else int(m)) for d in delays for m in manufacturing_lines]
    solver = resolve_solver(solver)
    rows = []
    for seed in seeds:
        for sc in scenarios:
            patients, _ = simulate_trial(protocol, n, seed, follow, solver=solver, scenario=sc)
            hr, p, events = fast_hr_logrank(patients[f"{endpoint}_day"].to_numpy(float), patients[f"{endpoint}_event"].to_numpy(bool),
                                            (patients["arm"] == experimental.name).to_numpy())
            arm = patients[patients["arm"] == experimental.name]
            rows.append({"extra_delay_days": sc.extra_delay_days,
                         "manufacturing_lines": "unlimited" if sc.manufacturing_lines is None else str(sc.manufacturing_lines),
                         "seed": seed, "endpoint": endpoint, "hr": hr, "p_logrank": p, "events": events,
                         "infused_share": float(arm["infused"].mean()),
                         "enrolment_to_infusion_median_day": float(arm["enrolment_to_infusion_day"].median())})
            if progress is not None:
                progress(1)
    runs = pd.DataFrame(rows)
    summary = (runs.groupby(["extra_delay_days", "manufacturing_lines"], sort=False)
               .agg(hr_mean=("hr", "mean"), hr_p2_5=("hr", lambda v: float(np.percentile(v, 2.5))),
                    hr_p97_5=("hr", lambda v: float(np.percentile(v, 97.5))), events_mean=("events", "mean"),
                    infused_share=("infused_share", "mean"),
                    enrolment_to_infusion_median_day=("enrolment_to_infusion_median_day", "mean"), seeds=("seed", "size"))
               .reset_index())
    summary.insert(2, "endpoint", endpoint)
    return summary, runs
