"""One patient's journey from enrolment to infusion as a SimPy process.

Steps (autologous CAR-T)::

    enrolment -> leukapheresis -> shipping -> manufacturing -> release testing -> shipping
              -> infusion scheduling -> lymphodepletion -> infusion -> post-infusion stay

Off-the-shelf products (allogeneic CAR-T, CAR-NK) skip apheresis, manufacturing and release
(lots are released before enrolment): enrolment -> ordering -> lymphodepletion -> infusion.

While waiting the patient may drop out (progression, death, ineligibility; competing hazards of
:class:`~cartwin.journey.config.JourneyConfig`); a lot may fail manufacturing (discovered when the
culture ends) or release testing (out of specification: viability below the product's spec or
fewer CAR+ viable cells than its minimum dose). Disease grows exponentially while waiting; bridging
therapy multiplies the burden by ``bridging_burden_factor`` once:

    tumour_burden_factor_at_infusion = exp(r * (infusion_day - enrolled_day)) * (f_bridge if bridged)

Randomness: every patient draws all of its random numbers up front, in a fixed order, from its own
stream (:func:`cartwin.foundation.streams.patient_rng`, purpose ``"journey"``:
``SeedSequence(seed, spawn_key=(3, patient_id))``), so a patient's draws do not depend on how
many patients were simulated before it, nor on queueing (DESIGN.md practice 7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cartwin.foundation import streams
from cartwin.journey.config import JourneyConfig
from cartwin.journey.products import Product

_DURATION_STEPS = (
    "enrolment_to_apheresis",
    "apheresis_session",
    "shipping_to_facility",
    "manufacturing",
    "release_testing",
    "shipping_to_site",
    "infusion_scheduling",
    "off_the_shelf_ordering",
    "lymphodepletion_to_infusion",
    "post_infusion_stay",
)

#: Lot-to-lot variability (assumptions): Beta concentration of fractions, lognormal SD of fold.
FRACTION_CONCENTRATION = 20.0
VIABILITY_CONCENTRATION = 60.0
OFF_THE_SHELF_CONCENTRATION = 200.0
EXPANSION_LOG_SD = 0.5
UL_PER_L = 1.0e6

ARRIVAL_STREAM = 0
#: Patients simulated in one SimPy environment by :func:`simulate_journeys`.
JOURNEY_CHUNK = 20_000


def patient_rng(seed: int, patient_id: int) -> np.random.Generator:
    """The patient's own journey generator (purpose ``"journey"`` of :mod:`cartwin.foundation.streams`).

    Until 2026-12-02 this was ``spawn_key=(1, patient_id)``, the covariates' stream: where every
    candidate was eligible, a patient's journey durations were the same normals as its covariates
    (ECOG against enrolment-to-infusion time: Spearman -0.64 in ELIANA).
    """
    return streams.patient_rng(seed, patient_id, "journey")


def _beta(rng: np.random.Generator, mean: float, kappa: float, size: int | None) -> Any:
    # Always consume randomness so the stream layout does not depend on the product.
    if mean <= 0.0 or mean >= 1.0 or not math.isfinite(kappa):
        rng.random(size)
        return np.full(size, mean) if size is not None else mean
    return rng.beta(mean * kappa, (1.0 - mean) * kappa, size)


def durations_of(config: JourneyConfig) -> dict[str, Any]:
    d = {name: getattr(config, name) for name in _DURATION_STEPS}
    d["manufacturing"] = config.manufacturing_duration
    d["release_testing"] = config.release_testing_duration
    return d


def draw(config: JourneyConfig, rng: np.random.Generator, size: int | None = None) -> dict[str, Any]:
    """All random quantities of ``size`` patients (scalars if ``size`` is None), in a fixed order.

    Used one patient at a time by the SimPy process and vectorised by the calibration, so both
    see the same distributions.
    """
    product: Product = config.product_spec
    out: dict[str, Any] = {}
    for name, dur in durations_of(config).items():
        out[name] = dur.sample(rng, size)
    out["u_manufacturing_failure"] = rng.random(size)
    # Apheresis yield: ALC (cells/uL) x processed volume x collection efficiency x T fraction.
    alc = config.alc_median_per_ul * np.exp(config.alc_log_sd * rng.standard_normal(size))
    fold = product.expansion_fold * np.exp(EXPANSION_LOG_SD * rng.standard_normal(size))
    kappa = OFF_THE_SHELF_CONCENTRATION if product.off_the_shelf else FRACTION_CONCENTRATION
    transduction = _beta(rng, product.transduction_efficiency_fraction, kappa, size)
    cd8_kappa = math.inf if product.composition_controlled else kappa
    cd8 = _beta(rng, product.cd8_fraction, cd8_kappa, size)
    memory = _beta(rng, product.memory_fraction, kappa, size)
    v_kappa = OFF_THE_SHELF_CONCENTRATION if product.off_the_shelf else VIABILITY_CONCENTRATION
    viability = _beta(rng, product.viability_fraction, v_kappa, size)
    if product.off_the_shelf:
        nan = np.full(size, np.nan) if size is not None else math.nan
        collected, fold_out = nan, nan
        produced = np.full(size, product.target_dose_cells) if size is not None else product.target_dose_cells
    else:
        collected = (
            alc * config.apheresis_processed_volume_l * UL_PER_L
            * config.apheresis_collection_efficiency * config.t_cell_fraction_of_lymphocytes
        )
        produced = np.minimum(collected, product.max_seeded_t_cells) * fold * transduction * viability
        fold_out = fold
    out.update(
        absolute_lymphocyte_count_per_ul=np.nan * alc if product.off_the_shelf else alc,
        t_cells_collected=collected,
        expansion_fold=fold_out,
        transduction_efficiency_fraction=transduction,
        cd8_fraction=cd8,
        memory_fraction=memory,
        viability_fraction=viability,
        car_cells_produced=produced,
        dose_cells=np.minimum(produced, product.target_dose_cells),
        out_of_specification=(produced < product.min_dose_cells) | (viability < product.viability_spec_fraction),
    )
    out["u_bridging"] = rng.random(size)
    out["e_dropout"] = rng.standard_exponential(size)
    out["u_dropout_reason"] = rng.random(size)
    return out


def timeline(config: JourneyConfig, d: dict[str, Any]) -> dict[str, Any]:
    """Days since enrolment of each step without queueing (vectorised over ``d``)."""
    if config.product_spec.off_the_shelf:
        ld = d["off_the_shelf_ordering"]
        nan = ld * np.nan
        return {
            "apheresis": nan, "manufacturing_start": nan, "manufacturing_end": nan,
            "release": nan, "product_at_site": ld, "lymphodepletion": ld,
            "infusion": ld + d["lymphodepletion_to_infusion"],
        }
    aph = d["enrolment_to_apheresis"]
    ms = aph + d["apheresis_session"] + d["shipping_to_facility"]
    me = ms + d["manufacturing"]
    rel = me + d["release_testing"]
    site = rel + d["shipping_to_site"]
    ld = site + d["infusion_scheduling"]
    return {
        "apheresis": aph, "manufacturing_start": ms, "manufacturing_end": me, "release": rel,
        "product_at_site": site, "lymphodepletion": ld, "infusion": ld + d["lymphodepletion_to_infusion"],
    }


def dropout_reason(config: JourneyConfig, u: float) -> str:
    h = config.total_hazard_per_day
    p = config.progression_hazard_per_day / h
    q = p + config.death_hazard_per_day / h
    return "progression" if u < p else ("death" if u < q else "ineligible")


class Resources:
    """SimPy resources of a network plus busy intervals per resource (for utilisation)."""

    def __init__(self, env, capacities: dict[str, int]):
        import simpy

        self.capacity = dict(capacities)
        self.pool = {name: simpy.Resource(env, capacity=c) for name, c in capacities.items()}
        self.busy: dict[str, list[tuple[float, float]]] = {name: [] for name in capacities}


def _hold(env, resources: Resources | None, name: str, duration: float, on_start: Callable[[float], None]):
    """Wait for one unit of ``name`` (if resources are modelled), call ``on_start``, hold it."""
    if resources is None:
        on_start(env.now)
        yield env.timeout(duration)
        return
    with resources.pool[name].request() as req:
        yield req
        start = env.now
        on_start(start)
        try:
            yield env.timeout(duration)
        finally:
            resources.busy[name].append((start, env.now))


def empty_record(patient_id: int, config: JourneyConfig) -> dict[str, Any]:
    p = config.product_spec
    rec: dict[str, Any] = {"patient_id": patient_id, "product": p.key, "product_class": p.product_class,
                           "lymphodepletion": config.lymphodepletion}
    for col in ("enrolled_day", "apheresis_day", "manufacturing_start_day", "manufacturing_end_day",
                "release_day", "product_at_site_day", "lymphodepletion_day", "infusion_day",
                "dropout_day", "manufacturing_queue_day"):
        rec[col] = math.nan
    rec.update(infused=False, not_infused_reason=None, bridging=False)
    rec["tumour_burden_factor_at_infusion"] = math.nan
    for col in PRODUCT_COLUMNS:
        rec[col] = math.nan
    return rec


def patient_process(env, patient_id: int, config: JourneyConfig, d: dict[str, Any],
                    resources: Resources | None, rec: dict[str, Any]):
    """The SimPy generator of one patient; fills ``rec`` (a row of the patients table)."""
    import simpy

    product = config.product_spec
    rec["enrolled_day"] = t0 = env.now

    def setter(column: str) -> Callable[[float], None]:
        def _set(t: float) -> None:
            rec[column] = t
        return _set

    try:
        if product.off_the_shelf:
            yield env.timeout(float(d["off_the_shelf_ordering"]))
            rec["product_at_site_day"] = env.now
        else:
            yield env.timeout(float(d["enrolment_to_apheresis"]))
            yield from _hold(env, resources, "apheresis", float(d["apheresis_session"]), setter("apheresis_day"))
            rec["bridging"] = bool(d["u_bridging"] < config.bridging_probability)
            yield env.timeout(float(d["shipping_to_facility"]))
            asked = env.now

            def _mfg_start(t: float) -> None:
                rec["manufacturing_start_day"] = t
                rec["manufacturing_queue_day"] = t - asked

            yield from _hold(env, resources, "manufacturing", float(d["manufacturing"]), _mfg_start)
            rec["manufacturing_end_day"] = env.now
            if d["u_manufacturing_failure"] < config.failure_probability:
                rec["not_infused_reason"] = "manufacturing_failure"
                return
            _record_product(rec, d)
            yield from _hold(env, resources, "qc", float(d["release_testing"]), lambda t: None)
            rec["release_day"] = env.now
            if bool(d["out_of_specification"]):
                rec["not_infused_reason"] = "out_of_specification"
                return
            yield env.timeout(float(d["shipping_to_site"]))
            rec["product_at_site_day"] = env.now
            yield env.timeout(float(d["infusion_scheduling"]))
        if product.off_the_shelf:
            _record_product(rec, d)
            if bool(d["out_of_specification"]):
                rec["not_infused_reason"] = "out_of_specification"
                return
        # A bed is held from lymphodepletion through the post-infusion stay.
        bed = resources.pool["beds"].request() if resources is not None else None
        bed_start = env.now
        try:
            if bed is not None:
                yield bed
            rec["lymphodepletion_day"] = bed_start = env.now
            yield env.timeout(float(d["lymphodepletion_to_infusion"]))
            rec["infusion_day"] = env.now
            rec["infused"] = True
            rec["tumour_burden_factor_at_infusion"] = math.exp(
                config.tumour_growth_rate_per_day * (env.now - t0)
            ) * (config.bridging_burden_factor if rec["bridging"] else 1.0)
            yield env.timeout(float(d["post_infusion_stay"]))
        finally:
            if bed is not None:
                if bed.triggered:
                    resources.pool["beds"].release(bed)
                    resources.busy["beds"].append((bed_start, env.now))
                else:
                    bed.cancel()
    except simpy.Interrupt:
        rec["dropout_day"] = env.now
        rec["not_infused_reason"] = dropout_reason(config, float(d["u_dropout_reason"]))


PRODUCT_COLUMNS = (
    "absolute_lymphocyte_count_per_ul", "t_cells_collected", "expansion_fold",
    "transduction_efficiency_fraction", "cd8_fraction", "memory_fraction",
    "viability_fraction", "car_cells_produced", "dose_cells",
)


def _record_product(rec: dict[str, Any], d: dict[str, Any]) -> None:
    for col in PRODUCT_COLUMNS:
        rec[col] = float(d[col])


def _watch(env, proc, rec: dict[str, Any], at: float):
    yield env.timeout(at)
    if proc.is_alive and not rec["infused"]:
        proc.interrupt("dropout")


def start_patient(env, patient_id: int, config: JourneyConfig, seed: int,
                  resources: Resources | None = None, rng: np.random.Generator | None = None) -> dict[str, Any]:
    """Schedule patient ``patient_id`` enrolling now; returns the row that the process fills.

    ``rng``: the patient's journey generator if the caller made it (:func:`patient_rng`'s).
    """
    d = draw(config, patient_rng(seed, patient_id) if rng is None else rng)
    rec = empty_record(patient_id, config)
    proc = env.process(patient_process(env, patient_id, config, d, resources, rec))
    t_drop = config.dropout_time(float(d["e_dropout"]))
    if math.isfinite(t_drop):
        env.process(_watch(env, proc, rec, t_drop))
    return rec


def simulate_journeys(config: JourneyConfig, n_patients: int, seed: int = 0, *, first_patient: int = 0):
    """Journeys of ``n_patients`` enrolled patients with unlimited capacity (no queueing).

    Returns the tidy one-row-per-patient table (:func:`cartwin.journey.tables.patients_table`).
    ``first_patient``: the first patient id (ids ``first_patient .. first_patient + n - 1``);
    a patient's journey depends only on its id and ``seed``, so any split gives the same rows.

    >>> from cartwin.journey import preset_config
    >>> df = simulate_journeys(preset_config("eliana"), 200, seed=1)
    >>> bool(0.6 < df["infused"].mean() < 0.95)
    True
    """
    import simpy

    from cartwin.foundation.constraints import Interval, check
    from cartwin.journey.tables import patients_table

    check("n_patients", n_patients, Interval(1, 10_000_000, integer=True))
    check("seed", seed, Interval(0, 2**63 - 1, integer=True))
    check("first_patient", first_patient, Interval(0, 2**62, integer=True))
    # Without shared resources the patients never meet, so each chunk gets its own environment:
    # the same rows as one environment, with memory bounded by the chunk (one environment for
    # 10^6 patients held ~5 GB of processes and record dicts at once).
    import pandas as pd

    chunks = []
    first, end = int(first_patient), int(first_patient) + int(n_patients)
    for start in range(first, end, JOURNEY_CHUNK):
        env = simpy.Environment()
        ids = range(start, min(start + JOURNEY_CHUNK, end))
        records = [start_patient(env, i, config, int(seed), rng=rng)
                   for i, rng in zip(ids, streams.patient_generators(int(seed), ids, "journey"), strict=True)]
        env.run()
        chunks.append(patients_table(records, config, seed=int(seed)))
    if len(chunks) == 1:
        return chunks[0]
    table = pd.concat(chunks, ignore_index=True)
    table.attrs = chunks[0].attrs
    return table

