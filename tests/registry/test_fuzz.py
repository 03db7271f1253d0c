"""Fuzzing the parser and the store: never a crash other than DataError, never a partial row."""

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwin.foundation.errors import DataError
from cartwin.registry import Registry, fixtures_dir
from cartwin.registry.sources import Loaded, read_bytes
from cartwin.registry.store import COLUMNS

BASE = json.loads((fixtures_dir() / "NCT02348216.json").read_text())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


ALL_PATHS = [p for p in paths(BASE) if p]


def mutate(record, path, value, delete):
    out = copy.deepcopy(record)
    node = out
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


def check_item_stored_whole_or_not_at(reg, item):
    before = reg.count()
    if isinstance(item, DataError):
        assert str(item)  # message names the source
        return
    assert isinstance(item, Loaded)
    reg.upsert(item)
    row = reg.get(item.study.nct_id)
    assert reg.count() in (before, before + 1)
    assert row is not None and set(COLUMNS) <= set(row)
    assert json.loads(row["raw"])["protocolSection"]["identificationModule"]["nctId"] == item.study.nct_id


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), json_values, st.booleans()), min_size=1, max_size=4))
def test_mutated_records_parse_or_fail_cleanly(mutations):
    record = BASE
    for path, value, delete in mutations:
        try:
            record = mutate(record, path, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    data = json.dumps(record).encode()
    with Registry(":memory:") as reg:
        for item in read_bytes(data, "fuzz.json"):
            check_item_stored_whole_or_not_at(reg, item)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_never_crash(data):
    for item in read_bytes(data, "noise.json"):
        assert isinstance(item, (Loaded, DataError))


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_arbitrary_json_documents_never_crash(document):
    for item in read_bytes(json.dumps(document).encode(), "doc.json"):
        if isinstance(item, DataError):
            assert "doc.json" in str(item)
