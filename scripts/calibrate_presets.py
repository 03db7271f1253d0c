"""Calibrate shipped trial presets; writes src/cartwin/trial/calibrated/<preset>.json.

Usage: python scripts/calibrate_presets.py [PRESET ...] [--n 200] [--evals 40]
(default: every preset with fitted targets the simulation produces).

``--reproduce`` reruns each committed record's own fit (its n, seed, follow-up, start point,
evaluation budget and stopping rule, from the record's ``settings``) and reports whether the
multipliers and simulated endpoints come out the same; it writes nothing and exits 1 on a
mismatch. A record without ``settings`` (fitted before they were recorded) is rerun from its own
multipliers: that checks that the record is a fixed point of the fit, not how it was found.
The rerun uses the engine named in the record (``cartwin.engine.choice.solver_for_engine_name``;
``rosenbrock4-numba`` is the compiled engine's ``shampine4`` method, the default before Rodas5P).

``--check`` runs each record's multipliers once with the current default engine (or the one
``--engine`` names) and reports which simulated endpoints differ from the record and whether
every fitted target is still inside its published 95% CI (a change of engine moves patients
near a response or grade threshold); it writes nothing and exits 1 if a target falls outside.
"""

import argparse
import json
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
    ap.add_argument("--reproduce", action="store_true", help="rerun each committed record's fit and compare")
    ap.add_argument("--check", action="store_true", help="run each record's multipliers with the default engine (or --engine)")
    ap.add_argument("--engine", default="auto",
                    help="engine for fitting and --check: auto, numba, numba-generated, numpy, or the engine a "
                    "result records (e.g. rodas5p-numba)")
    args = ap.parse_args()
    from cartwin.engine.choice import resolve_solver
    from cartwin.foundation.errors import ValidationError

    try:
        solver = resolve_solver(args.engine, field="--engine", objects=False)
    except ValidationError as exc:
        raise SystemExit(f"error: {exc}") from None
    names = args.presets or [p for p in list_protocols() if not load_protocol(p).is_placeholder]
    unknown = [name for name in names if name not in list_protocols()]
    if unknown:
        raise SystemExit(f"error: presets: unknown {', '.join(unknown)}; expected some of {', '.join(list_protocols())}")
    # Lists, not generators: every preset is reported, not only those before the first failure.
    if args.reproduce:
        raise SystemExit(0 if all([reproduce(name) for name in names]) else 1)
    if args.check:
        raise SystemExit(0 if all([check_engine(name, solver) for name in names]) else 1)
    for name in names:
        t = time.time()
        record = calibrate(name, n=args.n, seed=args.seed, max_evaluations=args.evals, solver=solver,
                           progress=lambda k, f, name=name: print(f"  {name} eval {k}: objective {f:.2f}", flush=True))
        write_record(record, OUT / f"{name}.json")
        inside = sum(r["within_ci"] for r in record["targets"].values())
        print(f"{name}: {inside}/{len(record['targets'])} targets inside the published 95% CI, "
              f"multipliers {record['multipliers']}, {time.time() - t:.0f} s", flush=True)


def _solver(recorded: str | None = None):
    """The engine a record names (``cartwin.engine.choice.solver_for_engine_name``: e.g. the
    compiled engine with its method and rhs, the NumPy engine for "rosenbrock4"); without a
    record, ``"auto"`` (the compiled engine where numba is installed)."""
    from cartwin.engine.choice import resolve_solver, solver_for_engine_name
    from cartwin.foundation.errors import ValidationError

    if recorded is None:
        return resolve_solver("auto")
    try:
        return solver_for_engine_name(recorded, field="record settings.solver")
    except ValidationError as exc:
        raise SystemExit(f"error: {exc}") from None


def check_engine(name: str, solver) -> bool:
    from cartwin.trial.calibration import score

    path = OUT / f"{name}.json"
    if not path.exists():
        print(f"{name}: no committed record")
        return True
    record = json.loads(path.read_text())
    fit = score(name, record["multipliers"], n=record["n_patients"], seed=record["seed"],
                follow_up_days=record["follow_up_days"], solver=solver)
    inside = fit.all_within_ci
    changed = {k: (r["simulated"], fit.simulated[k]) for k, r in record["targets"].items() if fit.simulated[k] != r["simulated"]}
    engine = getattr(solver, "name", "rosenbrock4")
    print(f"{name}: {engine} vs recorded {record.get('settings', {}).get('solver', '?')}: "
          f"{len(changed)} of {len(record['targets'])} endpoints differ"
          + "".join(f"; {k} {a:.4f} -> {b:.4f}" for k, (a, b) in changed.items())
          + f"; every target inside its CI: {inside}", flush=True)
    return inside


def reproduce(name: str) -> bool:
    path = OUT / f"{name}.json"
    if not path.exists():
        print(f"{name}: no committed record")
        return True
    record = json.loads(path.read_text())
    settings = record.get("settings")
    solver = _solver(settings.get("solver") if settings else None)
    start = settings["start"] if settings else record["multipliers"]
    t = time.time()
    again = calibrate(name, n=record["n_patients"], seed=record["seed"], follow_up_days=record["follow_up_days"],
                      max_evaluations=settings["max_evaluations"] if settings else 1,
                      stop_when_inside=settings["stop_when_inside"] if settings else True, start=start, solver=solver)
    same_mult = all(abs(again["multipliers"][k] - v) <= 1e-9 * max(1.0, abs(v)) for k, v in record["multipliers"].items())
    same_sim = all(again["targets"][k]["simulated"] == r["simulated"] for k, r in record["targets"].items())
    how = "its recorded fit" if settings else "its own multipliers (no settings recorded)"
    print(f"{name}: rerun of {how}, {again['evaluations']} evaluations, {time.time() - t:.0f} s: "
          f"multipliers {'same' if same_mult else 'DIFFERENT'}, endpoints {'same' if same_sim else 'DIFFERENT'}",
          flush=True)
    if not (same_mult and same_sim):
        for k, r in record["targets"].items():
            print(f"  {k}: recorded {r['simulated']}, rerun {again['targets'][k]['simulated']}")
    return same_mult and same_sim


if __name__ == "__main__":
    main()
