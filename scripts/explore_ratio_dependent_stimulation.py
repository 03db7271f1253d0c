"""Exploration, not model code: ratio-dependent CAR-T stimulation against the runaway expansion.

Model v1 stimulates CAR-T cells with ``s = A / (K_A + A)``, saturating in antigen only, so a
patient whose antigen persists (tumour, or normal B cells from the marrow) can expand without a
limit but the logarithmic niche term (docs/validation.md, "Unbounded CAR-T expansion"). De Boer
& Perelson (J Theor Biol 1995;175:567) proposed ``s = A / (K_A + A + w E)``: stimulation per
T cell falls as T cells outnumber their targets. This script rebuilds the model's ``rhs`` with
that one line changed (``E`` = effector + memory CAR-T, ``w`` a weight; ``w = 0`` is model v1),
runs a calibrated preset for two years and prints the endpoints, the CAR-T peak distribution
and the steroid use. The calibration records were fitted with ``w = 0``. Each weight runs in
a process of its own and compiles its kernel afresh (~45 s).

Usage: python scripts/explore_ratio_dependent_stimulation.py --w 0 1 --n 300 [--preset zuma-1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

V1_LINE = "stim = antigen / (p.K_antigen_cells_per_ul + antigen)"


def use_ratio_dependent_stimulation(w: float, directory: Path) -> None:
    """Give ``CarTPatientModel`` an ``rhs`` with the weight ``w``."""
    from rhs_variant import replace_rhs_line

    replace_rhs_line(V1_LINE, f"stim = antigen / (p.K_antigen_cells_per_ul + antigen + {w!r} * (e + m))", directory,
                     "rhs_ratio_dependent")


def summarise(preset: str, w: float, n: int, seed: int) -> None:
    from cartwin.trial.runner import run_trial

    start = time.perf_counter()
    result = run_trial(preset, n, seed=seed, follow_up_days=730.0, solver="numba")
    seconds = time.perf_counter() - start
    infused = result.patients[result.patients["infused"]]
    endpoints = result.endpoints["infused"]
    names = ("orr", "cr_rate", "crs_any", "crs_grade3plus", "icans_any", "icans_grade3plus", "steroid_rate")
    cmax = infused["cmax_car_t_per_ul"].to_numpy(float)
    steroid = infused["steroid_doses"].to_numpy(float)
    print(f"w={w} {preset} n={n} seed={seed}: {len(infused)} infused, {seconds:.0f} s (with compilation)")
    print("  endpoints:", {k: round(endpoints[k]["estimate"], 3) for k in names if k in endpoints})
    q25, q75, q90 = np.percentile(cmax, [25, 75, 90])
    print(f"  CAR-T peak /uL: median {np.median(cmax):.3g} (IQR {q25:.3g}-{q75:.3g}, p90 {q90:.3g}, max {cmax.max():.3g});"
          f" above 1e4: {(cmax > 1e4).mean():.3f}, above 1e5: {(cmax > 1e5).mean():.3f}")
    print(f"  steroid doses: median {np.median(steroid):.0f}, mean {steroid.mean():.1f}, more than 60: {(steroid > 60).mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--w", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preset", default="zuma-1")
    args = parser.parse_args()
    if len(args.w) > 1:
        # One process per weight: the compiled engine keeps one kernel per model class in a
        # process, so a class whose rhs is swapped would reuse the first weight's kernel.
        for w in args.w:
            subprocess.run([sys.executable, __file__, "--w", repr(w), "--n", str(args.n), "--seed", str(args.seed),
                            "--preset", args.preset], check=True)
        return
    with tempfile.TemporaryDirectory() as directory:
        if args.w[0] != 0.0:  # 0 is model v1 as it is
            # A kernel cached on disk refers to the temporary rhs module: compile afresh.
            os.environ["CARTWIN_CACHE_DIR"] = directory
            use_ratio_dependent_stimulation(args.w[0], Path(directory))
        summarise(args.preset, args.w[0], args.n, args.seed)


if __name__ == "__main__":
    main()
