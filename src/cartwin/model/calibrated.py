"""Calibrated parameters of products and indications (the record the joint calibration writes).

The joint calibration (:mod:`cartwin.calibrate.joint`, ``cartwin calibrate``) fits factors on the
typical (published) parameter values of :mod:`cartwin.model.presets`, one set per **product**
(expansion fitness, cytokine release, neurotoxicity, share of dysfunctional products) and one per
**indication** (how well the disease is killed), to every calibration target of every trial
preset at once. A trial takes the factors of the product and indication its protocol names: two
protocols with the same content get the same parameters whatever their files are called.

The record (``model/data/calibrated_parameters.json``) also holds the data, settings, fit quality
and date of the fit, and bootstrap draws of the factors (parameter uncertainty) that
``cartwin trial --parameter-uncertainty`` propagates.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cartwin.foundation.errors import CartwinWarning, ValidationError

#: What ``[calibration] parameters`` may name besides a path to a record.
CALIBRATED = "calibrated"  # the committed joint calibration
UNCALIBRATED = "uncalibrated"  # the published typical values, no fitted factors
SCHEMA = "cartwin calibrated parameters v1"
#: Factors that are shares, not multipliers (stored as values in [0, 1]).
SHARES = ("dysfunctional_product_fraction",)


@dataclass(frozen=True)
class CalibratedParameters:
    """Fitted factors by product key and by indication key, with the fit's bootstrap draws."""

    products: Mapping[str, Mapping[str, float]]
    indications: Mapping[str, Mapping[str, float]]
    draws: tuple[Mapping[str, Any], ...] = ()
    source: str = ""
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def factors(self, product: str, indication: str) -> dict[str, float]:
        """The factors of a trial of ``product`` in ``indication`` (product's, then indication's).

        A product or indication the fit did not include gets none of its factors, with a warning:
        its parameters stay at their published values, which is a different model from a fitted one.
        """
        missing = [f"product {product!r}"] * (product not in self.products) + [f"indication {indication!r}"] * (indication not in self.indications)
        if missing:
            warnings.warn(f"{' and '.join(missing)} not in the calibrated parameters ({self.source}): "
                          "published typical values used for them", CartwinWarning, stacklevel=3)
        return {**dict(self.products.get(product, {})), **dict(self.indications.get(indication, {}))}

    def draw(self, k: int) -> CalibratedParameters:
        """The ``k``-th bootstrap draw of the fit as a parameter set of its own."""
        if not self.draws:
            raise ValidationError("parameter_uncertainty", "a calibration record with bootstrap draws", self.source)
        d = self.draws[k % len(self.draws)]
        return CalibratedParameters(_frozen(d["products"]), _frozen(d["indications"]), source=f"{self.source} draw {k % len(self.draws)}")


def _frozen(table: Mapping[str, Mapping[str, float]]) -> Mapping[str, Mapping[str, float]]:
    return MappingProxyType({k: MappingProxyType({p: float(v) for p, v in d.items()}) for k, d in table.items()})


def from_record(record: Mapping[str, Any], source: str) -> CalibratedParameters:
    """Validate a parsed record (see the module docstring) into :class:`CalibratedParameters`."""
    if not isinstance(record, Mapping) or record.get("schema") != SCHEMA:
        raise ValidationError("calibration.parameters", f"a calibration record with schema {SCHEMA!r}", source)
    for section in ("products", "indications"):
        table = record.get(section)
        if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
            raise ValidationError(f"calibration.parameters.{section}", "a table of key = {parameter = factor}", source)
        for key, values in table.items():
            for name, v in values.items():
                ok = isinstance(v, (int, float)) and (0.0 <= v <= 1.0 if name in SHARES else 0.0 < v < 1e6)
                if not ok:
                    raise ValidationError(f"calibration.parameters.{section}.{key}.{name}",
                                          "a share in [0, 1]" if name in SHARES else "a positive factor", v)
    return CalibratedParameters(_frozen(record["products"]), _frozen(record["indications"]),
                                tuple(record.get("draws", ())), source, MappingProxyType(dict(record)))


def committed_record_path():
    return resources.files("cartwin.model").joinpath("data/calibrated_parameters.json")


def load_calibrated(spec: str = CALIBRATED, relative_to: str | Path | None = None) -> CalibratedParameters | None:
    """The parameter set a protocol's ``[calibration] parameters`` names (``None`` for uncalibrated).

    ``spec``: ``"calibrated"`` (the committed joint calibration), ``"uncalibrated"``, or the path of
    a record written by ``cartwin calibrate`` (relative paths from ``relative_to``, the protocol's folder).
    """
    if spec == UNCALIBRATED:
        return None
    if spec == CALIBRATED:
        path = committed_record_path()
        if not path.is_file():
            return None
        return _committed(path.read_text())
    path = Path(spec)
    if not path.is_absolute() and relative_to is not None:
        path = Path(relative_to) / path
    if not path.is_file():
        raise ValidationError("calibration.parameters", f"'{CALIBRATED}', '{UNCALIBRATED}' or the path of a calibration record", spec)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError("calibration.parameters", "a readable JSON calibration record", f"{spec} ({exc})") from None
    return from_record(record, str(path))


_CACHE: dict[str, CalibratedParameters] = {}


def _committed(text: str) -> CalibratedParameters:
    if text not in _CACHE:
        _CACHE.clear()
        _CACHE[text] = from_record(json.loads(text), "committed joint calibration")
    return _CACHE[text]
