"""Interactive figures as plotly.js JSON (``{"data": [...], "layout": {...}}``), read from result tables.

The same pictures as :mod:`cartwin.trial.report` (Kaplan-Meier, swimmer, kinetics, toxicity)
and the explainer's patient course, drawn in the browser by the plotly.js shipped in the
``plotly`` wheel. Only presentation: every number comes from the tables the library returned.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

RESPONSE_COLOURS = {"sCR": "#2e8b57", "CR": "#2e8b57", "CRi": "#2e8b57", "VGPR": "#9acd32", "PR": "#4fb0c6",
                    "SD": "#999999", "NR": "#999999", "PD": "#d9534f", "NE": "#cccccc"}
GRADE_COLOURS = ["#d9d9d9", "#f2d94e", "#f0a030", "#d9534f", "#8b1a1a", "#000000"]


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, NumPy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _layout(title: str, x: str, y: str, **extra) -> dict[str, Any]:
    layout = {"title": {"text": title, "font": {"size": 15}}, "xaxis": {"title": {"text": x}},
              "yaxis": {"title": {"text": y}}, "margin": {"l": 60, "r": 20, "t": 45, "b": 50},
              "legend": {"orientation": "h", "y": -0.32}, "height": 380}
    layout["xaxis"]["automargin"] = True
    layout["yaxis"]["automargin"] = True
    for key, val in extra.items():
        if key in ("xaxis", "yaxis"):
            layout[key].update(val)
        else:
            layout[key] = val
    return layout


def km_figure(patients: pd.DataFrame, kind: str, target: float | None = None) -> dict[str, Any]:
    """Kaplan-Meier curve (lifelines) of ``pfs`` or ``os`` for the ITT and infused sets, with 95% bands."""
    from lifelines import KaplanMeierFitter

    from cartwin.trial.endpoints import DAYS_PER_MONTH

    data = []
    infused = patients["infused"].fillna(False).astype(bool)
    for label, df, colour in (("ITT", patients, "#3b6ea8"), ("infused", patients[infused], "#e07b39")):
        d = df[f"{kind}_day"].to_numpy(dtype=float)
        ok = np.isfinite(d)
        if ok.sum() == 0:
            continue
        kmf = KaplanMeierFitter(label=label)
        kmf.fit(np.maximum(d[ok], 0.0) / DAYS_PER_MONTH, df[f"{kind}_event"].fillna(False).astype(bool).to_numpy()[ok])
        t = kmf.survival_function_.index.to_numpy()
        s = kmf.survival_function_.iloc[:, 0].to_numpy()
        ci = kmf.confidence_interval_
        data.append({"x": t.tolist(), "y": ci.iloc[:, 1].tolist(), "mode": "lines", "line": {"shape": "hv", "width": 0},
                     "showlegend": False, "hoverinfo": "skip", "name": f"{label} upper"})
        data.append({"x": t.tolist(), "y": ci.iloc[:, 0].tolist(), "mode": "lines", "line": {"shape": "hv", "width": 0},
                     "fill": "tonexty", "fillcolor": colour + "33", "showlegend": False, "hoverinfo": "skip",
                     "name": f"{label} lower"})
        data.append({"x": t.tolist(), "y": s.tolist(), "mode": "lines", "line": {"shape": "hv", "color": colour},
                     "name": f"{label} (n={int(ok.sum())})"})
    if target is not None:
        data.append({"x": [12.0], "y": [target], "mode": "markers", "marker": {"symbol": "star", "size": 14, "color": "black"},
                     "name": "published at 12 months"})
    return clean({"data": data, "layout": _layout(f"Kaplan-Meier {kind.upper()}", "months from infusion",
                                                   f"{kind.upper()} probability", yaxis={"range": [0, 1.02]})})


def swimmer_figure(patients: pd.DataFrame, max_patients: int = 40) -> dict[str, Any]:
    """One bar per infused patient (first ``max_patients``): follow-up, coloured by best response."""
    from cartwin.trial.endpoints import DAYS_PER_MONTH

    inf = patients[patients["infused"].fillna(False).astype(bool)].head(max_patients).sort_values("os_day")
    data = []
    for response, part in inf.groupby(inf["best_response"].astype(str), sort=False):
        data.append({"type": "bar", "orientation": "h", "x": (part["os_day"] / DAYS_PER_MONTH).tolist(),
                     "y": [f"patient {p}" for p in part["patient_id"]], "name": response,
                     "marker": {"color": RESPONSE_COLOURS.get(response, "#cccccc")}})
    prog = inf[inf["pfs_event"].fillna(False).astype(bool) & (inf["pfs_day"] < inf["os_day"])]
    data.append({"x": (prog["pfs_day"] / DAYS_PER_MONTH).tolist(), "y": [f"patient {p}" for p in prog["patient_id"]],
                 "mode": "markers", "marker": {"symbol": "line-ns-open", "size": 12, "color": "black"}, "name": "progression"})
    dead = inf[inf["os_event"].fillna(False).astype(bool)]
    data.append({"x": (dead["os_day"] / DAYS_PER_MONTH).tolist(), "y": [f"patient {p}" for p in dead["patient_id"]],
                 "mode": "markers", "marker": {"symbol": "x", "size": 8, "color": "black"}, "name": "death"})
    order = [f"patient {p}" for p in inf["patient_id"]]
    return clean({"data": data, "layout": _layout(f"Swimmer plot (first {len(inf)} infused patients)", "months from infusion", "",
                                                   yaxis={"categoryorder": "array", "categoryarray": order, "showticklabels": False},
                                                   barmode="overlay", height=max(360, 12 * len(inf) + 120))})


def kinetics_figure(timecourses: pd.DataFrame) -> dict[str, Any]:
    """CAR transgene (or CAR-T cells) over time: every sampled patient and the median with a 10-90% band."""
    if timecourses is None or timecourses.empty:
        return {"data": [], "layout": _layout("CAR kinetics (no timecourses)", "day after infusion", "")}
    col = "transgene_copies_per_ug" if "transgene_copies_per_ug" in timecourses else "car_t_per_ul"
    tc = timecourses[timecourses["day"] >= 0]
    data = []
    for i, (_, g) in enumerate(tc.groupby("patient_id")):
        data.append({"x": g["day"].tolist(), "y": np.maximum(g[col].to_numpy(float), 1e-2).tolist(), "mode": "lines",
                     "line": {"color": "rgba(59,110,168,0.25)", "width": 1}, "name": "each sampled patient",
                     "showlegend": i == 0, "legendgroup": "patients"})
    q = tc.groupby("day")[col].quantile([0.1, 0.5, 0.9]).unstack()
    days = q.index.tolist()
    data.append({"x": days, "y": np.maximum(q[0.9], 1e-2).tolist(), "mode": "lines", "line": {"width": 0},
                 "showlegend": False, "hoverinfo": "skip"})
    data.append({"x": days, "y": np.maximum(q[0.1], 1e-2).tolist(), "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
                 "fillcolor": "rgba(224,123,57,0.3)", "name": "10-90 %"})
    data.append({"x": days, "y": np.maximum(q[0.5], 1e-2).tolist(), "mode": "lines", "line": {"color": "#e07b39", "width": 3},
                 "name": "median"})
    unit = "transgene copies/µg DNA" if col == "transgene_copies_per_ug" else "CAR-T cells/µL"
    return clean({"data": data, "layout": _layout(f"CAR kinetics ({tc['patient_id'].nunique()} patients)", "day after infusion",
                                                   unit, yaxis={"type": "log"})})


def toxicity_figure(patients: pd.DataFrame, crs_scale: str) -> dict[str, Any]:
    """Share of infused patients at each maximum CRS and ICANS grade."""
    inf = patients[patients["infused"].fillna(False).astype(bool)]
    data = []
    for tox, scale, colour in (("crs", crs_scale, "#d9534f"), ("icans", "astct", "#6f42c1")):
        col = f"{tox}_max_grade_{scale}"
        if col not in inf or len(inf) == 0:
            continue
        g = inf[col].fillna(0).astype(int)
        data.append({"type": "bar", "x": [f"grade {k}" for k in range(5)], "y": [float((g == k).mean()) for k in range(5)],
                     "name": f"{tox.upper()} ({scale})", "marker": {"color": colour}})
    return clean({"data": data, "layout": _layout("Worst toxicity grade per infused patient", "", "share of infused patients",
                                                   yaxis={"tickformat": ".0%"}, barmode="group")})


def trial_figures(result) -> dict[str, Any]:
    """Every figure of a trial job, from its :class:`~cartwin.trial.runner.TrialResult`."""
    targets = result.protocol.targets
    return {
        "km_pfs": km_figure(result.patients, "pfs", targets["pfs_12m"].value if "pfs_12m" in targets else None),
        "km_os": km_figure(result.patients, "os", targets["os_12m"].value if "os_12m" in targets else None),
        "swimmer": swimmer_figure(result.patients),
        "kinetics": kinetics_figure(result.timecourses),
        "toxicity": toxicity_figure(result.patients, result.protocol.reporting.crs_scale),
    }


def line_figure(title: str, x_title: str, y_title: str, series: list[tuple[str, Any, Any, str]], *, log: bool = False,
                shapes: list | None = None, step: bool = False, y_range=None) -> dict[str, Any]:
    """A simple multi-line figure: ``series`` = (name, x, y, colour)."""
    data = [{"x": list(map(float, x)), "y": list(map(float, y)), "mode": "lines", "name": name,
             "line": {"color": colour, "width": 2, **({"shape": "hv"} if step else {})}} for name, x, y, colour in series]
    yaxis: dict[str, Any] = {"type": "log"} if log else {}
    if y_range is not None:
        yaxis["range"] = y_range
    return clean({"data": data, "layout": _layout(title, x_title, y_title, yaxis=yaxis, shapes=shapes or [], height=300)})
