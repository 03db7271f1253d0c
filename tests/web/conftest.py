"""Fixtures of the web tests: one app per session, a temporary job directory and registry."""

import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pydantic_settings")
pytest.importorskip("jinja2")
pytest.importorskip("multipart")

EXAMPLE_OBSERVATIONS = Path(__file__).resolve().parents[2] / "src" / "cartwin" / "clinic" / "data" / "example_observations.csv"


@pytest.fixture(scope="session")
def registry_db(tmp_path_factory):
    from cartwin.registry import Registry, fixtures_dir, import_paths

    path = tmp_path_factory.mktemp("registry") / "registry.duckdb"
    with Registry(path) as reg:
        import_paths(reg, [fixtures_dir()])
    return path


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory, registry_db):
    from cartwin.web.settings import WebSettings

    return WebSettings(jobs_dir=tmp_path_factory.mktemp("jobs"), registry_db=registry_db, worker="thread",
                       max_patients=300, max_follow_up_days=400.0, max_simulate_days=120.0, max_upload_bytes=200_000,
                       max_queued_jobs=3, explainer_patients=30)


@pytest.fixture(scope="session")
def client(web_settings):
    from fastapi.testclient import TestClient

    from cartwin.web import create_app

    with TestClient(create_app(web_settings)) as c:
        yield c


def wait_for(client, job_id, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.get(f"/api/v1/trials/jobs/{job_id}").json()
        if status["state"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {status}")


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}
