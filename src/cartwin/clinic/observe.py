"""From model state to what the care team measures at the bedside.

The model carries mechanistic drivers (IL-6 signalling, endothelial activation, cell counts);
the bedside sees temperature, blood pressure, oxygen need, the ICE score and laboratory values.
The mapping below is monotone and documented; its thresholds are *assumptions* chosen so the
ASTCT grade boundaries fall at plausible driver levels, and they are the parameters the
virtual-trial calibration adjusts against published CRS/ICANS rates.

* Fever: IL-6 acts on the hypothalamus through PGE2 (Dinarello CA. J Endotoxin Res 2004;10:201);
  temperature rises with IL-6 signalling above baseline (``fever_driver`` rescaled to 0-1).
* Hypotension and hypoxia in CRS come from vasodilation and capillary leak driven by cytokines
  and endothelial activation (Gust J et al. Cancer Discov 2017;7:1404; Obstfeld AE et al. Blood
  2017;130:2569): a leak index combines both drivers; its level sets fluid/vasopressor need and
  oxygen support.
* ICANS: the ICE score (Lee 2019 Table 5) falls, consciousness is depressed and, at the highest
  levels, seizures, motor weakness and cerebral oedema appear, as endothelial activation rises
  (Gust 2017; Santomasso BD et al. Cancer Discov 2018;8:958).
* Ferritin follows macrophage activation (Teachey DT et al. Cancer Discov 2016;6:664).

The same function serves the engine's management policies (noise-free, at decision points) and
the observation tables (with measurement noise from per-patient seeded streams).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.streams import patient_generators


@dataclass(frozen=True)
class BedsideMapping:
    """Thresholds of the state -> bedside mapping (all *assumptions*, calibrated by trials)."""

    afebrile_c: float = 36.8
    fever_gain_c: float = 4.0  # temperature rise at maximal IL-6 signalling
    baseline_signal: float = 5.0 / (5.0 + 100.0)  # fever_driver at baseline IL-6 (model defaults)
    # Capillary leak = 0.45 x IL-6 signal + 1.0 x endothelial activation - 0.6 (assumption, model
    # v2.1): the leak of severe CRS is endothelial (Ang-2/vWF, Hay KA et al. Blood 2017;130:2295;
    # Obstfeld AE et al. Blood 2017;130:2569), and it can progress after tocilizumab has removed
    # the IL-6 signal (tocilizumab-refractory CRS needs steroids: Neelapu SS et al. Nat Rev Clin
    # Oncol 2018;15:47). v2 (0.7 / 0.6 / 0.62) made vasopressors impossible once tocilizumab ran,
    # so trials that gave it early (KarMMa, CARTITUDE-1, TRANSCEND) had no grade >= 3 CRS at all.
    leak_signal_weight: float = 0.45
    leak_endothelial_weight: float = 1.0
    leak_offset: float = 0.6
    fluids_above: float = 0.08
    one_pressor_above: float = 0.30
    two_pressors_above: float = 0.55
    low_flow_above: float = 0.15
    high_flow_above: float = 0.40
    ventilation_above: float = 0.70
    # ICE 10 -> 0 over neurovascular activation 0.30 -> 0.90 (assumption on the band, model v2.3).
    # v2.2's band (0.50 -> 0.72) was narrow against the spread of activation peaks, so nearly
    # every patient who crossed it went through grades 1-2 within a day and reached ICE <= 2
    # (ZUMA-1: grade 1 6 %, grade 2 8 %, grade >= 3 44 % of infused; published 65 % any, 31 %
    # grade 3-4, so about half of ICANS is grade 1-2), and ICANS ended ~1 day after the peak
    # (median duration 6 days against 17: Neelapu SS et al. NEJM 2017;377:2531). With the wider
    # band, grades 1-2 are a stretch of the course a patient can stop in, and ICANS lasts while
    # the activation falls back below the ICE 9 threshold. Was 0.95 for ICE 0 before the ICANS
    # calibration (dexamethasone at grade 2 then stopped every patient before ICE <= 2); that is
    # no longer so, because dexamethasone now damps the neurovascular drive only partly
    # (``dex_neurovascular_imax``, model parameters). docs/model.md has the measurements.
    ice_falls_above: float = 0.30
    ice_zero_at: float = 0.90
    voice_above: float = 0.82
    tactile_above: float = 0.90
    unarousable_above: float = 0.96
    seizure_above: float = 0.90
    motor_weakness_above: float = 0.97
    focal_edema_above: float = 0.93
    diffuse_edema_above: float = 0.975
    ferritin_baseline_ng_per_ml: float = 500.0
    ferritin_fold_max: float = 20.0
    hemoglobin_g_per_dl: float = 11.0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            check(f"bedside.{name}", value, Interval(0.0, 1000.0))
        # The ICE score falls linearly between the two: an empty or inverted band divides by
        # zero or makes the score rise with neurovascular activation.
        check("bedside.ice_zero_at", self.ice_zero_at, Interval(self.ice_falls_above, 1000.0, low_open=True),
              hint="ICE reaches 0 above where it starts to fall (bedside.ice_falls_above)")


DEFAULT_MAPPING = BedsideMapping()
O2_LEVELS = ("none", "low_flow", "high_flow", "cpap")


def bedside(observables: Mapping[str, np.ndarray], mapping: BedsideMapping = DEFAULT_MAPPING) -> dict[str, np.ndarray]:
    """Noise-free bedside values from model observables (arrays of equal shape)."""
    m = mapping
    signal = np.clip((np.asarray(observables["fever_driver"]) - m.baseline_signal) / (1.0 - m.baseline_signal), 0.0, 1.0)
    endo = np.clip(np.asarray(observables["icans_driver"]), 0.0, 1.0)
    # Capillary leak follows systemic endothelial activation (model v2's capillary_leak_driver);
    # a model without that observable (v1, library models) shares its ICANS driver, as v1 did.
    systemic = np.clip(np.asarray(observables.get("capillary_leak_driver", observables["icans_driver"])), 0.0, 1.0)
    temperature = m.afebrile_c + m.fever_gain_c * signal
    leak = np.clip(m.leak_signal_weight * signal + m.leak_endothelial_weight * systemic - m.leak_offset, 0.0, 1.0)
    vasopressors = np.where(leak > m.two_pressors_above, 2, np.where(leak > m.one_pressor_above, 1, 0))
    hypotension = leak > m.fluids_above
    # MAP on the support given: normal (85 falling to 65) below the fluid threshold, hypotensive
    # (64-60) while on fluids only, held at ~65-70 once vasopressors run.
    fluid_band = np.clip((leak - m.fluids_above) / (m.one_pressor_above - m.fluids_above), 0.0, 1.0)
    map_mmhg = np.where(
        vasopressors > 0,
        65.0 + 5.0 * (1.0 - leak),
        np.where(hypotension, 64.0 - 4.0 * fluid_band, 85.0 - 20.0 * leak / m.fluids_above),
    )
    o2_level = np.select(
        [leak > m.ventilation_above, leak > m.high_flow_above, leak > m.low_flow_above], [3, 2, 1], 0
    )
    flow = np.where(o2_level == 1, np.ceil(1.0 + 5.0 * (leak - m.low_flow_above) / (m.high_flow_above - m.low_flow_above)),
                    np.where(o2_level == 2, 30.0, 0.0))
    flow = np.where(o2_level == 1, np.minimum(flow, 6.0), flow)
    spo2 = np.where(o2_level == 0, 97.0 - 8.0 * leak, 93.0)
    ice = np.clip(np.round(10.0 * (1.0 - (endo - m.ice_falls_above) / (m.ice_zero_at - m.ice_falls_above))), 0, 10)
    ice = np.where(endo <= m.ice_falls_above, 10, ice).astype(int)
    consciousness = np.select(
        [endo > m.unarousable_above, endo > m.tactile_above, endo > m.voice_above],
        ["unarousable", "tactile", "voice"],
        "awakens_spontaneously",
    )
    consciousness = np.where(endo <= m.ice_falls_above, "alert", consciousness)
    seizure = np.where(endo > m.seizure_above, "brief", "none")
    edema = np.select([endo > m.diffuse_edema_above, endo > m.focal_edema_above], ["diffuse", "focal"], "none")
    mac = np.asarray(observables.get("myeloid_activation", np.zeros_like(signal)))
    return {
        "temperature_c": temperature,
        "map_mmhg": map_mmhg,
        "hypotension": hypotension,
        "vasopressors": vasopressors.astype(int),
        "vasopressin": np.zeros_like(hypotension, dtype=bool),
        "o2_support": np.asarray(O2_LEVELS)[o2_level],
        "o2_flow_l_per_min": flow,
        "spo2_pct": spo2,
        "ice_score": ice,
        "consciousness": consciousness,
        "seizure": seizure,
        "motor_weakness": endo > m.motor_weakness_above,
        "cerebral_edema": edema,
        "crp_mg_per_l": np.asarray(observables["crp_mg_per_l"]),
        "ferritin_ng_per_ml": m.ferritin_baseline_ng_per_ml * (1.0 + (m.ferritin_fold_max - 1.0) * mac),
        "anc_per_ul": np.asarray(observables.get("anc_per_ul", np.full_like(signal, np.nan))),
        "platelets_per_nl": np.asarray(observables.get("platelets_per_nl", np.full_like(signal, np.nan))),
        "hemoglobin_g_per_dl": np.full_like(signal, m.hemoglobin_g_per_dl),
        "igg_g_per_l": np.asarray(observables.get("igg_g_per_l", np.full_like(signal, np.nan))),
    }


@dataclass(frozen=True)
class ObservationSchedule:
    """When observations are taken: every ``inpatient_every_hours`` while in hospital, daily
    to ``daily_until_day`` (the REMS 4-week proximity period), then at clinic visits."""

    inpatient_every_hours: float = 6.0
    inpatient_days: float = 14.0
    daily_until_day: float = 28.0
    visit_days: tuple[float, ...] = (42.0, 60.0, 90.0, 120.0, 180.0, 270.0, 365.0, 540.0, 730.0)

    def __post_init__(self) -> None:
        check("schedule.inpatient_every_hours", self.inpatient_every_hours, Interval(1.0, 24.0))
        check("schedule.inpatient_days", self.inpatient_days, Interval(0.0, 60.0))
        check("schedule.daily_until_day", self.daily_until_day, Interval(0.0, 120.0))

    def days(self, follow_up_days: float) -> np.ndarray:
        step = self.inpatient_every_hours / 24.0
        inpatient = np.arange(0.0, self.inpatient_days + 1e-9, step)
        daily = np.arange(np.ceil(self.inpatient_days), self.daily_until_day + 1e-9, 1.0)
        out = np.unique(np.round(np.concatenate([inpatient, daily, self.visit_days, [follow_up_days]]), 10))
        return out[out <= follow_up_days]


def observe(
    timecourse: pd.DataFrame,
    mapping: BedsideMapping = DEFAULT_MAPPING,
    *,
    noise: bool = True,
    seed: int = 0,
    treatments: pd.DataFrame | None = None,
    stream_ids: Mapping[int, int] | None = None,
) -> pd.DataFrame:
    """Bedside observation table (the format of docs/grading.md) from a model timecourse.

    Measurement noise (thermometer 0.15 °C, cuff 4 mmHg, labs 10 % CV, ICE ±1 point with
    probability 0.2) is drawn from one stream per patient and quantity:
    :func:`cartwin.foundation.streams.patient_rng` ``(seed, patient_id, "clinic", substream=k)``.
    ``treatments`` (patient_id, day, drug) marks ``tocilizumab_given``/``steroids_given`` from
    the first dose on. ``stream_ids`` (patient_id -> stream index, default the patient's own id)
    lets copies of one patient, simulated under different parameters in one table, draw the same
    noise (common random numbers: :func:`cartwin.trial.runner.run_design`).
    """
    values = bedside({c: timecourse[c].to_numpy() for c in timecourse.columns if c in _NEEDED}, mapping)
    obs = pd.DataFrame({"patient_id": timecourse["patient_id"].to_numpy(), "time_day": timecourse["day"].to_numpy()})
    for k, v in values.items():
        obs[k] = v
    if noise:
        labs = ("crp_mg_per_l", "ferritin_ng_per_ml", "anc_per_ul", "platelets_per_nl")
        noisy = {k: obs[k].to_numpy(dtype=float, copy=True) for k in ("temperature_c", "map_mmhg", *labs)}
        ice_all = obs["ice_score"].to_numpy(copy=True)
        groups = obs.groupby("patient_id").indices
        pids, rows = np.fromiter(groups, dtype=np.int64, count=len(groups)), list(groups.values())
        if stream_ids is not None:
            pids = np.array([stream_ids.get(int(p), int(p)) for p in pids], dtype=np.int64)

        def streams(k):
            # One stream per patient and measured quantity: a row's noise does not depend on how
            # long the follow-up is or which other columns are measured.
            return zip(rows, patient_generators(seed, pids, "clinic", substream=k), strict=True)

        for idx, rng in streams(0):
            noisy["temperature_c"][idx] += rng.normal(0.0, 0.15, idx.size)
        for idx, rng in streams(1):
            noisy["map_mmhg"][idx] += rng.normal(0.0, 4.0, idx.size)
        for k, lab in enumerate(labs, start=2):
            for idx, rng in streams(k):
                noisy[lab][idx] *= np.exp(rng.normal(0.0, 0.1, idx.size))
        for idx, rng in streams(9):
            jitter = rng.choice([-1, 0, 1], size=idx.size, p=[0.1, 0.8, 0.1])
            ice = ice_all[idx]
            ice_all[idx] = np.where((ice > 0) & (ice < 10), np.clip(ice + jitter, 0, 10), ice)
        for k, v in noisy.items():
            obs[k] = v
        obs["ice_score"] = ice_all
    obs["temperature_c"] = obs["temperature_c"].round(1)
    obs["map_mmhg"] = obs["map_mmhg"].round(0)
    obs["tocilizumab_given"] = False
    obs["steroids_given"] = False
    obs["antipyretics_given"] = False
    if treatments is not None and len(treatments):
        for drugs, column in ((("tocilizumab",), "tocilizumab_given"),
                              (("dexamethasone", "methylprednisolone"), "steroids_given")):
            first = treatments[treatments["drug"].isin(drugs)].groupby("patient_id")["day"].min()
            start = obs["patient_id"].map(first)
            # Records at a decision time precede that decision's doses (engine convention).
            obs[column] = (obs["time_day"] > start).fillna(False).astype(bool)
    return obs.drop(columns=["hypotension"])


_NEEDED = {"fever_driver", "icans_driver", "capillary_leak_driver", "crp_mg_per_l", "myeloid_activation", "anc_per_ul", "platelets_per_nl", "igg_g_per_l"}
