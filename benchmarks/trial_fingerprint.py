"""Fingerprint of small virtual trials: SHA-256 of each per-patient table and endpoint set.

Used to check that a speed-up of the trial path leaves every result bit-identical:

    PYTHONPATH=src python benchmarks/trial_fingerprint.py --json before.json
    ... change ...
    PYTHONPATH=src python benchmarks/trial_fingerprint.py --json after.json && diff before.json after.json

``--pin tests/trial/data/trial_fingerprint.json`` rewrites the values the test suite pins; do that
only for a deliberate change of results (a model or calibration change), and say so in the commit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

CASES = (("zuma-1", 60, 3), ("juliet", 40, 5), ("karmma", 40, 7))
#: The small runs whose values tests/trial/test_trial_fingerprint.py pins.
PINNED_CASES = (("zuma-1", 24, 3), ("juliet", 16, 5), ("karmma", 16, 7))
#: Per-patient columns pinned (grades, counts and categories exactly; times and kinetics to 1e-9).
PINNED_COLUMNS = ("patient_id", "infused", "status", "best_response", "crs_max_grade_astct", "icans_max_grade_astct",
                  "tocilizumab_doses", "steroid_doses", "dexamethasone_mg", "response_day", "pfs_day", "os_day",
                  "cmax_copies_per_ug", "tmax_day", "il6_max_pg_per_ml", "tumor_cells_end")


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


def _plain(value):
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def pinned_values(protocol: str, n: int, seed: int) -> dict:
    """Endpoint estimates and CIs, and :data:`PINNED_COLUMNS` of every patient, as plain JSON."""
    from cartwin.trial.runner import run_trial

    result = run_trial(protocol, n=n, seed=seed)
    endpoints = {f"{group}.{name}": [_plain(entry.get(k)) for k in ("estimate", "ci_low", "ci_high")]
                 for group in ("itt", "infused") for name, entry in result.endpoints[group].items() if isinstance(entry, dict)}
    patients = {c: [_plain(v) if not isinstance(v, str) else v for v in result.patients[c].tolist()]
                for c in PINNED_COLUMNS if c in result.patients}
    return {"protocol": protocol, "n": n, "seed": seed, "endpoints": endpoints, "patients": patients}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--pin", type=Path, help="write the values tests/trial/test_trial_fingerprint.py pins")
    args = ap.parse_args(argv)
    if args.pin:
        args.pin.write_text(json.dumps([pinned_values(*case) for case in PINNED_CASES], indent=0) + "\n")
        return
    rows = [fingerprint(*case) for case in CASES]
    text = json.dumps(rows, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
