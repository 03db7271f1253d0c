"""Figure of a network run: waiting-time histogram, utilisation per resource, outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def plot_journey(patients: pd.DataFrame, summary: Mapping[str, Any], path: str | Path) -> Path:
    """Write a three-panel PNG: vein-to-vein (or enrolment-to-infusion for off-the-shelf
    products) histogram, utilisation per resource and patients by outcome."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    v2v = patients["vein_to_vein_day"].dropna()
    label = "vein-to-vein (apheresis to infusion), days"
    if v2v.empty:
        v2v = patients["enrolment_to_infusion_day"].dropna()
        label = "enrolment to infusion, days"
    ax = axes[0]
    if not v2v.empty:
        ax.hist(v2v, bins=30, color="#3b6ea5", edgecolor="white")
        ax.axvline(v2v.median(), color="k", ls="--", lw=1, label=f"median {v2v.median():.1f} d")
        ax.legend(frameon=False)
    ax.set_xlabel(label)
    ax.set_ylabel("infused patients")
    ax.set_title("Time to infusion")

    util = summary.get("utilisation") or {}
    ax = axes[1]
    if util:
        names = list(util)
        ax.bar(names, [100 * util[n] for n in names], color="#d08c34")
        ax.axhline(100, color="k", lw=0.8)
    ax.set_ylabel("utilisation (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Resource utilisation")

    ax = axes[2]
    counts = {"infused": summary.get("n_infused", 0), **summary.get("not_infused_by_reason", {})}
    ax.barh(list(counts)[::-1], list(counts.values())[::-1], color="#5a9e6f")
    ax.set_xlabel("patients")
    ax.set_title(f"Outcomes of {summary.get('n_enrolled', 0)} enrolled")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
