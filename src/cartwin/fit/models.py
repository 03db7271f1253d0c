"""Models by name for fitting and export: the library, the composite model, or an SBML file."""

from __future__ import annotations

from pathlib import Path

from cartwin.foundation.errors import ValidationError
from cartwin.model.base import Model


def library_models() -> dict[str, type[Model]]:
    """Every published model in :mod:`cartwin.model.library` by its ``name``, and the composite
    model (``CarTPatientModel.name``, also ``"cart"``)."""
    from cartwin.model import CarTPatientModel, library

    out = {}
    for attr in getattr(library, "__all__", ()):
        cls = getattr(library, attr)
        if isinstance(cls, type) and issubclass(cls, Model):
            out[cls.name] = cls
    out[CarTPatientModel.name] = CarTPatientModel
    out["cart"] = CarTPatientModel
    return out


def resolve_model(name: str | Model, *, time_unit: str | None = None, field: str = "model") -> Model:
    """A model instance from a library name (``stein2019``), ``cart``, or an SBML file path."""
    if isinstance(name, Model):
        return name
    if isinstance(name, type) and issubclass(name, Model):
        return name()
    text = str(name)
    if text.lower().endswith((".xml", ".sbml")):
        from cartwin.model.sbml_import import from_sbml

        if not Path(text).exists():
            raise ValidationError(field, "an existing SBML file", text)
        return from_sbml(text, time_unit=time_unit)
    models = library_models()
    if text.lower() not in models:
        raise ValidationError(field, "one of " + ", ".join(sorted(models)) + " or an SBML file (.xml)", text)
    return models[text.lower()]()
