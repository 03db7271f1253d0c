"""Arms of a randomised protocol and the randomisation itself (stratified permuted blocks).

A protocol with ``[arms.<name>]`` tables is a randomised trial (docs/protocols.md, "Arms"): each
arm has an allocation ratio and a kind,

* ``car-t`` — the protocol's own product, dose, lymphodepletion, bridging and journey, analysed by
  intention to treat from randomisation (the arm carries its vein-to-vein dropouts and waits);
* ``standard-of-care`` — a regimen model of :mod:`cartwin.trial.standard_of_care`, optionally with
  ``crossover`` to the CAR-T arm's product at progression;
* ``parametric`` — a synthetic arm with exponential event times of median ``median_months``
  (design calculations and the known-answer tests of :mod:`cartwin.trial.power`).

Patients are randomised at enrolment in enrolment order with permuted blocks within strata
(Zelen M. J Chronic Dis 1974;27:365; the usual design of the randomised CAR-T trials, which
stratified by disease factors). Block order comes from one trial-level stream of the seed, so a
seed gives the same allocation. This module imports only foundation and the SoC models.

Example
-------
>>> import numpy as np, pandas as pd
>>> arms = (Arm("a", "parametric", 1, median_months=6.0), Arm("b", "parametric", 1, median_months=6.0))
>>> r = Randomisation(block_size=4)
>>> alloc = randomise(pd.DataFrame({"ecog": [0, 1] * 10}), arms, r, seed=1)
>>> sorted(np.unique(alloc, return_counts=True)[1].tolist())
[10, 10]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cartwin.foundation.errors import ValidationError

ARM_KINDS = ("car-t", "standard-of-care", "parametric")
#: When a crossover arm's patient receives the CAR-T product: at progression, or at his first
#: EFS event that is not death (no response at the assessment, progression, new therapy).
CROSSOVER_AT = ("progression", "efs-event")
PRIMARY_ENDPOINTS = ("efs", "pfs", "os")
#: A stratification factor: a covariate column, optionally split at a threshold (``"ldh_u_per_l>=250"``).
_FACTOR = re.compile(r"^([a-z_][a-z0-9_]*)(?:\s*>=\s*([-+0-9.eE]+))?$")
#: Most levels a covariate may take to be a stratification factor without a threshold.
MAX_LEVELS = 8


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str
    allocation: int = 1
    label: str = ""
    regimen: str = ""
    crossover: bool = False
    crossover_at: str = "progression"
    median_months: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Randomisation:
    """``[randomisation]``: strata, block size, accrual, analysis choices."""

    stratify: tuple[str, ...] = ()
    block_size: int | None = None
    accrual_days: float = 0.0
    primary_endpoint: str = "pfs"
    efs_no_response_by_day: float | None = None
    post_progression: str = ""
    alpha: float = 0.05
    note: str = ""


def parse_factor(text: str) -> tuple[str, float | None]:
    """``"ecog"`` -> ("ecog", None); ``"ldh_u_per_l>=250"`` -> ("ldh_u_per_l", 250.0)."""
    m = _FACTOR.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValidationError("protocol.randomisation.stratify", "covariate names, optionally with a threshold ('ldh_u_per_l>=250')", text)
    return m.group(1), (float(m.group(2)) if m.group(2) is not None else None)


def strata(covariates: pd.DataFrame, factors: tuple[str, ...]) -> np.ndarray:
    """Stratum label per row ("ecog=1|ldh_u_per_l>=250=True"; "all" without factors)."""
    if not factors:
        return np.full(len(covariates), "all", dtype=object)
    parts = []
    for text in factors:
        name, cut = parse_factor(text)
        if name not in covariates.columns:
            raise ValidationError("protocol.randomisation.stratify", "covariates of the population: " + ", ".join(covariates.columns), name)
        col = covariates[name]
        if cut is not None:
            values = (pd.to_numeric(col) >= cut).astype(str)
        else:
            if col.nunique() > MAX_LEVELS:
                raise ValidationError("protocol.randomisation.stratify", f"a threshold for {name} (it takes more than "
                                      f"{MAX_LEVELS} values): '{name}>=VALUE'", text)
            values = col.astype(str)
        parts.append(f"{text}=" + values)
    label = parts[0]
    for p in parts[1:]:
        label = label + "|" + p
    return label.to_numpy(dtype=object)


def block_size(arms: tuple[Arm, ...], randomisation: Randomisation) -> int:
    total = sum(a.allocation for a in arms)
    size = randomisation.block_size or 2 * total
    if size % total:
        raise ValidationError("protocol.randomisation.block_size", f"a multiple of the allocation total ({total})", size)
    return size


def randomise(covariates: pd.DataFrame, arms: tuple[Arm, ...], randomisation: Randomisation, seed: int) -> np.ndarray:
    """Arm name per enrolled patient (rows in enrolment order), permuted blocks within strata."""
    size = block_size(arms, randomisation)
    total = sum(a.allocation for a in arms)
    block = np.repeat(np.array([a.name for a in arms], dtype=object), [a.allocation * size // total for a in arms])
    labels = strata(covariates, randomisation.stratify)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(8, 2**32))))
    out = np.empty(len(labels), dtype=object)
    for label in sorted(set(labels)):
        rows = np.flatnonzero(labels == label)
        blocks = -(-rows.size // size)
        seq = np.concatenate([rng.permutation(block) for _ in range(blocks)]) if blocks else np.array([], dtype=object)
        out[rows] = seq[: rows.size]
    return out


def entry_days(patient_ids: np.ndarray, accrual_days: float, seed: int) -> np.ndarray:
    """Day of randomisation of each patient: uniform accrual over ``accrual_days`` (0: all on day 0)."""
    if accrual_days <= 0:
        return np.zeros(len(patient_ids))
    from cartwin.foundation.streams import uniforms

    return np.sort(uniforms(seed, patient_ids, 1, "randomisation")[:, 0]) * accrual_days
