import copy
import json

import pytest

from cartwin.registry import Registry, fixtures_dir, import_paths


@pytest.fixture(scope="session")
def fixture_records():
    return {p.stem: json.loads(p.read_text()) for p in sorted(fixtures_dir().glob("*.json"))}


@pytest.fixture
def record(fixture_records):
    """A deep copy of one fixture study to mutate."""
    return lambda nct="NCT02348216": copy.deepcopy(fixture_records[nct])


@pytest.fixture
def loaded_registry():
    with Registry(":memory:") as reg:
        import_paths(reg, [fixtures_dir()])
        yield reg


def minimal(nct="NCT99999999", **modules):
    """A v2 record with only the given protocolSection modules (for the classifier table)."""
    section = {"identificationModule": {"nctId": nct, "briefTitle": modules.pop("title", "A study")}}
    section.update(modules)
    return {"protocolSection": section}
