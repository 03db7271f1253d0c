"""Questions asked of the registry: filtered study lists and counts of the CAR-T landscape.

Filters are validated before any SQL runs (one :class:`ValidationError` naming the option), and
values reach DuckDB only as bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cartwin.foundation.errors import ValidationError
from cartwin.registry.classify import CELL_SOURCES, CELL_THERAPY_TYPES, canonical_antigen
from cartwin.registry.schema import OVERALL_STATUSES
from cartwin.registry.store import Registry

SEARCH_COLUMNS = ("nct_id", "acronym", "brief_title", "phase", "overall_status", "lead_sponsor",
                  "cell_therapy", "cell_source", "target_label", "disease_groups", "conditions",
                  "enrollment", "start_year", "countries", "last_update")


@dataclass(frozen=True)
class SearchFilter:
    """A validated search; every field optional. Build with :meth:`create` to normalise."""

    condition: str | None = None
    phase: str | None = None
    status: str | None = None
    sponsor: str | None = None
    target: str | None = None
    country: str | None = None
    cell_therapy: str | None = None
    cell_source: str | None = None
    year_from: int | None = None

    @classmethod
    def create(cls, **options: object) -> SearchFilter:
        values = {k: v for k, v in options.items() if v is not None and v != ""}
        if "phase" in values:
            values["phase"] = _phase(str(values["phase"]))
        if "status" in values:
            status = str(values["status"]).strip().upper().replace(" ", "_").replace("-", "_")
            if status not in OVERALL_STATUSES:
                raise ValidationError("status", "one of " + ", ".join(OVERALL_STATUSES), values["status"])
            values["status"] = status
        if "target" in values:
            target = canonical_antigen(str(values["target"]))
            if target is None:
                raise ValidationError("target", "a known antigen such as CD19, BCMA, GPRC5D, claudin18.2",
                                      values["target"])
            values["target"] = target
        if "cell_therapy" in values:
            kinds = {k.lower(): k for k in CELL_THERAPY_TYPES}
            key = str(values["cell_therapy"]).lower()
            if key not in kinds:
                raise ValidationError("cell_therapy", "one of " + ", ".join(CELL_THERAPY_TYPES), values["cell_therapy"])
            values["cell_therapy"] = kinds[key]
        if "year_from" in values:
            year = values["year_from"]
            try:
                year = int(str(year).strip()) if not isinstance(year, bool) else None
            except ValueError:
                year = None
            if year is None or not 1900 <= year <= 2200:
                raise ValidationError("year_from", "a year between 1900 and 2200", values["year_from"])
            values["year_from"] = year
        if "cell_source" in values and values["cell_source"] not in CELL_SOURCES:
            raise ValidationError("cell_source", "one of " + ", ".join(CELL_SOURCES), values["cell_source"])
        return cls(**values)  # type: ignore[arg-type]


def _phase(text: str) -> str:
    key = text.strip().upper().replace(" ", "").replace("PHASE", "")
    table = {"1": "PHASE1", "2": "PHASE2", "3": "PHASE3", "4": "PHASE4", "EARLY1": "EARLY_PHASE1",
             "EARLY_1": "EARLY_PHASE1", "0": "EARLY_PHASE1", "NA": "NA"}
    if key not in table:
        raise ValidationError("phase", "1, 2, 3, 4, early1 or NA (PHASE2 also accepted)", text)
    return table[key]


def _contains(text: str) -> str:
    """An ILIKE pattern matching ``text`` as a literal substring: ``%``, ``_`` and ``\\`` in the
    user's text are escaped (``ESCAPE '\\'``), so "100%" does not match everything."""
    literal = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{literal}%"


