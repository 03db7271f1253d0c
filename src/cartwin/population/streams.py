"""Seeded per-patient random streams, independent of batch size and sharding.

Patient ``k`` of a run with root seed ``seed`` draws from
``Generator(PCG64(SeedSequence(seed, spawn_key=(purpose, k))))``. The stream depends only on
``(seed, purpose, k)``: simulating 10 patients, 10⁶ patients or any shard of them gives patient
``k`` the same draws (DESIGN.md practice 7). ``SeedSequence(seed).spawn(n)`` would give the same
streams for the same order, but the explicit ``spawn_key`` makes the independence from order and
count a property of the construction rather than of how the caller iterates.

``purpose`` separates independent uses (covariates, inter-individual variability, journey
events, survival hazards), so adding a draw for one purpose never shifts another's numbers.

Example
-------
>>> from cartwin.population.streams import patient_rng
>>> a = patient_rng(1, 7).normal()
>>> b = patient_streams(1, range(5, 10))[2].normal()   # patient 7 inside a shard 5..9
>>> a == b
True
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from cartwin.foundation.constraints import Interval, check
from cartwin.foundation.errors import ValidationError

#: Stream purposes. Values are part of the reproducibility contract: never renumber.
PURPOSES = {
    "covariates": 1,
    "variability": 2,
    "journey": 3,
    "survival": 4,
    "clinic": 5,
    "trial": 6,
}

_SEED = Interval(0, 2**63 - 1, integer=True)
_INDEX = Interval(0, 2**63 - 1, integer=True)


def _purpose_code(purpose: str | int) -> int:
    if isinstance(purpose, str):
        if purpose not in PURPOSES:
            raise ValidationError("purpose", "one of " + ", ".join(PURPOSES) + " or a non-negative integer", purpose)
        return PURPOSES[purpose]
    check("purpose", purpose, _INDEX)
    return int(purpose)


def patient_seed_sequence(seed: int, patient_index: int, purpose: str | int = "covariates") -> np.random.SeedSequence:
    """The :class:`numpy.random.SeedSequence` of one patient for one purpose."""
    check("seed", seed, _SEED)
    check("patient_index", patient_index, _INDEX)
    return np.random.SeedSequence(int(seed), spawn_key=(_purpose_code(purpose), int(patient_index)))


def patient_rng(seed: int, patient_index: int, purpose: str | int = "covariates") -> np.random.Generator:
    """A fresh generator for patient ``patient_index`` (same draws on every call)."""
    return np.random.Generator(np.random.PCG64(patient_seed_sequence(seed, patient_index, purpose)))


def patient_streams(seed: int, patient_indices: Iterable[int], purpose: str | int = "covariates") -> list[np.random.Generator]:
    """One generator per patient index, in the order given (any subset, any order)."""
    return [patient_rng(seed, int(k), purpose) for k in patient_indices]


def patient_indices(n: int, start: int = 0) -> np.ndarray:
    """Indices ``start .. start + n - 1`` of a shard."""
    check("n", n, Interval(0, 10**9, integer=True))
    check("start", start, _INDEX)
    return np.arange(int(start), int(start) + int(n), dtype=np.int64)


def standard_normals(seed: int, indices: Iterable[int], k: int, purpose: str | int) -> np.ndarray:
    """Shape ``(len(indices), k)`` standard normal draws, row ``i`` from patient ``indices[i]``'s stream."""
    idx = list(indices)
    out = np.empty((len(idx), int(k)))
    for i, index in enumerate(idx):  # one generator alive at a time: 10^6 of them held ~1 GB
        out[i] = patient_rng(seed, int(index), purpose).standard_normal(int(k))
    return out


def uniforms(seed: int, indices: Iterable[int], k: int, purpose: str | int) -> np.ndarray:
    """Shape ``(len(indices), k)`` uniform [0, 1) draws, row ``i`` from patient ``indices[i]``'s stream."""
    idx = list(indices)
    out = np.empty((len(idx), int(k)))
    for i, index in enumerate(idx):  # one generator alive at a time: 10^6 of them held ~1 GB
        out[i] = patient_rng(seed, int(index), purpose).random(int(k))
    return out
