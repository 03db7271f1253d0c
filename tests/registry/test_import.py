"""Import: formats, per-file errors that name file and field, update-by-version, no loss."""

import json
import zipfile

import pytest

from cartwin.foundation.errors import DataError
from cartwin.registry import Registry, fixtures_dir, import_paths, parse_study
from cartwin.registry.sources import read_path


def write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_every_fixture_is_a_valid_constructed_v2_record(fixture_records):
    assert len(fixture_records) >= 15
    for nct, raw in fixture_records.items():
        study = parse_study(raw, f"{nct}.json")
        assert study.nct_id == nct
        assert raw["_cartwin"]["constructed"] is True
        section = raw["protocolSection"]
        for module in ("identificationModule", "statusModule", "designModule", "conditionsModule",
                       "armsInterventionsModule", "sponsorCollaboratorsModule", "contactsLocationsModule"):
            assert module in section, (nct, module)
        assert "derivedSection" in raw


def test_pivotal_public_facts(loaded_registry):
    # Public record facts (NCT, phase, sponsor) of the pivotal trials the fixtures stand for.
    expected = {
        "NCT02348216": ("ZUMA-1", ["PHASE1", "PHASE2"], "Kite"),
        "NCT02445248": ("JULIET", ["PHASE2"], "Novartis"),
        "NCT03361748": ("KarMMa", ["PHASE2"], "Celgene"),
        "NCT03548207": ("CARTITUDE-1", ["PHASE1", "PHASE2"], "Janssen"),
        "NCT03391466": ("ZUMA-7", ["PHASE3"], "Kite"),
    }
    for nct, (acronym, phases, sponsor) in expected.items():
        row = loaded_registry.get(nct)
        assert row["acronym"] == acronym and list(row["phases"]) == phases and sponsor in row["lead_sponsor"]


def test_single_file_directory_zip_and_page(tmp_path, record):
    single = write(tmp_path / "one.json", record("NCT02348216"))
    page = write(tmp_path / "page.json", {"studies": [record("NCT02445248"), record("NCT03361748")],
                                          "nextPageToken": "abc"})
    bulk = tmp_path / "AllAPIJSON.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        for nct in ("NCT03548207", "NCT03391466"):
            zf.writestr(f"NCT0354xxxx/{nct}.json", json.dumps(record(nct)))
        zf.writestr("README.txt", "not json; ignored")
    with Registry(tmp_path / "r.duckdb") as reg:
        report = import_paths(reg, [single, page, bulk])
        assert report.errors == [] and len(report.added) == 5 and reg.count() == 5
    with Registry(tmp_path / "r2.duckdb") as reg:
        report = import_paths(reg, [tmp_path])  # the directory holds all three
        assert reg.count() == 5 and report.errors == []


