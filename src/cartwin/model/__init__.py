"""Model layer: states with units, parameter tables with sources, right-hand sides.

Owns the science of the in-vivo dynamics. May import :mod:`cartwin.foundation` only.

* :class:`~cartwin.model.base.Model` — the contract every model follows.
* :class:`~cartwin.model.cart.CarTPatientModel` — the composite cartwin model (docs/model.md).
* :mod:`cartwin.model.library` — published models (Kimmel 2021, Stein 2019).
* :mod:`cartwin.model.presets` — products and indications as parameter sets.
* :func:`from_sbml` — an SBML file (BioModels) as a Model (:mod:`cartwin.model.sbml_import`).
"""

from cartwin.model.base import DoseSpec, Model, Observable, Parameter, ParameterSet, State
from cartwin.model.cart import CarTPatientModel
from cartwin.model.sbml_import import from_sbml

__all__ = [
    "CarTPatientModel",
    "DoseSpec",
    "Model",
    "Observable",
    "Parameter",
    "ParameterSet",
    "State",
    "from_sbml",
]
