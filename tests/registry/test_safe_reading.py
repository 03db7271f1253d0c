"""Archives and searches read safely: zip members capped in decompressed size, many errors
summarised, LIKE wildcards in a search matched literally."""

import io
import json
import zipfile

from typer.testing import CliRunner

from cartwin.foundation.errors import DataError
from cartwin.registry import SearchFilter, fixtures_dir, search, sources
from cartwin.registry.sources import read_zip


def test_a_zip_member_larger_than_the_cap_is_refused_without_decompressing_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1_000_000)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.json", b" " * 5_000_000)  # 5 MB of spaces: a few KB compressed
        z.write(fixtures_dir() / "NCT02348216.json", "ok.json")
    assert path.stat().st_size < 50_000
    items = list(read_zip(path))
    errors = [i for i in items if isinstance(i, DataError)]
    assert len(errors) == 1 and "big.json" in str(errors[0]) and "more than the 1,000,000 bytes read" in str(errors[0])
    assert len(items) == 2  # the good member still imports


def test_a_member_whose_header_lies_about_its_size_is_still_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 100_000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.json", b" " * 1_000_000)
    archive = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    info = archive.infolist()[0]
    info.file_size = 10  # what a crafted central directory could claim
    try:
        sources._read_member(archive, info)
    except (ValueError, zipfile.BadZipFile) as exc:
        assert "more than" in str(exc) or "CRC" in str(exc) or "Bad" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("read past the cap")


def test_many_bad_members_are_summarised(tmp_path):
    from cartwin.cli.main import app

    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(300):
            z.writestr(f"bad{i}.json", b"{not json")
    result = CliRunner().invoke(app, ["registry", "import", str(path), "--db", str(tmp_path / "r.duckdb")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 20
    assert "280 more errors (300 in all; most common: 300 x bad JSON at line 1" in result.output
    verbose = CliRunner().invoke(app, ["registry", "import", str(path), "--verbose", "--db", str(tmp_path / "s.duckdb")])
    assert len([line for line in verbose.output.splitlines() if line.startswith("error:")]) == 300


def test_like_wildcards_match_literally(loaded_registry):
    every = len(search(loaded_registry, SearchFilter.create()))
    assert every > 1
    for text in ("%", "_", "%%", "\\", "a%b_c"):
        for field in ("condition", "sponsor", "country"):
            hits = search(loaded_registry, SearchFilter.create(**{field: text}))
            assert len(hits) < every, (field, text)
    assert len(search(loaded_registry, SearchFilter.create(condition="lymphoma"))) > 0


def test_protocol_files_are_read_within_limits(tmp_path):
    import pytest

    from cartwin.foundation.errors import ValidationError
    from cartwin.trial.protocol import load_protocol

    cases = {
        "deep.toml": ("x = " + "[" * 600 + "]" * 600 + "\n").encode(),
        "deep.yaml": ("x: " + "[" * 600 + "]" * 600 + "\n").encode(),
        "latin1.toml": "[trial]\nname = \"Caf\xe9\"\n".encode("latin-1"),
        "laughs.yaml": (b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                        + b"".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n".encode()
                                   for p, c in zip("abcdefg", "bcdefgh", strict=True))),
        "huge.toml": b"# " + b"x" * 1_100_000 + b"\n",
    }
    expected = {"deep.toml": "nested", "deep.yaml": "nested", "latin1.toml": "UTF-8 text",
                "laughs.yaml": "values", "huge.toml": "bytes"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValidationError, match=f"protocol file {name}: expected .*{expected[name]}"):
            load_protocol(path)
    json.dumps({})
