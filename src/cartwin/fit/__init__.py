"""Fitting kinetic models to patient-level data (docs/fitting.md).

Layer: with ``calibrate`` (above ``engine`` and ``model``; imports those and ``foundation``).

* :mod:`.dataset` — NONMEM-format datasets: :func:`read_nonmem`, :func:`write_nonmem`.
"""

from cartwin.fit.dataset import NonmemDataset, read_nonmem, write_nonmem

__all__ = ["NonmemDataset", "read_nonmem", "write_nonmem"]
