"""Fuzz: archives of random members (names, bytes, compression, truncation) give studies or
DataErrors naming the member, never an exception. Bounded for CI."""

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwin.foundation.errors import DataError
from cartwin.registry import fixtures_dir
from cartwin.registry.sources import Loaded, read_path

GOOD = (fixtures_dir() / "NCT02348216.json").read_bytes()
# Names without control characters: zipfile itself cannot write a member named "\x00.json".
names = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12)
members = st.lists(st.tuples(names.map(lambda s: s.replace("/", "_") + ".json"),
                             st.one_of(st.binary(max_size=300), st.just(GOOD), st.just(b"[]"), st.just(b'{"studies": 5}'),
                                       st.just(GOOD[: len(GOOD) // 2]))), max_size=6)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=members, deflate=st.booleans(), cut=st.one_of(st.none(), st.integers(0, 2000)))
def test_random_archives_give_studies_or_named_errors(tmp_path_factory, entries, deflate, cut):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(name, data)
    data = buf.getvalue()
    if cut is not None:
        data = data[: min(cut, len(data))]
    path = tmp_path_factory.mktemp("z") / "fuzz.zip"
    path.write_bytes(data)
    items = list(read_path(path))
    for item in items:
        assert isinstance(item, (Loaded, DataError))
        if isinstance(item, DataError):
            assert str(path) in str(item)
