"""Fingerprint of small virtual trials: SHA-256 of each per-patient table and endpoint set.

Used to check that a speed-up of the trial path leaves every result bit-identical:

    PYTHONPATH=src python benchmarks/trial_fingerprint.py --json before.json
    ... change ...
    PYTHONPATH=src python benchmarks/trial_fingerprint.py --json after.json && diff before.json after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

CASES = (("zuma-1", 60, 3), ("juliet", 40, 5), ("karmma", 40, 7))


def _table_hash(frame: pd.DataFrame) -> str:
    frame = frame.reindex(sorted(frame.columns), axis=1)
    h = hashlib.sha256()
    for column in frame.columns:
        values = frame[column]
        h.update(column.encode())
        h.update(str(values.dtype).encode())
        if values.dtype == object:
            h.update(json.dumps([None if (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]).encode())
        else:
            h.update(np.ascontiguousarray(values.to_numpy()).tobytes())
    return h.hexdigest()


def fingerprint(protocol: str, n: int, seed: int) -> dict:
    from cartwin.trial.runner import run_trial

    result = run_trial(protocol, n=n, seed=seed)
    endpoints = json.dumps(result.endpoints, sort_keys=True, default=str)
    return {"protocol": protocol, "n": n, "seed": seed, "patients_sha256": _table_hash(result.patients),
            "columns": list(result.patients.columns), "endpoints_sha256": hashlib.sha256(endpoints.encode()).hexdigest(),
            "timecourses_sha256": _table_hash(result.timecourses.reset_index(drop=True))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    rows = [fingerprint(*case) for case in CASES]
    text = json.dumps(rows, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
