"""Tidy results with provenance, written to and read from Parquet.

A result is a :class:`pandas.DataFrame` in long form (one row per patient per time point, or
one row per patient), with units in its column names. Provenance (model, version, parameters,
seed, engine, tolerances) travels in ``DataFrame.attrs`` and in the Parquet file's metadata.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cartwin._version import __version__

_META_KEY = b"cartwin.provenance"


@dataclass(frozen=True)
class Provenance:
    """What produced a result, so a reader can reproduce it."""

    model: str
    model_version: str
    engine: str
    seed: int | None = None
    rtol: float | None = None
    atol: float | None = None
    parameters_sha256: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    cartwin_version: str = __version__
    created_utc: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra"] = dict(self.extra)
        return d


def parameters_digest(values: Mapping[str, Any]) -> str:
    """Stable SHA-256 of a parameter mapping (sorted JSON)."""
    blob = json.dumps(values, sort_keys=True, default=float).encode()
    return hashlib.sha256(blob).hexdigest()


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, provenance: Provenance | None = None) -> Path:
    """Write ``df`` to Parquet atomically (temp file then rename), with provenance metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    prov = provenance.to_dict() if provenance is not None else df.attrs.get("provenance")
    if prov is not None:
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps(prov, default=str).encode()
        table = table.replace_schema_metadata(meta)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """Read a cartwin Parquet file; provenance comes back in ``df.attrs['provenance']``."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    df = table.to_pandas()
    meta = table.schema.metadata or {}
    if _META_KEY in meta:
        df.attrs["provenance"] = json.loads(meta[_META_KEY])
    return df
