"""Capacity of a treatment network as a SimPy model: queueing makes vein-to-vein time a result.

Patients arrive as a Poisson process (``arrivals_per_week``) for ``weeks`` weeks; each follows
:func:`cartwin.journey.process.patient_process`, competing FIFO for apheresis slots,
manufacturing lines (``manufacturing_suites x lines_per_suite``), QC slots (held for release
testing) and beds (held from lymphodepletion through the post-infusion stay). The simulation then
runs until every enrolled patient is infused, failed or dropped out (no censoring).

Utilisation of a resource is its busy unit-days within [0, 7 * weeks] divided by
capacity x 7 * weeks. Arrival times come from stream ``SeedSequence(seed, spawn_key=(0,))`` and
patient i from ``(1, i)``, so two networks run with the same seed see the same patients (common
random numbers): differences come from capacity alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cartwin.foundation.constraints import Interval, check
from cartwin.journey.config import JourneyConfig, NetworkConfig
from cartwin.journey.process import ARRIVAL_STREAM, Resources, start_patient
from cartwin.journey.tables import patients_table, summarise


@dataclass(frozen=True)
class NetworkResult:
    """Patients table, utilisation per resource (fraction) and the summary dict."""

    patients: pd.DataFrame
    utilisation: dict[str, float]
    summary: dict[str, Any]


def arrival_days(network: NetworkConfig, seed: int) -> np.ndarray:
    """Poisson arrival times (days) in [0, 7 * weeks)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ARRIVAL_STREAM,)))
    horizon = 7.0 * network.weeks
    rate = network.arrivals_per_week / 7.0
    n = rng.poisson(rate * horizon)
    return np.sort(rng.uniform(0.0, horizon, n))


def _utilisation(resources: Resources, horizon: float) -> dict[str, float]:
    out = {}
    for name, intervals in resources.busy.items():
        busy = sum(max(0.0, min(e, horizon) - max(s, 0.0)) for s, e in intervals)
        out[name] = float(busy / (resources.capacity[name] * horizon))
    return out


def simulate_network(
    journey: JourneyConfig,
    network: NetworkConfig,
    seed: int = 0,
    progress: Callable[[float, float], None] | None = None,
) -> NetworkResult:
    """Simulate the network; ``progress(done_days, total_days)`` is called once per simulated week.

    >>> from cartwin.journey import NetworkConfig, preset_config
    >>> r = simulate_network(preset_config("juliet"), NetworkConfig(weeks=8), seed=1)
    >>> set(r.utilisation) == {"apheresis", "manufacturing", "qc", "beds"}
    True
    """
    import simpy

    check("seed", seed, Interval(0, 2**63 - 1, integer=True))
    seed = int(seed)
    env = simpy.Environment()
    resources = Resources(env, {
        "apheresis": network.apheresis_slots,
        "manufacturing": network.manufacturing_lines,
        "qc": network.qc_slots,
        "beds": network.beds,
    })
    times = arrival_days(network, seed)
    records: list[dict[str, Any]] = []

    def arrivals():
        for i, t in enumerate(times):
            yield env.timeout(t - env.now)
            records.append(start_patient(env, i, journey, seed, resources))

    env.process(arrivals())
    horizon = 7.0 * network.weeks
    week = 0.0
    while week < horizon:
        week = min(week + 7.0, horizon)
        env.run(until=week)
        if progress is not None:
            progress(week, horizon)
    env.run()
    util = _utilisation(resources, horizon)
    extra = {"network": network.to_dict()}
    table = patients_table(records, journey, seed=seed, extra=extra)
    summary = summarise(table, util)
    summary["network"] = network.to_dict()
    return NetworkResult(table, util, summary)
