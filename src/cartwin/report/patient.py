"""Figure of one patient's course: kinetics, tumour, normal B cells, cytokines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_patient(timecourse: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Write a 2x3 panel PNG of the first patient in ``timecourse``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pid = timecourse["patient_id"].iloc[0]
    tc = timecourse[timecourse["patient_id"] == pid]
    day = tc["day"]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), constrained_layout=True)
    ax = axes[0, 0]
    ax.semilogy(day, tc["car_t_per_ul"].clip(lower=1e-4), label="total", color="C0", lw=2)
    ax.semilogy(day, tc["car_effector_per_ul"].clip(lower=1e-4), label="effector", color="C1", lw=1)
    ax.semilogy(day, tc["car_memory_per_ul"].clip(lower=1e-4), label="memory", color="C2", lw=1)
    ax.semilogy(day, tc["car_exhausted_per_ul"].clip(lower=1e-4), label="exhausted", color="C3", lw=1)
    ax.set(title="CAR-T cells in blood", ylabel="cells/µL", xlabel="day")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.semilogy(day, tc["transgene_copies_per_ug"].clip(lower=1e-2), color="C0")
    ax.set(title="Transgene (qPCR)", ylabel="copies/µg gDNA", xlabel="day")
    ax = axes[0, 2]
    ax.semilogy(day, tc["tumor_cells"].clip(lower=1), label="all tumour", color="k")
    ax.semilogy(day, tc["tumor_antigen_neg_cells"].clip(lower=1), label="antigen-negative", color="C3", ls="--")
    ax.set(title="Tumour", ylabel="cells", xlabel="day")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    ax.plot(day, tc["b_cells_per_ul"], color="C4")
    ax.set(title="Normal target cells (B cells)", ylabel="cells/µL", xlabel="day")
    ax = axes[1, 1]
    ax.semilogy(day, tc["il6_pg_per_ml"], label="IL-6 (pg/mL)", color="C1")
    ax.semilogy(day, tc["ifng_pg_per_ml"], label="IFN-γ (pg/mL)", color="C2")
    ax.semilogy(day, tc["crp_mg_per_l"], label="CRP (mg/L)", color="C5")
    ax.set(title="Inflammation", xlabel="day")
    ax.legend(fontsize=8)
    ax = axes[1, 2]
    ax.plot(day, tc["fever_driver"], label="fever driver (IL-6 signalling)", color="C1")
    ax.plot(day, tc["icans_driver"], label="ICANS driver (endothelium)", color="C3")
    if "crs_grade_astct" in tc:
        ax2 = ax.twinx()
        ax2.step(day, tc["crs_grade_astct"], where="post", color="C1", alpha=0.4, label="CRS grade")
        ax2.step(day, tc["icans_grade_astct"], where="post", color="C3", alpha=0.4, label="ICANS grade")
        ax2.set(ylim=(-0.2, 5), ylabel="ASTCT grade")
    ax.set(title="Toxicity drivers", xlabel="day", ylim=(0, 1.05))
    ax.legend(fontsize=8, loc="upper right")
    for a in axes.flat:
        a.set_xlim(left=0)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
