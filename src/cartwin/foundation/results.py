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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename:
    a reader (or a full disk, or a kill) sees the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` of ``text``."""
    return atomic_write_bytes(path, text.encode(encoding))


def check_writable(directory: str | os.PathLike, field: str = "out") -> Path:
    """Create ``directory`` if needed and prove a file can be written in it, before any work.

    Raises :class:`~cartwin.foundation.errors.ValidationError` naming ``field`` (e.g. ``--out``)."""
    from cartwin.foundation.errors import ValidationError

    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".cartwin-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValidationError(field, "a directory cartwin can write in", str(path), hint=exc.strerror or str(exc)) from None
    return path


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
