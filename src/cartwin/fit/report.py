"""Diagnostics of a fit and the files a fit writes: tables, figures and one HTML report.

Figures: observed vs population (PRED) and individual (IPRED) predictions, CWRES against time
and PRED, and a visual predictive check (5th/50th/95th percentiles of the observations per time
bin against the 90 % intervals of the same percentiles over datasets simulated from the fit,
BLQ values counted as below LLOQ). The HTML report embeds them, so it is one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cartwin.fit.population import PopulationFit, simulate_replicates


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _bins(times: np.ndarray, max_bins: int = 20) -> np.ndarray:
    unique = np.unique(times)
    if unique.size <= max_bins:
        return np.searchsorted(unique, times)
    edges = np.unique(np.quantile(times, np.linspace(0, 1, max_bins + 1)))
    return np.clip(np.searchsorted(edges, times, side="right") - 1, 0, edges.size - 2)


def vpc_table(fit: PopulationFit, n_rep: int = 200, seed: int = 1) -> pd.DataFrame:
    """Per time bin: observed 5/50/95th percentiles and the simulated 90 % intervals of each."""
    p = fit.problem
    sims = simulate_replicates(fit, n_rep, seed)
    below = -1e300  # BLQ: below every quantified value (percentiles there are shown as "< LLOQ")
    obs = np.where(p.obs_cens == 1, below, p.obs_dv)
    sims = np.where(np.isnan(sims), below, sims)
    b = _bins(p.obs_time)
    rows = []
    for k in np.unique(b):
        m = b == k
        row = {"time": float(np.median(p.obs_time[m])), "n": int(m.sum()),
               "blq_fraction": float(np.mean(p.obs_cens[m] == 1))}
        for q in (5, 50, 95):
            row[f"obs_p{q}"] = float(np.percentile(obs[m], q))
            sim_q = np.percentile(sims[:, m], q, axis=1)
            row[f"sim_p{q}_low"], row[f"sim_p{q}_mid"], row[f"sim_p{q}_high"] = np.percentile(sim_q, [5, 50, 95])
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.mask(table < -1e299, -np.inf)


def figures(fit: PopulationFit, vpc: pd.DataFrame) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = fit.predictions
    ok = d["CENS"] == 0
    log = fit.problem.error == "log"
    unit = fit.problem.dataset.dv_unit
    out = {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, col in zip(axes, ("PRED", "IPRED"), strict=True):
        ax.scatter(d.loc[ok, col], d.loc[ok, "DV"], s=8, alpha=0.5)
        lim = [max(min(d.loc[ok, col].min(), d.loc[ok, "DV"].min()), 1e-300), max(d.loc[ok, col].max(), d.loc[ok, "DV"].max())]
        ax.plot(lim, lim, "k--", lw=1)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(f"{col} ({unit})")
        ax.set_ylabel(f"observed ({unit})")
        ax.set_title(f"observed vs {'population' if col == 'PRED' else 'individual'} prediction")
    out["Observed vs predicted"] = _png(fig)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, col in zip(axes, ("TIME", "PRED"), strict=True):
        ax.scatter(d.loc[ok, col], d.loc[ok, "CWRES"], s=8, alpha=0.5)
        ax.axhline(0, color="k", lw=1)
        for h in (-2, 2):
            ax.axhline(h, color="k", lw=0.5, ls=":")
        if col == "PRED" and log:
            ax.set_xscale("log")
        ax.set_xlabel("time (day)" if col == "TIME" else f"PRED ({unit})")
        ax.set_ylabel("CWRES")
    out["Conditional weighted residuals"] = _png(fig)
    fig, ax = plt.subplots(figsize=(8, 5))
    t = vpc["time"].to_numpy()
    floor = np.nanmin(fit.problem.obs_lloq) if np.isfinite(fit.problem.obs_lloq).any() else None
    for q, color in ((5, "tab:blue"), (50, "tab:red"), (95, "tab:blue")):
        lo, hi = vpc[f"sim_p{q}_low"].to_numpy(), vpc[f"sim_p{q}_high"].to_numpy()
        if floor is not None:
            lo, hi = np.maximum(lo, floor), np.maximum(hi, floor)
        what = "median" if q == 50 else "5th and 95th percentiles"
        ax.fill_between(t, lo, hi, color=color, alpha=0.2, label=None if q == 95 else f"simulated {what}, 90% interval")
        o = vpc[f"obs_p{q}"].to_numpy()
        ax.plot(t, np.where(np.isfinite(o), o, np.nan), color=color, marker="o",
                label=None if q == 95 else f"observed {what}")
    if floor is not None:
        ax.axhline(floor, color="grey", ls="--", lw=1, label="LLOQ")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("time (day)")
    ax.set_ylabel(f"{fit.problem.observable} ({unit})")
    ax.set_title("Visual predictive check")
    ax.legend(fontsize=7)
    out["Visual predictive check"] = _png(fig)
    return out


def write_population_outputs(fit: PopulationFit, out: str | Path, n_vpc: int = 200) -> dict[str, Path]:
    """estimates.csv (tidy table), individual.csv, predictions.csv, vpc.csv, summary.json,
    report.html and population.json (the fitted population, :mod:`cartwin.population.fitted`:
    ``cartwin trial --population`` draws from it) under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = fit.table()
    vpc = vpc_table(fit, n_vpc)
    paths = {
        "estimates": out / "estimates.csv", "individual": out / "individual.csv",
        "predictions": out / "predictions.csv", "vpc": out / "vpc.csv", "summary": out / "summary.json",
        "report": out / "report.html", "population": out / "population.json",
    }
    fit.fitted_population().write(paths["population"])
    table.to_csv(paths["estimates"], index=False)
    fit.individual().to_csv(paths["individual"], index=False)
    fit.predictions.to_csv(paths["predictions"], index=False)
    vpc.to_csv(paths["vpc"], index=False)
    p = fit.problem
    summary = {
        "model": p.model.name, "model_version": p.model.version, "dataset": p.dataset.summary(),
        "source": p.dataset.source, "observable": p.observable, "estimated": list(p.estimate),
        "fixed": p.fixed, "ofv_minus_2loglik": fit.ofv, "typical": fit.typical(),
        "omega2": dict(zip(p.estimate, map(float, fit.omega2), strict=True)), "sigma": fit.sigma,
        "shrinkage": dict(zip(p.estimate, map(float, fit.shrinkage), strict=True)),
        "covariates": {k: list(v) for k, v in p.covariate_names.items()},
        "unapplied_dose_records": p.unapplied_doses, "settings": fit.settings,
    }
    paths["summary"].write_text(json.dumps(summary, indent=2, default=float))
    figs = figures(fit, vpc)
    notes = []
    if p.unapplied_doses:
        notes.append(f"{p.unapplied_doses} dose records have no CMT: recorded, not applied to {p.model.name}.")
    body = [
        f"<h1>Population fit: {html.escape(p.model.name)} to {html.escape(str(p.dataset.source))}</h1>",
        f"<p>{html.escape(fit.settings['method'])}; error model: {html.escape(p.error)}; "
        f"-2 log L (importance sampling): {fit.ofv:.2f}; engine {html.escape(str(fit.settings['engine']))}.</p>",
        "<p>" + html.escape(json.dumps(p.dataset.summary())) + "</p>",
        *[f"<p><b>Note:</b> {html.escape(n)}</p>" for n in notes],
        "<h2>Estimates</h2>", table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""),
    ]
    for title, png in figs.items():
        body += [f"<h2>{html.escape(title)}</h2>", f'<img alt="{html.escape(title)}" src="data:image/png;base64,{png}"/>']
    body += ["<h2>Individual estimates (first 20)</h2>",
             fit.individual().head(20).to_html(index=False, float_format=lambda v: f"{v:.4g}")]
    paths["report"].write_text("<!doctype html><html><head><meta charset='utf-8'><title>cartwin fit</title>"
                               "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
                               "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
                               "padding:2px 6px}</style></head><body>" + "\n".join(body) + "</body></html>")
    return paths


