"""Predictions of the five randomised presets (issue #21): HR with 95 % CI and per-arm landmarks.

    python scripts/predict_randomised.py [--n 2000] [--seed 1] [--out docs/randomised_predictions.csv]

Every value is a prediction: the CAR-T arms use their products' calibrated parameters (or the
published typical values where no calibration record is committed, which the table says), the
comparator arms their regimen models; no published result of these trials is used. Run it after
the calibration record is committed and copy the table into docs/validation.md under
"Randomised presets: predictions".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from cartwin.trial.comparative import KINDS, run_comparative
from cartwin.trial.protocol import list_randomised_protocols


def _car_t_parameters(protocol, parameters) -> str:
    """The CSV's ``car_t_parameters`` text, from endpoints.json's ``"parameters"`` dict
    (:func:`cartwin.trial.runner.parameters_record`; the same words as before that dict)."""
    if parameters is None:
        return "no car-t arm"
    if parameters["factors"]:
        return f"calibrated factors of {protocol.product.key} / {protocol.trial.indication}: " + ", ".join(
            f"{k} = {v:.3g}" for k, v in parameters["factors"].items())
    return "published typical values (no calibration record for the product and indication, or calibrated = false)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("docs/randomised_predictions.csv"))
    args = ap.parse_args()
    rows = []
    for name in list_randomised_protocols():
        start = time.perf_counter()
        r = run_comparative(name, n=args.n, seed=args.seed)
        seconds = time.perf_counter() - start
        e = r.endpoints
        for comp, by_kind in e["comparisons"].items():
            for kind in KINDS:
                h = by_kind[kind]
                rows.append({"preset": name, "comparison": comp, "endpoint": kind, "primary": kind == e["primary_endpoint"],
                             "hr": h["hr"], "ci_low": h["ci_low"], "ci_high": h["ci_high"], "p_logrank": h["p_logrank"],
                             "events": h["events"], "n": args.n, "seed": args.seed, "seconds": round(seconds, 1),
                             "car_t_parameters": _car_t_parameters(r.protocol, e["parameters"]), "status": "prediction"})
            if (x := by_kind.get("os_rpsft")) is not None:
                rows.append({"preset": name, "comparison": comp, "endpoint": "os_rpsft", "primary": False, "hr": x["hr"],
                             "ci_low": x["ci_low"], "ci_high": x["ci_high"], "p_logrank": x.get("p_logrank_itt"),
                             "events": by_kind["os"]["events"], "n": args.n, "seed": args.seed, "seconds": round(seconds, 1),
                             "car_t_parameters": f"psi {x['psi']}, {x['crossed_over']} crossed over", "status": "prediction"})
        for arm, a in e["arms"].items():
            for kind in KINDS:
                rows.append({"preset": name, "comparison": f"arm {arm}", "endpoint": kind, "at_12m": a[kind].get("at_12m"),
                             "at_24m": a[kind].get("at_24m"), "median_month": a[kind].get("median_month"),
                             "events": a[kind]["events"], "n": a["n"], "seed": args.seed, "status": "prediction"})
    table = pd.DataFrame(rows)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
