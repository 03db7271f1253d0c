"""Seeded per-patient streams (re-exported from :mod:`cartwin.foundation.streams`).

The streams live in the foundation layer since 2026-12-02 because the journey, clinic and trial
layers draw from them too; this module keeps the public path of earlier releases.
"""

from cartwin.foundation.streams import (  # noqa: F401
    PURPOSES,
    patient_generators,
    patient_indices,
    patient_rng,
    patient_seed_sequence,
    patient_streams,
    standard_normals,
    uniforms,
)

__all__ = ["PURPOSES", "patient_generators", "patient_indices", "patient_rng", "patient_seed_sequence", "patient_streams",
           "standard_normals", "uniforms"]