def search(registry: Registry, flt: SearchFilter | None = None, all_columns: bool = False) -> pd.DataFrame:
    """Studies matching every given filter, newest start first. Text filters are substrings,
    case-insensitive; ``condition`` also matches the disease group (``MM``, ``LBCL``)."""
    flt = flt or SearchFilter()
    where: list[str] = []
    params: list[object] = []
    if flt.condition:
        where.append("(array_to_string(conditions, ' | ') ILIKE ? ESCAPE '\\' OR array_to_string(disease_groups, ' | ') ILIKE ? ESCAPE '\\'"
                     " OR brief_title ILIKE ? ESCAPE '\\')")
        params += [_contains(flt.condition)] * 3
    if flt.phase:
        where.append("list_contains(phases, ?)")
        params.append(flt.phase)
    if flt.status:
        where.append("overall_status = ?")
        params.append(flt.status)
    if flt.sponsor:
        where.append("(lead_sponsor ILIKE ? ESCAPE '\\' OR array_to_string(collaborators, ' | ') ILIKE ? ESCAPE '\\')")
        params += [_contains(flt.sponsor)] * 2
    if flt.target:
        where.append("list_contains(targets, ?)")
        params.append(flt.target)
    if flt.country:
        where.append("array_to_string(countries, ' | ') ILIKE ? ESCAPE '\\'")
        params.append(_contains(flt.country))
    if flt.cell_therapy:
        where.append("cell_therapy = ?")
        params.append(flt.cell_therapy)
    if flt.cell_source:
        where.append("cell_source = ?")
        params.append(flt.cell_source)
    if flt.year_from:
        where.append("start_year >= ?")
        params.append(flt.year_from)
    columns = "*" if all_columns else ", ".join(SEARCH_COLUMNS)
    sql = f"SELECT {columns} FROM studies"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY start_date DESC NULLS LAST, nct_id"
    return registry.con.execute(sql, params).df()


STAT_DIMENSIONS = ("target", "phase", "status", "year", "country", "cell_therapy", "disease")

_STAT_SQL = {
    "target": "SELECT unnest(CASE WHEN len(targets) = 0 THEN ['(none)'] ELSE targets END) AS value, count(*) AS studies FROM studies GROUP BY 1",
    "phase": "SELECT phase AS value, count(*) AS studies FROM studies GROUP BY 1",
    "status": "SELECT overall_status AS value, count(*) AS studies FROM studies GROUP BY 1",
    "year": "SELECT CAST(start_year AS VARCHAR) AS value, count(*) AS studies FROM studies GROUP BY 1",
    "country": "SELECT unnest(CASE WHEN len(countries) = 0 THEN ['(none listed)'] ELSE countries END) AS value, count(*) AS studies FROM studies GROUP BY 1",
    "cell_therapy": "SELECT cell_therapy AS value, count(*) AS studies FROM studies GROUP BY 1",
    "disease": "SELECT unnest(CASE WHEN len(disease_groups) = 0 THEN ['(unclassified)'] ELSE disease_groups END) AS value, count(*) AS studies FROM studies GROUP BY 1",
}


def stats(registry: Registry) -> pd.DataFrame:
    """Counts as one tidy table: ``dimension, value, studies``. A study with two targets or
    countries counts once under each, so a dimension's counts may sum to more than the studies."""
    frames = []
    for dim in STAT_DIMENSIONS:
        df = registry.con.execute(_STAT_SQL[dim]).df()
        df["value"] = df["value"].fillna("(unknown)").astype(str)
        df.insert(0, "dimension", dim)
        if dim == "year":
            df = df.sort_values("value")
        else:
            df = df.sort_values(["studies", "value"], ascending=[False, True])
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["studies"] = out["studies"].astype("int64")
    return out


def stats_figure(table: pd.DataFrame, path: str | Path, top: int = 12) -> Path:
    """Bar charts of :func:`stats` (targets, phases, statuses, start years, countries) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # file output only; never needs a display
    import matplotlib.pyplot as plt

    dims = ("target", "phase", "status", "year", "country", "disease")
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), constrained_layout=True)
    for ax, dim in zip(axes.flat, dims, strict=True):
        part = table[table["dimension"] == dim]
        if dim != "year":
            part = part.nlargest(top, "studies").iloc[::-1]
            ax.barh(part["value"], part["studies"], color="#3b6ea8")
            ax.set_xlabel("studies")
        else:
            ax.bar(part["value"], part["studies"], color="#3b6ea8")
            ax.set_ylabel("studies")
            ax.tick_params(axis="x", rotation=60)
        ax.set_title(f"by {dim}" if dim != "year" else "by start year")
    n = int(table[table["dimension"] == "phase"]["studies"].sum())
    fig.suptitle(f"Cell-therapy trial landscape ({n} studies in the registry)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

