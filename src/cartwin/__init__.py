"""cartwin: a mechanistic digital twin of CAR-T cell therapy.

Layers (imports run downward only; see docs/design.md):

    foundation  errors, units, constraints (validation), results (tidy tables + provenance)
    model       states with units, parameter tables with sources, right-hand sides
    engine      reference (scipy) and batched engines behind one ``simulate`` call
    clinic      bedside observations, grading scales, response criteria, management
    journey     vein-to-vein processes (SimPy) and products
    population  covariates, inter-individual variability, seeded per-patient streams
    trial       protocols, endpoints, reports;  calibrate: fitting, sensitivity
    registry    ClinicalTrials.gov records (foundation only)
    cli, web    thin front-ends; nothing imports them

Importing :mod:`cartwin` has no side effects and imports no heavy optional dependency.
"""

from cartwin._version import __version__

__all__ = ["__version__"]
