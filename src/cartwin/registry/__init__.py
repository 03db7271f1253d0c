"""The CAR-T trial registry: ClinicalTrials.gov v2 records imported, classified and queried.

This subpackage owns the registry database (embedded DuckDB), the v2 record schema, the
classification rules (cell-therapy type, cell source, target antigens, disease group), the
landscape queries, the design-to-protocol writer and the API sync. It imports only
:mod:`cartwin.foundation` (errors and results), never the model, engine or trial layers, so the
registry works and is tested on its own. See ``docs/registry.md``.

Example
-------
>>> from cartwin.registry import Registry, import_paths, fixtures_dir, search, SearchFilter
>>> with Registry(":memory:") as reg:
...     report = import_paths(reg, [fixtures_dir()])
...     hits = search(reg, SearchFilter.create(target="BCMA", phase="2"))
>>> sorted(hits["nct_id"])
['NCT03361748', 'NCT03548207']
"""

from __future__ import annotations

from pathlib import Path

from cartwin.registry.classify import Classification, canonical_antigen, classify
from cartwin.registry.query import SearchFilter, search, stats, stats_figure
from cartwin.registry.schema import Study, parse_study
from cartwin.registry.sources import Loaded, read_path
from cartwin.registry.store import ImportReport, Registry, default_db_path, import_paths


def fixtures_dir() -> Path:
    """The constructed example records shipped with cartwin (see ``fixtures/README.md``)."""
    return Path(__file__).parent / "fixtures"


__all__ = [
    "Classification", "ImportReport", "Loaded", "Registry", "SearchFilter", "Study",
    "canonical_antigen", "classify", "default_db_path", "fixtures_dir", "import_paths",
    "parse_study", "read_path", "search", "stats", "stats_figure",
]
