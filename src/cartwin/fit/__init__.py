"""Fitting kinetic models to patient-level data (docs/fitting.md).

Layer: with ``calibrate`` (above ``engine`` and ``model``; imports those and ``foundation``).

* :func:`fit` — one call: dataset file -> population (SAEM) or individual (MAP) estimates.
* :mod:`.dataset` — NONMEM-format datasets: :func:`read_nonmem`, :func:`write_nonmem`.
* :mod:`.problem` — model + dataset + estimated parameters + error model, predicted by the engine.
* :mod:`.dosing` — the dataset's dose rows as the model's doses (the regimen the patients had).
* :mod:`.individual` — MAP per patient with standard errors, BLQ by M3.
* :mod:`.population` — SAEM with linearization standard errors, -2LL, shrinkage, CWRES.
* :mod:`.report` — diagnostics (observed vs predicted, CWRES, VPC), the HTML report and
  ``population.json`` (:mod:`cartwin.population.fitted`, read by ``cartwin trial --population``).
* :mod:`.simulate` — simulated datasets (recovery studies).
"""

from cartwin.fit.api import fit
from cartwin.fit.dataset import NonmemDataset, read_nonmem, write_nonmem
from cartwin.fit.individual import IndividualFit, fit_individual
from cartwin.fit.population import PopulationFit, fit_population
from cartwin.fit.problem import make_problem
from cartwin.fit.simulate import simulate_dataset

__all__ = ["IndividualFit", "NonmemDataset", "PopulationFit", "fit", "fit_individual", "fit_population",
           "make_problem", "read_nonmem", "simulate_dataset", "write_nonmem"]
