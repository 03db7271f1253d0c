"""Self-contained HTML report of a randomised trial (figures as base64 PNG, as :mod:`cartwin.trial.report`).

Figures: Kaplan-Meier EFS, PFS and OS per arm from randomisation with 95 % bands and numbers at
risk (lifelines), and a forest plot of the primary endpoint's HR by randomisation stratum.
Tables: HR with 95 % CI and log-rank p per endpoint; per-arm medians, landmarks, ORR/CR,
toxicity, crossover and median follow-up. Every number is labelled a simulated prediction.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartwin.trial.endpoints import DAYS_PER_MONTH
from cartwin.trial.report import _png


def _km_arms(patients: pd.DataFrame, kind: str, arms) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    fig, ax = plt.subplots(figsize=(6, 4.6))
    fitted = []
    for arm in arms:
        d = patients[patients["arm"] == arm.name]
        if d.empty:
            continue
        kmf = KaplanMeierFitter(label=f"{arm.name} (n={len(d)})")
        kmf.fit(d[f"{kind}_day"].to_numpy(float) / DAYS_PER_MONTH, d[f"{kind}_event"].to_numpy(bool))
        kmf.plot_survival_function(ax=ax, ci_show=True)
        fitted.append(kmf)
    ax.set_xlabel("months from randomisation")
    ax.set_ylabel(f"{kind.upper()} probability")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Kaplan-Meier {kind.upper()} by arm (ITT, simulated)")
    ax.legend(loc="best", fontsize=8)
    if fitted:
        add_at_risk_counts(*fitted, ax=ax, rows_to_show=["At risk"], fig=fig)
    fig.tight_layout()
    return fig


def _forest(table: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    t = table.dropna(subset=["hr"])
    fig, ax = plt.subplots(figsize=(6, 0.45 * max(len(t), 2) + 1))
    y = np.arange(len(t))[::-1]
    ax.errorbar(t["hr"], y, xerr=[t["hr"] - t["ci_low"], t["ci_high"] - t["hr"]], fmt="s", color="k", capsize=3)
    ax.axvline(1.0, color="grey", ls="--")
    ax.set_yticks(y, [f"{r.stratum} ({r.n} pts)" for r in t.itertuples()], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("hazard ratio (95% CI), log scale")
    ax.set_title(f"{t['endpoint'].iloc[0].upper() if len(t) else ''} HR by stratum (simulated)")
    fig.tight_layout()
    return fig


def _f(v, digits=2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def format_rate(e: Mapping[str, Any] | None) -> str:
    """A rate of the endpoints (estimate, exact CI, k/n) as the report and ``cartwin trial`` print it:
    ``12.5% (8.1–18.2; 20/160)``; "—" where there is none."""
    if not e or e.get("estimate") is None:
        return "—"
    return f"{100 * e['estimate']:.1f}% ({100 * e['ci_low']:.1f}–{100 * e['ci_high']:.1f}; {e['k']}/{e['n']})"


def _km(e: Mapping[str, Any]) -> str:
    med = "not reached" if e.get("median_month") is None else f"{e['median_month']:.1f} mo ({_f(e.get('median_ci_low'), 1)}–{_f(e.get('median_ci_high'), 1)})"
    marks = "; ".join(f"{m}: {_f(e.get(f'at_{m}'), 2)}" for m in ("12m", "24m") if e.get(f"at_{m}") is not None)
    return f"median {med}; {marks}; {e['events']} events / {e['n']}"


def _toxicity_table(arms: Mapping[str, Any]) -> str:
    """Arm-by-arm toxicity: a row per endpoint any arm's model carries (the same name is the same
    event in every arm), "not modelled" where an arm's model lacks it."""
    from cartwin.trial.comparative import toxicity_by_arm

    head = "".join(f"<th>{html.escape(n)}</th>" for n in arms)
    rows = []
    for k, definition, by_arm in toxicity_by_arm(arms):
        cells = "".join(f"<td>{format_rate(e)}</td>" if e is not None else '<td class="na">not modelled</td>' for e in by_arm.values())
        rows.append(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(definition)}</td>{cells}</tr>")
    return (f"<table><tr><th>endpoint</th><th>definition</th>{head}</tr>" + "".join(rows) + "</table>"
            "<p>Rates with exact 95% CI and k/n. Standard-of-care events are drawn per patient at the rates of the regimen's own "
            "source (docs/comparative.md); their treatment-related deaths are reported, not deaths in OS. The CAR-T arm's "
            "cytopenias are graded on the mechanistic model's observed blood counts: at any count from infusion on (the same "
            "event as the standard-of-care arm's, same name) and on days 28 and 90 (prevalences, names of their own).</p>")