def write_individual_outputs(fit, out: str | Path) -> dict[str, Path]:
    """individual_estimates.csv (tidy: ID, parameter, estimate, se, 95 % interval),
    predictions.csv and summary.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    p = fit.problem
    paths = {"estimates": out / "individual_estimates.csv", "predictions": out / "predictions.csv",
             "summary": out / "summary.json"}
    fit.table.to_csv(paths["estimates"], index=False)
    f = fit.predictions()
    pd.DataFrame({"ID": np.array(p.ids, dtype=object)[p.obs_subject], "TIME": p.obs_time, "DV": p.obs_dv,
                  "CENS": p.obs_cens, "IPRED": f, "ROW": p.obs_row}).to_csv(paths["predictions"], index=False)
    paths["summary"].write_text(json.dumps({
        "model": p.model.name, "dataset": p.dataset.summary(), "method": "MAP per patient (scipy least_squares, M3 BLQ)",
        "prior_typical": dict(zip(p.estimate, map(float, p.from_phi(fit.prior_mu[0]).values()), strict=True)),
        "prior_omega2": dict(zip(p.estimate, map(float, fit.prior_omega2), strict=True)),
        "sigma": fit.sigma, "sigma_estimated": fit.sigma_estimated, "unapplied_dose_records": p.unapplied_doses,
    }, indent=2))
    return paths
