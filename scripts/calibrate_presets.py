"""Calibrate shipped trial presets; writes src/cartwin/trial/calibrated/<preset>.json.

Usage: python scripts/calibrate_presets.py [PRESET ...] [--n 200] [--evals 40]
(default: every preset with fitted targets the simulation produces).
"""

import argparse
import time
from pathlib import Path

from cartwin.trial.calibration import calibrate, write_record
from cartwin.trial.protocol import list_protocols, load_protocol

OUT = Path(__file__).resolve().parents[1] / "src" / "cartwin" / "trial" / "calibrated"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("presets", nargs="*")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--evals", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    try:
        from cartwin.engine import NumbaRosenbrock

        solver = NumbaRosenbrock()
    except Exception:  # numba missing: the NumPy engine gives the same results, slower
        solver = None
    names = args.presets or [p for p in list_protocols() if not load_protocol(p).is_placeholder]
    for name in names:
        t = time.time()
        record = calibrate(name, n=args.n, seed=args.seed, max_evaluations=args.evals, solver=solver,
                           progress=lambda k, f, name=name: print(f"  {name} eval {k}: objective {f:.2f}", flush=True))
        write_record(record, OUT / f"{name}.json")
        inside = sum(r["within_ci"] for r in record["targets"].values())
        print(f"{name}: {inside}/{len(record['targets'])} targets inside the published 95% CI, "
              f"multipliers {record['multipliers']}, {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
