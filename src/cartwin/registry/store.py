"""The registry database: an embedded DuckDB file holding every study version ever imported.

Two tables:

``studies``
    the current version of each study (one row per NCT ID): flattened fields for querying, the
    classification, and the raw v2 record as JSON text.
``study_versions``
    every distinct version seen (NCT ID, last-update date, SHA-256 of the raw record, raw
    record). Nothing imported is ever lost: an older or equal record still lands here.

Update rule (by NCT ID and ``lastUpdatePostDate``): a record replaces the current row when its
last-update date is later, or equal with different content (the later import wins); an older
record only adds a version. Each study's write is one transaction, so a failure leaves no
partial row.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from cartwin.foundation.errors import DataError
from cartwin.registry.classify import CLASSIFIER_VERSION, classify
from cartwin.registry.schema import Study, date_floor
from cartwin.registry.sources import Loaded

DB_ENV = "CARTWIN_REGISTRY_DB"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    nct_id VARCHAR PRIMARY KEY,
    last_update DATE,
    brief_title VARCHAR,
    official_title VARCHAR,
    acronym VARCHAR,
    overall_status VARCHAR,
    phases VARCHAR[],
    phase VARCHAR,
    study_type VARCHAR,
    start_date DATE,
    start_year INTEGER,
    first_posted DATE,
    enrollment INTEGER,
    enrollment_type VARCHAR,
    lead_sponsor VARCHAR,
    sponsor_class VARCHAR,
    collaborators VARCHAR[],
    conditions VARCHAR[],
    keywords VARCHAR[],
    interventions VARCHAR[],
    countries VARCHAR[],
    cell_therapy VARCHAR,
    cell_source VARCHAR,
    targets VARCHAR[],
    target_label VARCHAR,
    multi_target BOOLEAN,
    product VARCHAR,
    disease_groups VARCHAR[],
    disease_category VARCHAR,
    classifier_version VARCHAR,
    raw_sha256 VARCHAR,
    source VARCHAR,
    imported_at TIMESTAMP,
    raw VARCHAR
);
CREATE TABLE IF NOT EXISTS study_versions (
    nct_id VARCHAR,
    last_update DATE,
    raw_sha256 VARCHAR,
    source VARCHAR,
    imported_at TIMESTAMP,
    raw VARCHAR,
    PRIMARY KEY (nct_id, raw_sha256)
);
"""

COLUMNS = (
    "nct_id", "last_update", "brief_title", "official_title", "acronym", "overall_status", "phases",
    "phase", "study_type", "start_date", "start_year", "first_posted", "enrollment",
    "enrollment_type", "lead_sponsor", "sponsor_class", "collaborators", "conditions", "keywords",
    "interventions", "countries", "cell_therapy", "cell_source", "targets", "target_label",
    "multi_target", "product", "disease_groups", "disease_category", "classifier_version",
    "raw_sha256", "source", "imported_at", "raw",
)


def default_db_path() -> Path:
    """``$CARTWIN_REGISTRY_DB`` if set, else ``registry.duckdb`` in the user's data directory."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    import platformdirs

    return Path(platformdirs.user_data_dir("cartwin", appauthor=False)) / "registry.duckdb"


def phase_label(phases: Iterable[str]) -> str:
    """``["PHASE1", "PHASE2"]`` -> ``"1/2"``; ``["EARLY_PHASE1"]`` -> ``"early 1"``; none -> ``"n/a"``."""
    names = {"EARLY_PHASE1": "early 1", "PHASE1": "1", "PHASE2": "2", "PHASE3": "3", "PHASE4": "4"}
    parts = [names[p] for p in phases if p in names]
    return "/".join(parts) if parts else "n/a"


def canonical_json(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def study_row(study: Study, raw: dict[str, Any], source: str) -> dict[str, Any]:
    """The flattened, classified row for ``study`` (pure: no database)."""
    section = study.protocol_section
    status = section.status_module
    design = section.design_module
    sponsors = section.sponsor_collaborators_module
    ident = section.identification_module
    c = classify(study)
    text = canonical_json(raw)
    start = date_floor(status.start_date_struct.date if status.start_date_struct else None)
    enrol = design.enrollment_info
    return {
        "nct_id": study.nct_id,
        "last_update": date_floor(study.last_update),
        "brief_title": ident.brief_title,
        "official_title": ident.official_title,
        "acronym": ident.acronym,
        "overall_status": status.overall_status,
        "phases": list(design.phases),
        "phase": phase_label(design.phases),
        "study_type": design.study_type,
        "start_date": start,
        "start_year": start.year if start else None,
        "first_posted": date_floor(status.study_first_post_date_struct.date
                                   if status.study_first_post_date_struct else None),
        "enrollment": enrol.count if enrol else None,
        "enrollment_type": enrol.type if enrol else None,
        "lead_sponsor": sponsors.lead_sponsor.name if sponsors.lead_sponsor else None,
        "sponsor_class": sponsors.lead_sponsor.class_ if sponsors.lead_sponsor else None,
        "collaborators": [s.name for s in sponsors.collaborators if s.name],
        "conditions": list(section.conditions_module.conditions),
        "keywords": list(section.conditions_module.keywords),
        "interventions": [f"{iv.type or 'UNKNOWN'}: {iv.name}" for iv in
                          section.arms_interventions_module.interventions if iv.name],
        "countries": study.countries,
        "cell_therapy": c.cell_therapy,
        "cell_source": c.cell_source,
        "targets": list(c.targets),
        "target_label": c.target_label,
        "multi_target": c.multi_target,
        "product": c.product,
        "disease_groups": list(c.disease_groups),
        "disease_category": c.disease_category,
        "classifier_version": CLASSIFIER_VERSION,
        "raw_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "source": source,
        "imported_at": _dt.datetime.now(_dt.UTC).replace(tzinfo=None, microsecond=0),
        "raw": text,
    }


@dataclass
class ImportReport:
    """What an import did: counts by outcome and one error per bad file or record."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    older: list[str] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return len(self.added) + len(self.updated)

    def merge(self, other: ImportReport) -> None:
        for name in ("added", "updated", "unchanged", "older", "errors"):
            getattr(self, name).extend(getattr(other, name))


