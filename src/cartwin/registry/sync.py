"""Page through the public ClinicalTrials.gov API v2 and import what it returns.

``GET https://clinicaltrials.gov/api/v2/studies`` with ``query.term``, ``filter.overallStatus``,
``filter.advanced=AREA[LastUpdatePostDate]RANGE[<since>,MAX]``, ``pageSize`` and ``pageToken``;
each response is ``{"studies": [...], "nextPageToken": "..."}`` and the last page has no token.

The network call is one injectable function (``fetch(url, params, timeout) -> dict``), so tests
replay recorded pages and never touch the network. Offline, the first call fails within the
timeout with :class:`OfflineError` and a hint to import a downloaded file instead.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cartwin._version import __version__
from cartwin.foundation.errors import CartwinError, DataError, ValidationError
from cartwin.registry.schema import OVERALL_STATUSES, date_floor
from cartwin.registry.sources import studies_in_document
from cartwin.registry.store import ImportReport, Registry

API_URL = "https://clinicaltrials.gov/api/v2/studies"
MAX_PAGE_SIZE = 1000  # the API's own limit

Fetch = Callable[[str, dict[str, str], float], Any]


class OfflineError(CartwinError):
    """ClinicalTrials.gov could not be reached (no network, DNS failure, timeout)."""


def urllib_fetch(url: str, params: dict[str, str], timeout: float) -> Any:
    """GET ``url?params`` and decode JSON; network failures become :class:`OfflineError`."""
    full = f"{url}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(full, headers={"Accept": "application/json",
                                                    "User-Agent": f"cartwin/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise DataError(url, f"the API answered HTTP {exc.code}: {detail or exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OfflineError(
            f"cannot reach clinicaltrials.gov ({reason}); `registry sync` needs the network. "
            "Offline, download the JSON (or the bulk zip) elsewhere and run `cartwin registry import FILE`."
        ) from None
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise DataError(url, f"the API returned bad JSON ({exc.msg})") from None


def build_params(query: str | None, since: str | None = None, statuses: Iterable[str] = (),
                 page_size: int = 100, page_token: str | None = None) -> dict[str, str]:
    """The v2 query parameters (validated), e.g. for ``query="CAR-T", since="2024-01-01"``."""
    params: dict[str, str] = {"format": "json", "pageSize": str(page_size)}
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError("page_size", f"an integer in [1, {MAX_PAGE_SIZE}]", page_size)
    if query:
        params["query.term"] = query
    wanted = [s.strip().upper() for s in statuses if s.strip()]
    bad = [s for s in wanted if s not in OVERALL_STATUSES]
    if bad:
        raise ValidationError("status", "one of " + ", ".join(OVERALL_STATUSES), bad[0])
    if wanted:
        params["filter.overallStatus"] = ",".join(wanted)
    if since:
        if date_floor(since) is None or len(since) != 10:
            raise ValidationError("since", "a date YYYY-MM-DD", since)
        params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
    if page_token:
        params["pageToken"] = page_token
    return params


@dataclass
class SyncReport:
    pages: int = 0
    next_page_token: str | None = None
    report: ImportReport = field(default_factory=ImportReport)


def sync(registry: Registry, query: str | None = "CAR-T", since: str | None = None,
         statuses: Iterable[str] = (), page_size: int = 100, max_pages: int | None = None,
         fetch: Fetch = urllib_fetch, timeout: float = 10.0, url: str = API_URL) -> SyncReport:
    """Fetch every page of the search and import it; stops at the last page or ``max_pages``.

    Each page is stored as it arrives, so an interrupted sync keeps what it fetched;
    ``next_page_token`` says where it stopped.
    """
    statuses = list(statuses)
    params = build_params(query, since, statuses, page_size)
    out = SyncReport()
    token: str | None = None
    while max_pages is None or out.pages < max_pages:
        page = fetch(url, {**params, **({"pageToken": token} if token else {})}, timeout)
        out.pages += 1
        source = f"api page {out.pages}"
        if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
            raise DataError(source, "field 'studies': missing; not a v2 /studies response")
        out.report.merge(registry.import_items(studies_in_document(page, source)))
        token = page.get("nextPageToken") or None
        out.next_page_token = token
        if token is None:
            break
    return out
