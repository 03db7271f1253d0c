"""API sync with recorded (constructed) v2 pages; the network is never touched."""

import json
import time
from pathlib import Path

import pytest

from cartwin.foundation.errors import DataError, ValidationError
from cartwin.registry import Registry, fixtures_dir, import_paths
from cartwin.registry.sync import API_URL, OfflineError, build_params, sync, urllib_fetch

DATA = Path(__file__).parent / "data"


class Replay:
    """A fetch that answers from recorded pages by pageToken and records every request."""

    def __init__(self):
        self.pages = [json.loads((DATA / f"sync_page{i}.json").read_text()) for i in (1, 2, 3)]
        self.requests = []

    def __call__(self, url, params, timeout):
        self.requests.append(dict(params))
        index = {None: 0, "NF0g5JGCnvQ": 1, "NF0g5JKBm_Q": 2}[params.get("pageToken")]
        return self.pages[index]


def test_build_params_uses_v2_names():
    params = build_params("CAR-T", since="2024-01-01", statuses=["recruiting", "NOT_YET_RECRUITING"], page_size=50)
    assert params == {"format": "json", "pageSize": "50", "query.term": "CAR-T",
                      "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING",
                      "filter.advanced": "AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]"}


@pytest.mark.parametrize("kwargs, field", [({"since": "01/02/2024"}, "since"), ({"statuses": ["OPEN"]}, "status"),
                                           ({"page_size": 5000}, "page_size")])
def test_build_params_rejects_bad_options(kwargs, field):
    with pytest.raises(ValidationError) as info:
        build_params("CAR-T", **kwargs)
    assert info.value.field == field


def test_sync_pages_through_tokens_and_updates():
    replay = Replay()
    with Registry(":memory:") as reg:
        import_paths(reg, [fixtures_dir() / "NCT03373097.json"])
        result = sync(reg, query="CAR-T", since="2024-01-01", page_size=2, fetch=replay)
        assert result.pages == 3 and result.next_page_token is None
        assert [r.get("pageToken") for r in replay.requests] == [None, "NF0g5JGCnvQ", "NF0g5JKBm_Q"]
        assert all(r["query.term"] == "CAR-T" for r in replay.requests)
        assert result.report.updated == ["NCT03373097"] and len(result.report.added) == 4
        assert reg.get("NCT03373097")["overall_status"] == "ACTIVE_NOT_RECRUITING"
        assert len(reg.versions("NCT03373097")) == 2


def test_sync_max_pages_reports_where_it_stopped():
    with Registry(":memory:") as reg:
        result = sync(reg, fetch=Replay(), max_pages=1)
        assert result.pages == 1 and result.next_page_token == "NF0g5JGCnvQ" and reg.count() == 2


def test_sync_rejects_a_non_v2_response():
    with Registry(":memory:") as reg, pytest.raises(DataError, match="studies"):
        sync(reg, fetch=lambda url, params, timeout: {"error": "nope"})


def test_offline_fails_fast_with_a_clear_message(monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)  # never the real network
    start = time.monotonic()
    with Registry(":memory:") as reg, pytest.raises(OfflineError, match="registry import"):
        sync(reg, fetch=urllib_fetch)
    assert time.monotonic() - start < 2


def test_default_endpoint_is_v2_studies():
    assert API_URL == "https://clinicaltrials.gov/api/v2/studies"
