"""Property-based run over the OpenAPI schema (schemathesis): no request it generates gets a 5xx.

Bounded for CI: a small server (n <= 20, follow-up <= 60 days, 10-patient explainer), a few
dozen examples per operation, no shrinking past the first failure.
"""

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402


def _app(tmp_dir, registry_db):
    from cartwin.web import create_app
    from cartwin.web.settings import WebSettings

    return create_app(WebSettings(jobs_dir=tmp_dir, registry_db=registry_db, worker="thread", max_patients=20,
                                  max_follow_up_days=60.0, max_simulate_days=30.0, max_upload_bytes=50_000,
                                  max_queued_jobs=2, explainer_patients=10))


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory, registry_db):
    app = _app(tmp_path_factory.mktemp("fuzz-jobs"), registry_db)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _fuzz(operation, examples, seen, failures):
    """Run ``examples`` generated requests against one operation, recording status classes."""
    from schemathesis.checks import not_a_server_error

    label = operation.label

    @settings(max_examples=examples, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call()
        seen.setdefault(label, set()).add(response.status_code // 100)
        if response.status_code >= 500:
            failures.append((label, getattr(case, "body", None), response.status_code))
        case.validate_response(response, checks=[not_a_server_error])

    run()


def test_no_server_error_anywhere(fuzz_schema):
    failures, seen = [], {}
    operations = [op.ok() for op in fuzz_schema.get_all_operations()]
    for operation in operations:
        heavy = operation.path in ("/api/v1/simulate", "/api/v1/journey", "/api/v1/trials/jobs")
        _fuzz(operation, 8 if heavy else 25, seen, failures)
    assert failures == []
    # the run reached every operation and got both accepted and refused requests somewhere
    assert len(seen) == len(operations)
    codes = set().union(*seen.values())
    assert {2, 4} <= codes, seen
