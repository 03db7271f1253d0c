"""Recovery study of the population fit (docs/fitting.md): datasets simulated from Stein 2019
with its published population estimates, fitted by SAEM, compared with the truth.

    PYTHONPATH=src python scripts/fit_recovery.py --replicates 20 --out docs/data/fit_recovery.csv

Each replicate: 100 patients, the ELIANA-like qPCR days (cartwin.fit.simulate.ELIANA_DAYS),
each sample missed with probability 0.25 (sparse), LLOQ 50 copies/ug (BLQ rows by M3),
log-normal residual SD 0.56. Writes one row per replicate and quantity, and prints the summary
table (relative bias of the mean estimate, 90 % interval coverage) as Markdown.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cartwin.fit.population import fit_population
from cartwin.fit.problem import make_problem
from cartwin.fit.simulate import (
    ELIANA_DAYS,
    STEIN2019_LLOQ,
    STEIN2019_OMEGA2,
    STEIN2019_SIGMA_LOG,
    simulate_dataset,
)
from cartwin.model.library import Stein2019


def truth_table() -> dict[str, float]:
    specs = Stein2019.parameter_specs()
    out = {k: specs[k].value for k in STEIN2019_OMEGA2}
    out |= {f"omega2[{k}]": v for k, v in STEIN2019_OMEGA2.items()}
    out["sigma"] = STEIN2019_SIGMA_LOG
    return out


def one(rep: int, n: int, missing: float, lloq: float | None, n_burn: int, n_smooth: int) -> pd.DataFrame:
    model = Stein2019()
    ds, _ = simulate_dataset(model, n, omega2=STEIN2019_OMEGA2, sigma=STEIN2019_SIGMA_LOG, seed=1000 + rep,
                             sample_days=ELIANA_DAYS, missing=missing, lloq=lloq, dose_amount=1e8)
    fit = fit_population(make_problem(model, ds), seed=rep, n_burn=n_burn, n_smooth=n_smooth, n_is=100)
    iv = fit.intervals(0.90)
    truth = truth_table()
    iv["truth"] = iv["quantity"].map(truth)
    iv["replicate"] = rep
    iv["covered"] = (iv["low"] <= iv["truth"]) & (iv["truth"] <= iv["high"])
    iv["blq_fraction"] = ds.blq_fraction
    iv["ofv"] = fit.ofv
    return iv


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby("quantity", sort=False)
    out = pd.DataFrame({
        "truth": g["truth"].first(),
        "mean estimate": g["estimate"].mean(),
        "bias of mean %": 100 * (g["estimate"].mean() / g["truth"].first() - 1),
        "median |error| %": g.apply(lambda d: 100 * np.median(np.abs(d["estimate"] / d["truth"] - 1)), include_groups=False),
        "90% CI coverage %": 100 * g["covered"].mean(),
        "replicates": g.size(),
    })
    return out.reset_index()


def markdown(df: pd.DataFrame) -> str:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--missing", type=float, default=0.25)
    ap.add_argument("--lloq", type=float, default=STEIN2019_LLOQ)
    ap.add_argument("--n-burn", type=int, default=150)
    ap.add_argument("--n-smooth", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("docs/data/fit_recovery.csv"))
    a = ap.parse_args()
    rows = []
    for rep in range(a.replicates):
        t = time.time()
        rows.append(one(rep, a.patients, a.missing, a.lloq, a.n_burn, a.n_smooth))
        print(f"replicate {rep}: {time.time() - t:.0f} s, BLQ {rows[-1]['blq_fraction'].iloc[0]:.1%}", flush=True)
        all_rows = pd.concat(rows, ignore_index=True)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        all_rows.to_csv(a.out, index=False)
    print(markdown(summary(all_rows)))


if __name__ == "__main__":
    main()
