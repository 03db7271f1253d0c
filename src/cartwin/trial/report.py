"""Self-contained HTML report of a virtual trial (figures embedded as base64 PNG; no network).

Figures: Kaplan–Meier curves of PFS and OS (lifelines, 95 % bands), a swimmer plot, kinetics
spaghetti with the median and 10–90 % band, toxicity grade bars; a table of simulated vs
published endpoints (protocol ``[targets]``) marking fitted targets and whether the published
value falls inside the simulated 95 % CI.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartwin.trial.endpoints import DAYS_PER_MONTH, ENDPOINTS, RESPONDERS

FIGURES = ("km_pfs", "km_os", "swimmer", "kinetics", "toxicity")


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _km_figure(patients: pd.DataFrame, kind: str, target=None):
    """KM curves (ITT and infused) with 95 % bands, numbers at risk under the axis and the
    published 12-month value with its CI (the publications give points, not digitised curves)."""
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    fig, ax = plt.subplots(figsize=(6, 4.6))
    fitted = []
    for label, df in (("ITT", patients), ("infused", patients[patients["infused"].fillna(False).astype(bool)])):
        d = df[f"{kind}_day"].to_numpy(dtype=float)
        ok = np.isfinite(d)
        if ok.sum() == 0:
            continue
        kmf = KaplanMeierFitter(label=f"{label} (n={ok.sum()})")
        kmf.fit(d[ok] / DAYS_PER_MONTH, df[f"{kind}_event"].fillna(False).astype(bool).to_numpy()[ok])
        kmf.plot_survival_function(ax=ax, ci_show=True)
        fitted.append(kmf)
    if target is not None:
        value = float(target.value)
        lo, hi = getattr(target, "ci_low", None), getattr(target, "ci_high", None)
        err = None if lo is None or hi is None else [[value - lo], [hi - value]]
        ax.errorbar([12.0], [value], yerr=err, fmt="k*", ms=11, capsize=3, label="published at 12 months (95% CI)")
    if not fitted:
        ax.text(0.5, 0.5, "no patients", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("months from infusion")
    ax.set_ylabel(f"{kind.upper()} probability")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"Kaplan-Meier {kind.upper()}")
    if fitted:
        add_at_risk_counts(*fitted, ax=ax, rows_to_show=["At risk"], fig=fig)
    fig.tight_layout()
    return fig


#: Response categories shown in the swimmer legend, by response criteria (protocol assessment).
LEGEND = {
    "lugano": ("CR", "PR", "SD", "PD"),
    "recist": ("CR", "PR", "SD", "PD"),
    "all": ("CR", "NR", "PD"),
    "imwg": ("sCR", "CR", "VGPR", "PR", "SD", "PD"),
}
COLOURS = {"sCR": "darkgreen", "CR": "tab:green", "CRi": "tab:green", "VGPR": "tab:olive", "PR": "tab:cyan",
           "SD": "tab:grey", "NR": "tab:grey", "PD": "tab:red", "NE": "lightgrey"}


def _swimmer(patients: pd.DataFrame, max_patients: int = 40, criteria: str | None = None):
    import matplotlib.pyplot as plt

    inf = patients[patients["infused"].fillna(False).astype(bool)].head(max_patients)
    inf = inf.sort_values("os_day")
    fig, ax = plt.subplots(figsize=(6, max(3, 0.16 * len(inf) + 1)))
    for i, row in enumerate(inf.itertuples(index=False)):
        os_m = float(row.os_day) / DAYS_PER_MONTH
        ax.barh(i, os_m, color=COLOURS.get(str(row.best_response), "lightgrey"), height=0.7)
        if bool(row.pfs_event) and np.isfinite(row.pfs_day) and row.pfs_day < row.os_day:
            ax.plot(row.pfs_day / DAYS_PER_MONTH, i, "k|", ms=8)
        if bool(row.os_event):
            ax.plot(os_m, i, "kx", ms=5)
        elif os_m > 0:
            ax.plot(os_m, i, "k>", ms=4)
    shown = list(LEGEND.get(criteria or "", ()))
    present = [c for c in inf["best_response"].astype(str).unique() if c in COLOURS]
    shown += [c for c in present if c not in shown]  # e.g. NE: a patient who died before assessment
    if not LEGEND.get(criteria or ""):
        shown = sorted(present, key=list(COLOURS).index)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[c]) for c in shown]
    if handles:
        ax.legend(handles, shown, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="best response",
                  title_fontsize=7, frameon=False)
    ax.set_xlabel("months from infusion (| progression, x death, > censored)")
    ax.set_ylabel("infused patients (sorted by follow-up)")
    ax.set_yticks([])
    ax.set_title(f"Swimmer plot (first {len(inf)} infused patients, bar = best response)")
    return fig


#: Axis labels of the kinetics figure's measures.
KINETIC_LABELS = {"transgene_copies_per_ug": "CAR transgene in blood (copies/µg gDNA)", "car_t_per_ul": "CAR-T cells in blood (cells/µL)"}


def _kinetics(timecourses: pd.DataFrame | None, target_cmax: float | None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if timecourses is None or timecourses.empty:
        ax.text(0.5, 0.5, "no timecourses given", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    col = "transgene_copies_per_ug" if "transgene_copies_per_ug" in timecourses else "car_t_per_ul"
    tc = timecourses[timecourses["day"] >= 0]
    for _, g in tc.groupby("patient_id"):
        ax.plot(g["day"], np.maximum(g[col], 1e-2), color="tab:blue", alpha=0.15, lw=0.8)
    q = tc.groupby("day")[col].quantile([0.1, 0.5, 0.9]).unstack()
    ax.fill_between(q.index, np.maximum(q[0.1], 1e-2), np.maximum(q[0.9], 1e-2), color="tab:orange", alpha=0.3, label="10-90 %")
    ax.plot(q.index, np.maximum(q[0.5], 1e-2), color="tab:orange", lw=2, label="median")
    if target_cmax is not None:
        ax.axhline(target_cmax, color="k", ls="--", lw=1, label="published Cmax")
    ax.set_yscale("log")
    ax.set_xlabel("day after infusion")
    ax.set_ylabel(KINETIC_LABELS.get(col, col))
    ax.legend(fontsize=8)
    ax.set_title(f"CAR kinetics ({tc['patient_id'].nunique()} patients)")
    return fig


def _toxicity(patients: pd.DataFrame, crs_scale: str, icans_scale: str, targets: Mapping[str, Any]):
    import matplotlib.pyplot as plt

    inf = patients[patients["infused"].fillna(False).astype(bool)]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5), sharey=True)
    axes[0].set_ylim(0, 1.0)
    for ax, tox, scale in ((axes[0], "crs", crs_scale), (axes[1], "icans", icans_scale)):
        col = f"{tox}_max_grade_{scale}"
        if col not in inf or len(inf) == 0:
            ax.set_axis_off()
            continue
        g = inf[col].fillna(0).astype(int)
        share = [(g == k).mean() for k in range(6)]
        ax.bar(range(6), share, color=["lightgrey", "gold", "orange", "tab:red", "darkred", "black"])
        # One line each, stacked at the top left: the two labels used to overlap over grades 1-4.
        published = [f"published {label}: {targets[name].value:.0%}" for name, label in
                     ((f"{tox}_any", "any grade"), (f"{tox}_grade3plus", "grade >= 3")) if name in targets]
        if published:
            ax.text(0.98, 0.97, "\n".join(published), transform=ax.transAxes, ha="right", va="top", fontsize=7,
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "#ccc"})
        ax.set_xticks(range(6))
        ax.set_xlabel(f"max {tox.upper()} grade ({scale})")
        ax.set_title(f"{tox.upper()}: any {np.mean(g >= 1):.0%}, grade>=3 {np.mean(g >= 3):.0%}")
    axes[0].set_ylabel("share of infused patients")
    return fig


def _fmt(v: Any, unit: str) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if unit == "fraction":
        return f"{100 * v:.1f}%"
    if unit == "patients":
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
    return f"{v:.3g}"


#: Response criteria that assess MRD (ALL: marrow flow cytometry; IMWG: MRD in myeloma).
MRD_CRITERIA = frozenset({"all", "imwg"})


def format_entry(name: str, entry: Mapping[str, Any] | None, criteria: str | None = None) -> str:
    """An endpoint as the report and the CLI print it: ``83.0% (74.2%–89.5%)``; a median not
    reached as ``not reached (95% CI 10.6–NR)``; MRD under criteria that do not assess it as
    ``not assessed``."""
    unit = ENDPOINTS[name].unit
    if name == "mrd_neg_rate" and criteria is not None and criteria not in MRD_CRITERIA:
        return f"not assessed ({criteria})"
    if entry is None or entry.get("n", 0) == 0:
        return "—"
    est, lo, hi = entry.get("estimate"), entry.get("ci_low"), entry.get("ci_high")
    if ENDPOINTS[name].kind == "km_median" and est is None:
        return "not reached" if lo is None else f"not reached (95% CI {_fmt(lo, unit)}–NR)"
    if est is None:
        return "—"
    high = "NR" if hi is None and ENDPOINTS[name].kind == "km_median" else _fmt(hi, unit)
    return f"{_fmt(est, unit)} ({_fmt(lo, unit)}–{high})"


def comparison_table(endpoints: Mapping[str, Any], protocol) -> pd.DataFrame:
    """Simulated vs published endpoints for every target of the protocol."""
    rows = []
    for name, t in (protocol.targets if protocol is not None else {}).items():
        sim = endpoints.get(t.set, {}).get(name, {})
        lo, hi = sim.get("ci_low"), sim.get("ci_high")
        rows.append({
            "endpoint": name, "set": t.set, "simulated": sim.get("estimate"), "sim_ci_low": lo, "sim_ci_high": hi,
            "published": t.value, "pub_ci_low": t.ci_low, "pub_ci_high": t.ci_high, "n_published": t.n,
            "fitted": t.fitted, "scale": t.scale,
            "published_inside_sim_ci": (lo is not None and hi is not None and lo <= t.value <= hi),
            "source": t.source,
        })
    return pd.DataFrame(rows)


def write_report(patients: pd.DataFrame, endpoints: Mapping[str, Any], protocol=None, out_dir: str | Path = ".",
                 timecourses: pd.DataFrame | None = None, parameters: Mapping[str, Any] | None = None,
                 fitted_population: Mapping[str, Any] | None = None) -> Path:
    """Write ``out_dir/report.html`` and return its path.

    ``endpoints``: output of :func:`cartwin.trial.endpoints.compute_endpoints`; ``protocol``: a
    :class:`cartwin.trial.protocol.Protocol` (its targets are overlaid) or ``None``;
    ``timecourses``: tidy table (``patient_id``, ``day``, ``transgene_copies_per_ug``) of a sample
    of patients for the kinetics figure; ``parameters``: the factors applied and their source
    (:attr:`cartwin.trial.runner.TrialResult.parameters`); ``fitted_population``: the record of a
    fitted population the patients were drawn from.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    targets = protocol.targets if protocol is not None else {}
    crs_scale = protocol.reporting.crs_scale if protocol is not None else endpoints.get("scale", "astct")
    # Only ASTCT grades ICANS; the runner reports ICANS on ASTCT whatever the CRS scale.
    icans_scale = protocol.reporting.icans_scale if protocol is not None else crs_scale
    if f"icans_max_grade_{icans_scale}" not in patients:
        icans_scale = "astct" if "icans_max_grade_astct" in patients else crs_scale
    criteria = protocol.assessment.criteria if protocol is not None else None
    figs = {
        "km_pfs": _km_figure(patients, "pfs", targets.get("pfs_12m")),
        "km_os": _km_figure(patients, "os", targets.get("os_12m")),
        "swimmer": _swimmer(patients, criteria=criteria),
        "kinetics": _kinetics(timecourses, targets["cmax_median"].value if "cmax_median" in targets else None),
        "toxicity": _toxicity(patients, crs_scale, icans_scale, targets),
    }
    imgs = "\n".join(f'<figure id="{k}"><img alt="{k}" src="data:image/png;base64,{_png(f)}"/></figure>' for k, f in figs.items())

    rows = []
    for name, d in ENDPOINTS.items():
        cells = []
        for s in ("itt", "infused"):
            cells.append(f"<td>{html.escape(format_entry(name, endpoints.get(s, {}).get(name), criteria))}</td>")
        rows.append(f"<tr><td>{name}</td>{''.join(cells)}<td>{html.escape(d.unit)}</td></tr>")
    endpoint_table = "<table><tr><th>endpoint</th><th>ITT (95% CI)</th><th>infused (95% CI)</th><th>unit</th></tr>" + "".join(rows) + "</table>"

    comp = comparison_table(endpoints, protocol)
    comp_rows = []
    for r in comp.itertuples(index=False):
        unit = ENDPOINTS[r.endpoint].unit
        pub_ci = f" ({_fmt(r.pub_ci_low, unit)}–{_fmt(r.pub_ci_high, unit)})" if r.pub_ci_low is not None and not pd.isna(r.pub_ci_low) else ""
        sim = html.escape(format_entry(r.endpoint, endpoints.get(r.set, {}).get(r.endpoint), criteria))
        comp_rows.append(
            f"<tr><td>{r.endpoint}</td><td>{r.set}</td><td>{sim}</td>"
            f"<td>{_fmt(r.published, unit)}{pub_ci}</td><td>{'fitted' if r.fitted else 'validation'}</td>"
            f"<td>{'yes' if r.published_inside_sim_ci else 'no'}</td><td>{html.escape(str(r.scale))}</td><td>{html.escape(str(r.source))}</td></tr>")
    comp_table = ("<table id='targets'><tr><th>endpoint</th><th>set</th><th>simulated (95% CI)</th><th>published (95% CI)</th>"
                  "<th>role</th><th>published in sim CI</th><th>scale</th><th>source</th></tr>" + "".join(comp_rows) + "</table>")

    title = html.escape(protocol.name if protocol is not None else "virtual trial")
    assumed = ""
    if protocol is not None and protocol.assumed:
        assumed = "<h2>Assumptions</h2><ul>" + "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>" for k, v in protocol.assumed.items()) + "</ul>"
    n_inf = int(patients["infused"].fillna(False).astype(bool).sum())
    n_resp = int(patients["best_response"].isin(list(RESPONDERS)).sum())
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cartwin: {title}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px}}figure{{display:inline-block;margin:6px}}img{{max-width:480px}}</style></head>
<body><h1>Virtual trial: {title}</h1>
<p>{len(patients)} enrolled, {n_inf} infused, {n_resp} responders. CRS scale: {html.escape(crs_scale)}; ICANS scale: {html.escape(icans_scale)}.
Simulated output of the cartwin model — not a clinical prediction.</p>
<h2>Simulated vs published</h2>{comp_table}
<h2>Figures</h2>{imgs}
<h2>All endpoints</h2>{endpoint_table}
{parameters_section(parameters, fitted_population)}
{assumed}
</body></html>
"""
    path = out / "report.html"
    from cartwin.foundation.results import atomic_write_text

    atomic_write_text(path, doc)
    return path


def parameters_section(parameters: Mapping[str, Any] | None, fitted_population: Mapping[str, Any] | None = None,
                       heading: str = "Parameters") -> str:
    """Which parameters the patients were simulated with: a reader of the report alone should
    know whether a result is the calibrated model, an uncalibrated one, or a fitted population.
    ``parameters``: :func:`cartwin.trial.runner.parameters_record`'s dict (the single-arm report's,
    and the randomised report's for its CAR-T arm, ``heading`` saying so); "" when both are None."""
    if parameters is None and fitted_population is None:
        return ""
    parts = [f"<h2>{html.escape(heading)}</h2>"]
    if parameters is not None:
        parts.append(f"<p>Calibration: <code>{html.escape(str(parameters.get('calibration')))}</code>"
                     + (f"; overrides: <code>{html.escape(str(parameters['overrides']))}</code>" if parameters.get("overrides") else "")
                     + ". Factors on the published typical values (for <code>dysfunctional_product_fraction</code>,"
                     " the share of products itself):</p>")
        factors = parameters.get("factors") or {}
        if factors:
            parts.append("<table id='factors'><tr><th>parameter</th><th>factor (share)</th></tr>"
                         + "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{v:.4g}</td></tr>" for k, v in factors.items())
                         + "</table>")
        else:
            parts.append("<p>none (published typical values)</p>")
    if fitted_population is not None:
        items = "".join(f"<li><code>{html.escape(str(k))}</code>: {html.escape(str(v))}</li>"
                        for k, v in fitted_population.items() if not isinstance(v, (dict, list)))
        parts.append(f"<h3>Fitted population</h3><ul id='fitted-population'>{items}</ul>")
    return "\n".join(parts)
