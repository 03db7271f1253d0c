"""Benchmark: ASTCT grading of a large observation table (rows per second).

Usage: python benchmarks/bench_grading.py [--rows 1000000]
"""

import argparse
import time

import numpy as np
import pandas as pd

from cartwin.clinic.grading import grade_frame


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    n = ap.parse_args().rows
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({
        "patient_id": np.repeat(np.arange(n // 50 + 1), 50)[:n], "time_day": np.tile(np.arange(50) * 0.25, n // 50 + 1)[:n],
        "temperature_c": rng.normal(37.8, 0.8, n).round(1), "map_mmhg": rng.normal(75, 10, n).round(0),
        "vasopressors": rng.choice([0, 0, 0, 1, 2], n), "o2_support": rng.choice(["none", "low_flow", "high_flow", "cpap"], n),
        "ice_score": rng.integers(0, 11, n), "consciousness": rng.choice(["alert", "voice"], n),
    })
    for validate in (True, False):
        start = time.perf_counter()
        grade_frame(obs, "astct", validate=validate)
        seconds = time.perf_counter() - start
        print(f"validate={validate}: {n} rows in {seconds:.2f} s ({n / seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