@pytest.mark.parametrize(
    "name, content, field_or_words",
    [
        ("bad.json", b'{"protocolSection": {', "bad JSON at line 1"),
        ("nonct.json", None, "protocolSection.identificationModule.nctId"),
        ("badphase.json", "phases", "protocolSection.designModule.phases"),
        ("badcount.json", "count", "protocolSection.designModule.enrollmentInfo.count"),
        ("badnct.json", "nctshape", "protocolSection.identificationModule.nctId"),
        ("notstudy.json", b'{"hello": 1}', "protocolSection"),
        ("array.json", b"[1]", "array.json:[0]"),
        ("latin1.json", "caf\xe9".encode("latin-1"), "not UTF-8"),
    ],
)
def test_malformed_file_named_with_field_and_others_still_import(tmp_path, record, name, content, field_or_words):
    good = write(tmp_path / "good.json", record())
    bad = tmp_path / name
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        raw = record("NCT02445248")
        if content is None:
            del raw["protocolSection"]["identificationModule"]["nctId"]
        elif content == "phases":
            raw["protocolSection"]["designModule"]["phases"] = "PHASE2"
        elif content == "count":
            raw["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "many"
        elif content == "nctshape":
            raw["protocolSection"]["identificationModule"]["nctId"] = "NCT123"
        write(bad, raw)
    with Registry(":memory:") as reg:
        report = import_paths(reg, [bad, good])
        assert len(report.errors) == 1 and reg.count() == 1
        message = str(report.errors[0])
        assert name in message and field_or_words in message


def test_truncated_zip_is_one_clear_error_and_the_rest_imports(tmp_path, record):
    bulk = tmp_path / "bulk.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        for nct in ("NCT03548207", "NCT03391466"):
            zf.writestr(f"{nct}.json", json.dumps(record(nct)))
    data = bulk.read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    write(tmp_path / "ok.json", record())
    with Registry(":memory:") as reg:
        report = import_paths(reg, [tmp_path / "cut.zip", tmp_path / "ok.json"])
        assert reg.count() == 1
        assert len(report.errors) == 1 and "cut.zip" in str(report.errors[0]) and "zip" in str(report.errors[0])


def test_bad_member_inside_zip_names_archive_and_member(tmp_path, record):
    bulk = tmp_path / "bulk.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        zf.writestr("a/NCT03548207.json", json.dumps(record("NCT03548207")))
        zf.writestr("a/NCT00000000.json", "{not json")
    items = list(read_path(bulk))
    errors = [i for i in items if isinstance(i, DataError)]
    assert len(items) == 2 and len(errors) == 1
    assert "bulk.zip:a/NCT00000000.json" in str(errors[0])


def test_bad_study_in_a_page_names_its_index(tmp_path, record):
    broken = record("NCT02445248")
    broken["protocolSection"]["statusModule"]["overallStatus"] = "OPEN"
    page = write(tmp_path / "page.json", {"studies": [record(), broken]})
    with Registry(":memory:") as reg:
        report = import_paths(reg, [page])
        assert reg.count() == 1
        assert "page.json:studies[1]" in str(report.errors[0])
        assert "statusModule.overallStatus" in str(report.errors[0])


def test_newer_version_updates_older_is_kept_as_history(tmp_path, record):
    old = record()
    new = record()
    new["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2025-01-31"
    new["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    db = tmp_path / "r.duckdb"
    with Registry(db) as reg:
        assert reg.import_items(read_path(write(tmp_path / "old.json", old))).added == ["NCT02348216"]
        assert reg.import_items(read_path(write(tmp_path / "new.json", new))).updated == ["NCT02348216"]
        assert reg.get("NCT02348216")["overall_status"] == "TERMINATED"
        # Re-importing the old file neither downgrades nor duplicates.
        report = reg.import_items(read_path(tmp_path / "old.json"))
        assert report.older == ["NCT02348216"]
        assert reg.get("NCT02348216")["overall_status"] == "TERMINATED"
        assert reg.import_items(read_path(tmp_path / "new.json")).unchanged == ["NCT02348216"]
        assert len(reg.versions("NCT02348216")) == 2
    with Registry(db, read_only=True) as reg:  # persisted, raw kept verbatim (marker included)
        assert reg.raw("NCT02348216")["_cartwin"]["constructed"] is True
        assert reg.count() == 1


def test_partial_dates_and_unknown_fields_are_accepted(record):
    raw = record()
    raw["protocolSection"]["statusModule"]["startDateStruct"] = {"date": "2015-04", "type": "ACTUAL"}
    raw["protocolSection"]["someFutureModule"] = {"x": 1}
    with Registry(":memory:") as reg:
        from cartwin.registry.sources import Loaded

        reg.upsert(Loaded(parse_study(raw, "x"), raw, "x"))
        assert reg.get("NCT02348216")["start_year"] == 2015
        assert reg.raw("NCT02348216")["protocolSection"]["someFutureModule"] == {"x": 1}


def test_missing_path_and_read_only_missing_db(tmp_path):
    items = list(read_path(tmp_path / "nope.json"))
    assert isinstance(items[0], DataError) and "nope.json" in str(items[0])
    with pytest.raises(DataError, match="registry import"):
        Registry(tmp_path / "none.duckdb", read_only=True)


def test_fixtures_dir_ships_with_package():
    assert (fixtures_dir() / "README.md").exists()
