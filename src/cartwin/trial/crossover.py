"""Crossover-adjusted overall survival: the rank-preserving structural failure time model (RPSFT).

When standard-of-care patients cross over to the experimental therapy at progression, the ITT OS
hazard ratio compares "CAR-T" with "standard of care, then CAR-T" and is diluted towards 1.
RPSFT (Robins JM, Tsiatis AA. Commun Stat Theory Methods 1991;20:2609; White IR et al. Stat Med
1999;18:2617; Latimer NR, Abrams KR. NICE DSU TSD 16, 2014) asks what the control arm's survival
would have been without crossover. Each patient's untreated (counterfactual) survival is

    U(psi) = T_off + exp(psi) T_on,

``T_on`` the time spent on (after) the experimental therapy, ``T_off`` the time before it:
every experimental-arm patient is on it from randomisation (ITT: never-infused patients too), a
control patient from his crossover day. Randomisation makes U independent of the arm at the true
psi, so psi is g-estimated as the root of the log-rank statistic of U between arms, found on a
grid (``exp(-psi)`` is the factor by which the therapy stretches survival). Censoring is
re-censored (``D*(psi) = C min(1, exp(psi))`` for every patient, C his potential follow-up), which
keeps the censoring independent of treatment in the counterfactual scale.

The adjusted HR is the Cox HR of the experimental arm's observed times against the control arm's
counterfactual ones at psi-hat (re-censored); its 95 % CI is test-based, keeping the ITT log-rank
p (the usual choice: the adjustment does not add information; TSD 16). Assumption of the method:
a common treatment effect — crossover patients gain what randomised patients gain, the model's
own crossover assumption (:mod:`cartwin.trial.comparative`).

The log-rank statistic is the signed form of lifelines' ``logrank_test`` (``z**2`` is its
chi-square: tested), vectorised so the grid of several hundred values costs ~1 s at n = 2,000.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cartwin.foundation.errors import ValidationError

#: psi grid: exp(-psi) from exp(-3) to exp(3) (a 20-fold shortening to a 20-fold stretch).
GRID = np.round(np.arange(-3.0, 3.0 + 1e-9, 0.01), 10)


def risk_sets(t: np.ndarray, e: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At each distinct event time: at risk in all (``n``) and in group 1 (``n1``), events in all
    (``d``) and in group 1 (``d1``). ``t`` float, ``e`` and ``x`` bool arrays of one length."""
    times = np.unique(t[e])
    st_all, st_1 = np.sort(t), np.sort(t[x])
    n = t.size - np.searchsorted(st_all, times, side="left")
    n1 = x.sum() - np.searchsorted(st_1, times, side="left")
    ev_all, ev_1 = np.sort(t[e]), np.sort(t[e & x])
    d = np.searchsorted(ev_all, times, side="right") - np.searchsorted(ev_all, times, side="left")
    d1 = np.searchsorted(ev_1, times, side="right") - np.searchsorted(ev_1, times, side="left")
    return n, n1, d, d1


def logrank_z(t: np.ndarray, e: np.ndarray, group: np.ndarray) -> float:
    """Signed log-rank statistic ``(O1 - E1) / sqrt(V)`` of group 1 (hypergeometric variance):
    negative when group 1 has fewer events than expected. ``z**2`` equals lifelines'
    ``logrank_test`` chi-square."""
    t = np.asarray(t, float)
    e = np.asarray(e, bool)
    x = np.asarray(group, bool)
    if not e.any() or x.all() or not x.any():
        return 0.0
    n, n1, d, d1 = risk_sets(t, e, x)
    e1 = d * n1 / n
    v = np.where(n > 1, d * n1 * (n - n1) * (n - d) / (n.astype(float) ** 2 * np.maximum(n - 1, 1)), 0.0)
    return float((d1.sum() - e1.sum()) / math.sqrt(v.sum())) if v.sum() > 0 else 0.0


