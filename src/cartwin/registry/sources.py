"""Read ClinicalTrials.gov v2 study records from files: one study, a directory, a zip, an API page.

Every record comes out as a :class:`Loaded` (a parsed :class:`Study` plus where it came from) or
a :class:`DataError` naming the file (``archive.zip:NCT0123/NCT01234567.json`` or
``page.json:studies[3]``) and the field. One bad file never stops the batch: the caller gets the
errors beside the good records.

Shapes recognised, by content rather than by file name:

* a study: a JSON object with ``protocolSection``;
* an API page: a JSON object with ``studies`` (a list of studies) and maybe ``nextPageToken``;
* a list of studies (what ``format=json`` downloads of a search give);
* a zip (the site's bulk download, ``AllAPIJSON.zip`` or a search's "Download JSON"), holding
  any of the above at any depth.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartwin.foundation.errors import DataError
from cartwin.registry.schema import Study, parse_study


@dataclass(frozen=True)
class Loaded:
    study: Study
    raw: dict[str, Any]
    source: str


Item = Loaded | DataError


def studies_in_document(document: Any, source: str) -> Iterator[Item]:
    """Split a decoded JSON document into studies (page, list or single study)."""
    if isinstance(document, dict) and "studies" in document and "protocolSection" not in document:
        entries = document["studies"]
        if not isinstance(entries, list):
            yield DataError(source, f"field 'studies': expected a list of studies, got {type(entries).__name__}")
            return
        yield from _each(entries, source, "studies")
    elif isinstance(document, list):
        yield from _each(document, source, "")
    else:
        yield _parse(document, source)


def _each(entries: list[Any], source: str, key: str) -> Iterator[Item]:
    for i, entry in enumerate(entries):
        yield _parse(entry, f"{source}:{key}[{i}]")


def _parse(document: Any, source: str) -> Item:
    try:
        return Loaded(parse_study(document, source), document, source)
    except DataError as exc:
        return exc


def _decode(data: bytes, source: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(source, f"bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise DataError(source, "bad JSON: nested too deeply") from None


def read_bytes(data: bytes, source: str) -> Iterator[Item]:
    """Studies in one JSON file's bytes."""
    try:
        document = _decode(data, source)
    except DataError as exc:
        yield exc
        return
    yield from studies_in_document(document, source)


#: Largest decompressed zip member read (a study record is ~50 KB; the bulk download's largest
#: ~2 MB). Larger members are refused, read in chunks so the cap holds whatever the header says
#: (a 300 KB zip can hold a 300 MB member).
MAX_MEMBER_BYTES = 64 * 1024 * 1024
#: Largest JSON file read outside an archive.
MAX_FILE_BYTES = 256 * 1024 * 1024


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError(f"{info.file_size:,} bytes decompressed, more than the {MAX_MEMBER_BYTES:,} bytes read")
    chunks, total = [], 0
    with archive.open(info) as fh:
        while block := fh.read(1 << 20):
            total += len(block)
            if total > MAX_MEMBER_BYTES:  # the header lied about the size
                raise ValueError(f"more than {MAX_MEMBER_BYTES:,} bytes decompressed")
            chunks.append(block)
    return b"".join(chunks)


def read_zip(path: Path) -> Iterator[Item]:
    """Studies in every ``*.json`` member of a zip; a truncated or corrupt zip is one error; a
    member larger than :data:`MAX_MEMBER_BYTES` decompressed is an error for that member."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        yield DataError(str(path), f"not a readable zip archive (truncated or corrupt: {exc})")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            member = f"{path}:{info.filename}"
            try:
                data = _read_member(archive, info)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
                yield DataError(member, f"cannot be read from the archive ({exc})")
                continue
            yield from read_bytes(data, member)


def read_path(path: str | Path) -> Iterator[Item]:
    """Studies in a file, a zip, or every ``*.json``/``*.zip`` under a directory (sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".zip"))
        if not files:
            yield DataError(str(path), "no .json or .zip files in this directory")
        for file in files:
            yield from read_path(file)
        return
    if not path.exists():
        yield DataError(str(path), "no such file or directory")
        return
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        yield from read_zip(path)
        return
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            yield DataError(str(path), f"{path.stat().st_size:,} bytes, more than the {MAX_FILE_BYTES:,} read from one file")
            return
        data = path.read_bytes()
    except OSError as exc:
        yield DataError(str(path), f"cannot be read: {exc.strerror or exc}")
        return
    yield from read_bytes(data, str(path))
