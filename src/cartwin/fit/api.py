"""``cartwin.fit.fit``: one call from a dataset file to estimates (and, with ``out``, the files)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cartwin.fit.dataset import NonmemDataset, read_nonmem
from cartwin.fit.individual import IndividualFit, fit_individual
from cartwin.fit.models import resolve_model
from cartwin.fit.population import PopulationFit, fit_population
from cartwin.fit.problem import make_problem
from cartwin.foundation.errors import ValidationError


def fit(data: str | os.PathLike | NonmemDataset, model: Any = "stein2019", *, population: bool = True,
        dv_unit: str | None = None, time_unit: str = "day", estimate: Sequence[str] | None = None,
        fixed: Mapping[str, float] | None = None, covariates: Mapping[str, Sequence[str]] | None = None,
        observable: str | None = None, error: str = "log", seed: int = 0, n_burn: int = 150,
        n_smooth: int = 100, solver: Any = "auto", out: str | os.PathLike | None = None,
        amt_unit: str | Mapping[str, str] | None = None, product: str | None = None, indication: str | None = None,
        lymphodepletion: Any = "auto", **options: Any) -> PopulationFit | IndividualFit:
    """Fit ``model`` (a library name, ``cart``, an SBML file or a Model) to a NONMEM dataset.

    ``population=True``: SAEM (:func:`cartwin.fit.population.fit_population`); ``False``: MAP
    per patient (:func:`cartwin.fit.individual.fit_individual`; ``options`` go to it, e.g.
    ``omega2``, ``sigma``). ``dv_unit`` is required with a file path. With ``out``, the tables,
    figures and report are written there (docs/fitting.md); a population fit's ``population.json``
    there is what ``cartwin trial --population`` draws virtual patients from.

    Dose rows (``EVID`` 1) are applied as the model's doses (:mod:`cartwin.fit.dosing`):
    ``amt_unit`` declares the unit of ``AMT`` (e.g. ``"cells"``; or ``{"car_t": "cells",
    "fludarabine": "mg/m2"}``); for the composite model (``cart``) ``product`` and
    ``indication`` set the regimen and typical values, and ``lymphodepletion`` (``"auto"``,
    ``"none"`` or a :class:`~cartwin.model.dosing.Lymphodepletion`) the conditioning.

    Example
    -------
    >>> from cartwin.fit import fit                                                # doctest: +SKIP
    >>> result = fit("data.csv", "stein2019", dv_unit="copies/ug gDNA", out="fit")  # doctest: +SKIP
    >>> result.table()                                                              # doctest: +SKIP
    """
    if isinstance(data, NonmemDataset):
        dataset = data
    else:
        if dv_unit is None:
            raise ValidationError("dv_unit", "the unit of DV in the file, e.g. 'copies/ug gDNA'", None)
        dataset = read_nonmem(data, dv_unit=dv_unit, time_unit=time_unit)
    m = resolve_model(model)
    problem = make_problem(m, dataset, estimate=estimate, fixed=fixed, observable=observable, error=error,
                           solver=solver, covariates=covariates, amt_unit=amt_unit, product=product,
                           indication=indication, lymphodepletion=lymphodepletion)
    if population:
        result = fit_population(problem, seed=seed, n_burn=n_burn, n_smooth=n_smooth, **options)
        if out is not None:
            from cartwin.fit.report import write_population_outputs

            write_population_outputs(result, Path(out))
        return result
    if covariates:
        raise ValidationError("covariates", "a population fit (covariate effects are population parameters)", covariates)
    result = fit_individual(problem, **options)
    if out is not None:
        from cartwin.fit.report import write_individual_outputs

        write_individual_outputs(result, Path(out))
    return result