def write_comparative_report(patients: pd.DataFrame, endpoints: Mapping[str, Any], protocol, out_dir: str | Path) -> Path:
    """Write ``out_dir/report.html`` and return its path."""
    from cartwin.foundation.results import atomic_write_text
    from cartwin.trial.comparative import KINDS, PREDICTION_NOTE, forest_by_stratum
    from cartwin.trial.report import parameters_section

    out = Path(out_dir)
    imgs = "".join(f'<figure><img alt="{k}" src="data:image/png;base64,{_png(_km_arms(patients, k, protocol.arms))}"></figure>'
                   for k in KINDS)
    forest = forest_by_stratum(patients, protocol)
    if len(forest) > 1:
        imgs += f'<figure><img alt="forest" src="data:image/png;base64,{_png(_forest(forest))}"></figure>'
    rows = []
    for name, comp in endpoints["comparisons"].items():
        for kind in KINDS:
            h = comp[kind]
            p = "—" if h["p_logrank"] is None else f"{h['p_logrank']:.3g}"
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{kind.upper()}</td><td>{_f(h['hr'])} ({_f(h['ci_low'])}–{_f(h['ci_high'])})</td>"
                        f"<td>{p}</td><td>{h['events']}</td><td>{'yes' if h['stratified'] else 'no'}</td></tr>")
        if (r := comp.get("os_rpsft")) is not None:
            rows.append(f"<tr><td>{html.escape(name)}</td><td>OS, crossover-adjusted (RPSFT; psi {_f(r['psi'])}, "
                        f"{r['crossed_over']} crossed over)</td><td>{_f(r['hr'])} ({_f(r['ci_low'])}–{_f(r['ci_high'])})</td>"
                        "<td>test-based (ITT p)</td><td>—</td><td>no</td></tr>")
    hr_table = ("<table><tr><th>comparison</th><th>endpoint</th><th>HR (95% CI)</th><th>log-rank p</th><th>events</th>"
                "<th>stratified Cox</th></tr>" + "".join(rows) + "</table>")
    arm_rows = []
    for name, a in endpoints["arms"].items():
        extra = (f"infused {format_rate(a.get('infused'))}" if a["kind"] == "car-t"
                 else f"crossover {format_rate(a.get('crossover'))}" if a["kind"] == "standard-of-care" else "")
        arm_rows.append(f"<tr><td>{html.escape(name)}</td><td>{a['kind']}{' / ' + html.escape(a['regimen']) if a.get('regimen') else ''}</td>"
                        f"<td>{a['n']}</td><td>{_km(a['efs'])}</td><td>{_km(a['pfs'])}</td><td>{_km(a['os'])}</td>"
                        f"<td>{format_rate(a['orr'])}</td><td>{format_rate(a['cr_rate'])}</td><td>{html.escape(extra)}</td>"
                        f"<td>{_f(a['median_follow_up_month'], 1)}</td></tr>")
    arm_table = ("<table><tr><th>arm</th><th>kind</th><th>n</th><th>EFS</th><th>PFS</th><th>OS</th><th>ORR</th><th>CR</th>"
                 "<th>journey / crossover</th><th>median follow-up (mo)</th></tr>" + "".join(arm_rows) + "</table>")
    tox_table = _toxicity_table(endpoints["arms"])
    parameters = endpoints.get("parameters")  # cartwin.trial.runner.parameters_record's, as a single-arm report's
    car_t_note = ("The CAR-T arm's parameters: see Parameters below." if parameters is not None
                  else "No CAR-T arm: no model parameters.")
    assumed = ""
    if protocol.assumed:
        assumed = "<h2>Assumptions</h2><ul>" + "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>"
                                                        for k, v in protocol.assumed.items()) + "</ul>"
    title = html.escape(protocol.name)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cartwin: {title}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px}}td.na{{color:#888}}figure{{display:inline-block;margin:6px}}img{{max-width:480px}}</style></head>
<body><h1>Randomised virtual trial: {title}</h1>
<p>{endpoints['n_randomised']} randomised; control arm {html.escape(endpoints['control_arm'])}; primary endpoint
{endpoints['primary_endpoint'].upper()}; median follow-up {_f(endpoints['median_follow_up_month'], 1)} months.
<b>{html.escape(PREDICTION_NOTE)}.</b> {car_t_note} Not implemented: {html.escape(', '.join(endpoints['not_implemented']))}.</p>
<h2>Hazard ratios</h2>{hr_table}
<h2>Per arm (ITT, from randomisation)</h2>{arm_table}
<h2>Toxicity by arm</h2>{tox_table}
{parameters_section(parameters, heading="Parameters (CAR-T arm)")}
<h2>Figures</h2>{imgs}
<p>Source of the design: {html.escape(protocol.trial.source)}</p>
{assumed}
</body></html>
"""
    path = out / "report.html"
    atomic_write_text(path, doc)
    return path
