"""Trial jobs: a protocol (preset or uploaded text) and its changes -> :func:`cartwin.trial.runner.run_trial`.

The protocol is built and checked when the job is submitted (so a bad file or a bad change is a
422 naming the field, before any work is queued) and built again, the same way, in the worker.
Outputs are written by :meth:`cartwin.trial.runner.TrialResult.write` (the same files as
``cartwin trial --out``), plus ``patients.csv`` and the interactive figures' data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Files a trial job offers for download: the name in the URL, the file in ``out/`` and its type.
DOWNLOADS = {
    "patients.parquet": "application/vnd.apache.parquet",
    "patients.csv": "text/csv",
    "endpoints.json": "application/json",
    "report.html": "text/html",
}
#: Protocol text is stored under one of these names, never under the uploader's file name.
PROTOCOL_FILES = {"toml": "protocol.toml", "yaml": "protocol.yaml"}
#: Patients per batch in web jobs: a progress report per batch (results do not depend on batching).
WEB_BATCH_SIZE = 25


def build_protocol(directory: Path, request: dict[str, Any]):
    """The :class:`~cartwin.trial.protocol.Protocol` a request asks for, validated by the library."""
    from cartwin.foundation.errors import ValidationError
    from cartwin.trial.protocol import load_protocol

    if (request.get("preset") is None) == (request.get("protocol_text") is None):
        raise ValidationError("preset", "either a preset or protocol_text (exactly one)",
                              "both" if request.get("preset") else "neither")
    if request.get("preset") is not None:
        protocol = load_protocol(request["preset"])
    else:
        path = directory / PROTOCOL_FILES[request.get("protocol_format", "toml")]
        if not path.exists():
            path.write_text(request["protocol_text"], encoding="utf-8")
        protocol = load_protocol(path)
        protocol = protocol.replace()  # path shown in errors is the job's own file name only
    changes: dict[str, dict[str, Any]] = {}
    if request.get("product") is not None:
        changes["product"] = {"key": request["product"], "label": ""}
    if request.get("dose_value") is not None:
        changes["dose"] = {"value": request["dose_value"]}
        if request.get("dose_per_kg") is not None:
            changes["dose"]["per_kg"] = request["dose_per_kg"]
    elif request.get("dose_per_kg") is not None:
        raise ValidationError("dose_per_kg", "dose_value given with it", request["dose_per_kg"])
    if request.get("policy") is not None:
        changes["management"] = {"policy": request["policy"]}
    return protocol.replace(**changes) if changes else protocol


def job_size(protocol, request: dict[str, Any], settings) -> tuple[int, float]:
    """(n, follow-up days) of the job, refused (naming the field) beyond the server's limits."""
    from cartwin.foundation.errors import ValidationError
    from cartwin.trial.runner import DEFAULT_MAX_FOLLOW_UP_DAYS

    n = request.get("n") or protocol.trial.n_enrolled
    if n > settings.max_patients:
        raise ValidationError("n", f"at most {settings.max_patients} patients on this server "
                              f"(the protocol enrols {protocol.trial.n_enrolled}; give n)", n)
    follow = request.get("follow_up_days")
    if follow is None:
        follow = min(protocol.trial.follow_up_days, DEFAULT_MAX_FOLLOW_UP_DAYS, settings.max_follow_up_days)
    return int(n), float(follow)


def run_trial_job(directory: Path, args: dict[str, Any], progress) -> None:
    """The worker's task: run the trial, write its files and the figures' data into ``directory/out``."""
    from cartwin.engine.choice import resolve_solver
    from cartwin.trial.report import comparison_table
    from cartwin.trial.runner import ShardOptions, run_trial
    from cartwin.web.figures import trial_figures

    protocol = build_protocol(directory, args["request"])
    n, follow = args["n"], args["follow_up_days"]
    infused = {"count": 0}
    progress(0, n, "enrolment and vein-to-vein journeys")

    def advance(k: int) -> None:
        infused["count"] += k
        progress(min(infused["count"], n), n, "simulating infused patients")

    shards = None
    if args.get("dask_scheduler"):
        shards = ShardOptions(out_dir=str(directory / "shards"), scheduler=args["dask_scheduler"], progress=False)
    solver = resolve_solver(args.get("engine", "auto"), field="engine", objects=False)
    result = run_trial(protocol, n, args["request"]["seed"], follow_up_days=follow, solver=solver,
                       batch_size=WEB_BATCH_SIZE, progress=advance, shards=shards)
    progress(n, n, "writing results")
    out = directory / "out"
    result.write(out)
    result.patients.to_csv(out / "patients.csv", index=False)
    table = comparison_table(result.endpoints, result.protocol)
    payload = {
        "protocol": result.protocol.name,
        "product": result.protocol.product.key,
        "indication": result.protocol.trial.indication,
        "n": n, "seed": result.seed, "engine": result.engine, "follow_up_days": follow,
        "endpoints": result.endpoints,
        "comparison": json.loads(table.to_json(orient="records")) if len(table) else [],
        "figures": trial_figures(result),
    }
    from cartwin.web.figures import clean

    (out / "result.json").write_text(json.dumps(clean(payload), default=_json_default, allow_nan=False))


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return str(value)