def counterfactual(psi: float, t: np.ndarray, e: np.ndarray, on_day: np.ndarray, censor_day: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Untreated times ``U(psi)`` with re-censoring. ``on_day``: day the therapy started (0 for
    the experimental arm, the crossover day, NaN or inf for a control patient who never crossed)."""
    t = np.asarray(t, float)
    on = np.asarray(on_day, float)
    started = np.isfinite(on) & (on < t)
    t_on = np.where(started, t - np.where(started, on, 0.0), 0.0)
    u = (t - t_on) + math.exp(psi) * t_on
    d_star = np.asarray(censor_day, float) * min(1.0, math.exp(psi))
    event = np.asarray(e, bool) & (u <= d_star)
    return np.minimum(u, d_star), event


def rpsft(t: np.ndarray, e: np.ndarray, experimental: np.ndarray, crossover_day: np.ndarray, censor_day: np.ndarray,
          grid: np.ndarray = GRID) -> dict[str, Any]:
    """RPSFT estimate of psi and the crossover-adjusted HR (module docstring).

    ``t``, ``e``: observed OS (days, event); ``experimental``: True for the experimental arm;
    ``crossover_day``: control patients' crossover day (NaN: none; ignored for the experimental
    arm); ``censor_day``: each patient's potential follow-up (administrative censoring time).
    Returns psi-hat with its 95 % interval (grid values with |Z| < 1.96), the acceleration
    factor ``exp(-psi)``, the adjusted HR with its test-based 95 % CI, and the ITT HR."""
    from lifelines import CoxPHFitter

    t = np.asarray(t, float)
    e = np.asarray(e, bool)
    x = np.asarray(experimental, bool)
    cross = np.asarray(crossover_day, float)
    c = np.asarray(censor_day, float)
    if not (t.shape == e.shape == x.shape == cross.shape == c.shape):
        raise ValidationError("rpsft", "arrays of one length (t, e, experimental, crossover_day, censor_day)", [a.shape for a in (t, e, x, cross, c)])
    if np.any(c + 1e-9 < t):
        raise ValidationError("censor_day", "a potential follow-up no shorter than each patient's observed time", "shorter")
    on = np.where(x, 0.0, cross)
    out: dict[str, Any] = {"method": "RPSFT (log-rank g-estimation, re-censored; test-based CI)", "psi": None,
                           "psi_ci": [None, None], "acceleration_factor": None, "hr": None, "ci_low": None, "ci_high": None,
                           "crossed_over": int(np.count_nonzero(~x & np.isfinite(cross) & (cross < t)))}
    if not e.any() or x.all() or not x.any():
        return out
    z = np.array([logrank_z(*counterfactual(float(p), t, e, on, c), x) for p in grid])
    # z falls as psi rises (a larger psi lengthens the experimental arm's untreated-scale times).
    change = np.flatnonzero((z[:-1] > 0) & (z[1:] <= 0))
    if change.size == 0:
        out["note"] = "no root of the log-rank statistic on the psi grid"
        return out
    k = int(change[0])
    z0, z1 = z[k], z[k + 1]
    psi = float(grid[k] + (grid[k + 1] - grid[k]) * (-z0 / (z1 - z0))) if z1 != z0 else float(grid[k])
    inside = grid[np.abs(z) < stats.norm.ppf(0.975)]
    out.update(psi=psi, psi_ci=[float(inside.min()), float(inside.max())] if inside.size else [None, None],
               acceleration_factor=math.exp(-psi))
    u, ue = counterfactual(psi, t, e, on, c)
    tt = np.where(x, t, u)
    ee = np.where(x, e, ue)
    df = pd.DataFrame({"t": np.maximum(tt, 1e-9), "e": ee, "treated": x.astype(float)})
    itt = pd.DataFrame({"t": np.maximum(t, 1e-9), "e": e, "treated": x.astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hr = float(np.exp(CoxPHFitter().fit(df, "t", "e").params_["treated"]))
            itt_hr = float(np.exp(CoxPHFitter().fit(itt, "t", "e").params_["treated"]))
        except Exception as exc:  # lifelines' convergence errors
            out["note"] = f"Cox fit failed: {type(exc).__name__}"
            return out
    z_itt = abs(logrank_z(t, e, x))
    out.update(hr=hr, itt_hr=itt_hr)
    if z_itt > 0 and hr != 1.0:
        se = abs(math.log(hr)) / z_itt
        out.update(ci_low=math.exp(math.log(hr) - 1.96 * se), ci_high=math.exp(math.log(hr) + 1.96 * se))
    out["p_logrank_itt"] = float(2 * stats.norm.sf(z_itt))
    return out