class Registry:
    """An open registry database. Use as a context manager; ``path=":memory:"`` for scratch."""

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool = False):
        if path == ":memory:":
            self.path: Path | None = None
        else:
            self.path = Path(path) if path is not None else default_db_path()
        target = ":memory:" if self.path is None else str(self.path)
        if self.path is not None:
            if read_only and not self.path.exists():
                raise DataError(str(self.path), "no registry database here yet; run `cartwin registry import` first")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(target, read_only=read_only)
        except duckdb.Error as exc:
            raise DataError(target, f"cannot open the registry database: {exc}") from None
        if not read_only:
            self.con.execute(_SCHEMA)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # --- writing --------------------------------------------------------------------------
    def upsert(self, loaded: Loaded) -> str:
        """Store one study; returns ``added``, ``updated``, ``unchanged`` or ``older``."""
        row = study_row(loaded.study, loaded.raw, loaded.source)
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "INSERT INTO study_versions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [row["nct_id"], row["last_update"], row["raw_sha256"], row["source"], row["imported_at"], row["raw"]],
            )
            current = con.execute("SELECT last_update, raw_sha256 FROM studies WHERE nct_id = ?",
                                  [row["nct_id"]]).fetchone()
            outcome = _outcome(current, row)
            if outcome in ("added", "updated"):
                con.execute("DELETE FROM studies WHERE nct_id = ?", [row["nct_id"]])
                placeholders = ", ".join("?" for _ in COLUMNS)
                con.execute(f"INSERT INTO studies ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                            [row[c] for c in COLUMNS])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return outcome

    def import_items(self, items: Iterable[Loaded | DataError]) -> ImportReport:
        """Store every good record; collect errors; one bad record never stops the rest."""
        report = ImportReport()
        for item in items:
            if isinstance(item, DataError):
                report.errors.append(item)
                continue
            try:
                outcome = self.upsert(item)
            except duckdb.Error as exc:
                report.errors.append(DataError(item.source, f"could not be stored: {exc}"))
                continue
            getattr(report, outcome).append(item.study.nct_id)
        return report

    # --- reading --------------------------------------------------------------------------
    def count(self) -> int:
        return self.con.execute("SELECT count(*) FROM studies").fetchone()[0]

    def get(self, nct_id: str) -> dict[str, Any] | None:
        df = self.con.execute("SELECT * FROM studies WHERE nct_id = ?", [nct_id.upper()]).df()
        return None if df.empty else df.iloc[0].to_dict()

    def raw(self, nct_id: str) -> dict[str, Any] | None:
        hit = self.con.execute("SELECT raw FROM studies WHERE nct_id = ?", [nct_id.upper()]).fetchone()
        return json.loads(hit[0]) if hit else None

    def versions(self, nct_id: str) -> pd.DataFrame:
        return self.con.execute(
            "SELECT nct_id, last_update, raw_sha256, source, imported_at FROM study_versions "
            "WHERE nct_id = ? ORDER BY last_update, imported_at", [nct_id.upper()]).df()

    def latest_update(self) -> _dt.date | None:
        return self.con.execute("SELECT max(last_update) FROM studies").fetchone()[0]


def _outcome(current: tuple[Any, str] | None, row: dict[str, Any]) -> str:
    if current is None:
        return "added"
    stored_date, stored_sha = current
    if stored_sha == row["raw_sha256"]:
        return "unchanged"
    new_date = row["last_update"]
    if stored_date is None or (new_date is not None and new_date >= stored_date):
        return "updated"
    return "older"


def import_paths(registry: Registry, paths: Iterable[str | os.PathLike]) -> ImportReport:
    """Import studies from files, directories and zips (see :mod:`cartwin.registry.sources`)."""
    from cartwin.registry.sources import read_path

    report = ImportReport()
    for path in paths:
        report.merge(registry.import_items(read_path(path)))
    return report
