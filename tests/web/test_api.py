"""The REST API: every route, good and bad input (clear 4xx naming the field, nothing written outside a job)."""

import io
import json

import pytest

from tests.web.conftest import EXAMPLE_OBSERVATIONS, wait_for

ROUTES = {
    ("GET", "/api/v1/presets"), ("GET", "/api/v1/parameters"), ("POST", "/api/v1/simulate"), ("GET", "/api/v1/journey"),
    ("POST", "/api/v1/trials/jobs"), ("GET", "/api/v1/trials/jobs/{job_id}"), ("DELETE", "/api/v1/trials/jobs/{job_id}"),
    ("POST", "/api/v1/trials/jobs/{job_id}/cancel"), ("GET", "/api/v1/trials/jobs/{job_id}/result"),
    ("GET", "/api/v1/trials/jobs/{job_id}/files/{name}"), ("POST", "/api/v1/grade"), ("GET", "/api/v1/registry/search"),
    ("GET", "/api/v1/registry/stats"), ("GET", "/api/v1/registry/studies/{nct_id}"),
}


def error_field(response):
    body = response.json()
    assert "Traceback" not in response.text
    return body["detail"][0]["field"], body["error"]


def test_openapi_lists_every_route_tested_here(client):
    paths = client.get("/openapi.json").json()["paths"]
    found = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert found == ROUTES


def test_presets_and_parameters_come_from_the_library_tables(client):
    from cartwin.model import CarTPatientModel
    from cartwin.model.presets import PRODUCTS
    from cartwin.trial.protocol import SCHEMA, list_protocols

    presets = client.get("/api/v1/presets").json()
    assert {p["key"] for p in presets["products"]} == set(PRODUCTS)
    assert {p["name"] for p in presets["protocols"]} == set(list_protocols())
    params = client.get("/api/v1/parameters").json()
    assert [p["name"] for p in params["model"]["parameters"]] == [q.name for q in CarTPatientModel.parameter_table]
    assert {r["field"] for r in params["protocol"]["dose"]} == {f"dose.{k}" for k in SCHEMA["dose"]}
    # the request schema carries the protocol table's bounds
    dose = params["requests"]["trial"]["properties"]["dose_value"]["anyOf"][0]
    assert dose["maximum"] == SCHEMA["dose"]["value"].constraint.high


def test_simulate_matches_the_library_call(client):
    from cartwin.clinic.policy import make_policy
    from cartwin.therapy import Covariates, Regimen, simulate_course

    r = client.post("/api/v1/simulate", json={"product": "tisa-cel", "indication": "lbcl", "days": 40, "seed": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"]["product"] == "tisa-cel"
    assert max(row["day"] for row in body["timecourse"]) == 40
    # same peak as calling the library directly on the same grids (a second implementation would drift)
    import numpy as np

    from cartwin.clinic.observe import ObservationSchedule

    saves = np.union1d(ObservationSchedule().days(40.0), np.arange(0.0, 41.0, 1.0))
    decisions = np.union1d(np.arange(-5.0, 28.0, 0.25), np.arange(0.0, 41.0, 1.0))
    direct = simulate_course(Regimen("tisa-cel", "lbcl"), Covariates(), days=40.0, seed=3, policy=make_policy("astct-consensus", 70.0),
                             save_days=saves, decision_days=decisions).summary()
    assert body["summary"]["cmax_copies_per_ug"] == pytest.approx(float(direct["cmax_copies_per_ug"].iloc[0]), rel=1e-12)


@pytest.mark.parametrize("body, field", [
    ({"days": "many"}, "days"),                         # wrong type
    ({"days": 10_000}, "days"),                         # beyond the server's limit
    ({"product": "no-such-cel"}, "product"),
    ({"weight_kg": -3}, "weight_kg"),
    ({"dose": "lots"}, "dose"),                         # library's parse_dose names it
    ({"product": "ide-cel", "indication": "lbcl"}, "indication"),  # library cross-check
    ({"colour": "blue"}, "colour"),                     # unknown key
    ({"policy": "lee-2014"}, "age_years"),              # the policy needs the age
    ({"policy": "lee-2014", "age_years": -1}, "age_years"),
])
def test_simulate_bad_input_names_the_field(client, body, field):
    r = client.post("/api/v1/simulate", json=body)
    assert r.status_code == 422
    assert error_field(r)[0] == field


def test_simulate_runs_the_lee2014_policy_with_an_age(client):
    r = client.post("/api/v1/simulate", json={"product": "axi-cel", "indication": "lbcl", "days": 30, "policy": "lee-2014",
                                              "age_years": 66})
    assert r.status_code == 200, r.text


def test_trial_job_runs_and_downloads(client, web_settings):
    r = client.post("/api/v1/trials/jobs", json={"preset": "zuma-1", "n": 40, "seed": 2, "follow_up_days": 120})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["total"] == 40 and job["protocol"] == "ZUMA-1"
    status = wait_for(client, job["job_id"])
    assert status["state"] == "done" and status["fraction"] == 1.0
    result = client.get(f"/api/v1/trials/jobs/{job['job_id']}/result").json()
    assert result["n"] == 40 and result["endpoints"]["itt"]["enrolled"]["estimate"] == 40
    assert set(result["figures"]) == {"km_pfs", "km_os", "swimmer", "kinetics", "toxicity"}
    assert result["figures"]["km_pfs"]["data"], "KM curve has traces"
    assert {row["endpoint"] for row in result["comparison"]} <= set(result["endpoints"]["infused"]) | set(result["endpoints"]["itt"])
    for name in ("patients.parquet", "patients.csv", "endpoints.json", "report.html"):
        f = client.get(f"/api/v1/trials/jobs/{job['job_id']}/files/{name}")
        assert f.status_code == 200 and len(f.content) > 100, name
    import pandas as pd

    df = pd.read_csv(io.StringIO(client.get(f"/api/v1/trials/jobs/{job['job_id']}/files/patients.csv").text))
    assert len(df) == 40
    assert json.loads(client.get(f"/api/v1/trials/jobs/{job['job_id']}/files/endpoints.json").text)["seed"] == 2


def test_trial_job_is_the_library_trial(client):
    """Same seed, n and follow-up: the job's endpoints equal run_trial's (no second implementation)."""
    from cartwin.trial.runner import run_trial

    r = client.post("/api/v1/trials/jobs", json={"preset": "juliet", "n": 30, "seed": 5, "follow_up_days": 90})
    wait_for(client, r.json()["job_id"])
    got = client.get(f"/api/v1/trials/jobs/{r.json()['job_id']}/result").json()["endpoints"]
    direct = run_trial("juliet", 30, 5, follow_up_days=90).endpoints
    for name in ("orr", "crs_any", "icans_any"):
        assert got["infused"][name]["estimate"] == pytest.approx(direct["infused"][name]["estimate"])


def test_trial_job_with_changes_and_uploaded_protocol(client):
    from importlib import resources

    text = (resources.files("cartwin.trial") / "protocols" / "zuma-1.toml").read_text()
    r = client.post("/api/v1/trials/jobs", json={"protocol_text": text, "n": 20, "follow_up_days": 60, "dose_value": 1e6,
                                                 "dose_per_kg": True, "policy": "early-steroids"})
    assert r.status_code == 202, r.text
    assert wait_for(client, r.json()["job_id"])["state"] == "done"


@pytest.mark.parametrize("body, status, field", [
    ({"preset": "zuma-1", "n": "two hundred"}, 422, "n"),
    ({"preset": "zuma-1", "n": 10_000}, 422, "n"),             # n too large (server limit)
    ({"preset": "zuma-1", "n": 0}, 422, "n"),
    ({"preset": "transcend"}, 422, "n"),                       # protocol's n_enrolled (344) beyond the limit
    ({"preset": "zuma-1", "n": 5, "follow_up_days": 5000}, 422, "follow_up_days"),
    ({"preset": "no-such-trial"}, 422, "preset"),
    ({}, 422, "preset"),                                        # neither preset nor protocol
    ({"preset": "zuma-1", "n": 5, "dose_value": -1}, 422, "dose_value"),
    ({"preset": "zuma-1", "n": 5, "product": "ide-cel"}, 422, "protocol.trial.indication"),
    ({"preset": "zuma-1", "n": 5, "policy": "pray"}, 422, "policy"),
    ({"preset": "zuma-1", "n": 5, "shell": "rm -rf /"}, 422, "shell"),
    ({"protocol_text": "[trial]\nname = 'x'\nnme = 3\n", "n": 5}, 422, "protocol.trial.nme"),   # unknown key
    ({"protocol_text": "[trail]\nname = 'x'\n", "n": 5}, 422, "protocol.trail"),              # unknown section
    ({"protocol_text": "not = [toml", "n": 5}, 422, "protocol file protocol.toml"),
    ({"protocol_text": "!!python/object/apply:os.system ['touch /tmp/cartwin-pwned']", "protocol_format": "yaml", "n": 5},
     422, "protocol file protocol.yaml"),                       # safe YAML: tags are not executed
])
def test_trial_job_bad_input_names_the_field(client, web_settings, body, status, field):
    before = set(web_settings.jobs_dir.iterdir())
    r = client.post("/api/v1/trials/jobs", json=body)
    assert r.status_code == status, r.text
    assert error_field(r)[0] == field
    assert set(web_settings.jobs_dir.iterdir()) == before, "a refused job leaves no directory"


def test_yaml_tags_are_never_executed(client, tmp_path):
    import os

    assert not os.path.exists("/tmp/cartwin-pwned")


def test_job_routes_refuse_bad_ids_and_names(client):
    assert client.get("/api/v1/trials/jobs/../../etc/passwd").status_code in (404, 422)
    r = client.get("/api/v1/trials/jobs/not-a-job")
    assert r.status_code == 422 and error_field(r)[0] == "job_id"
    r = client.get("/api/v1/trials/jobs/" + "0" * 32)
    assert r.status_code == 404 and "job_id" in r.json()["error"]
    r = client.post("/api/v1/trials/jobs", json={"preset": "zuma-1", "n": 10, "follow_up_days": 40})
    job = r.json()["job_id"]
    wait_for(client, job)
    for name in ("../../x", "..%2F..%2Fx", "request.json", "trace.log"):
        r = client.get(f"/api/v1/trials/jobs/{job}/files/{name}")
        assert r.status_code in (404, 422), name


def test_cancel_a_job_and_result_of_unfinished_job(client):
    r = client.post("/api/v1/trials/jobs", json={"preset": "zuma-1", "n": 300, "follow_up_days": 400})
    job = r.json()["job_id"]
    r = client.get(f"/api/v1/trials/jobs/{job}/result")
    assert r.status_code == 409 and "job_id" in r.json()["error"]
    assert client.delete(f"/api/v1/trials/jobs/{job}").status_code == 200
    assert wait_for(client, job)["state"] == "cancelled"
    assert client.post(f"/api/v1/trials/jobs/{job}/cancel").json()["state"] == "cancelled"


def test_queue_is_bounded(client, web_settings):
    ids = []
    try:
        for _ in range(web_settings.max_queued_jobs):
            r = client.post("/api/v1/trials/jobs", json={"preset": "zuma-1", "n": 300, "follow_up_days": 400})
            assert r.status_code == 202
            ids.append(r.json()["job_id"])
        r = client.post("/api/v1/trials/jobs", json={"preset": "zuma-1", "n": 300, "follow_up_days": 400})
        assert r.status_code == 429 and error_field(r)[0] == "jobs"
    finally:
        for job in ids:
            client.delete(f"/api/v1/trials/jobs/{job}")
        for job in ids:
            wait_for(client, job)


def test_grade_the_example_observations(client):
    from cartwin.clinic.grading import daily_grades, grade_frame, read_observations

    with open(EXAMPLE_OBSERVATIONS, "rb") as f:
        r = client.post("/api/v1/grade", files={"file": ("example_observations.csv", f, "text/csv")}, data={"scale": "astct"})
    assert r.status_code == 200, r.text
    body = r.json()
    obs, _ = read_observations(EXAMPLE_OBSERVATIONS)
    direct = daily_grades(grade_frame(obs, "astct"))
    assert [d["crs_grade"] for d in body["daily"]] == direct["crs_grade"].tolist()
    assert [d["crs_rule"] for d in body["daily"]] == direct["crs_rule"].tolist()
    assert body["alerts"] and {a["alert"] for a in body["alerts"]} <= {"fever", "new_confusion", "hypotension", "hypoxia"}
    with open(EXAMPLE_OBSERVATIONS, "rb") as f:
        csv = client.post("/api/v1/grade", files={"file": ("x.csv", f, "text/csv")}, data={"format": "csv", "scale": "penn"})
    assert csv.status_code == 200 and csv.text.startswith("patient_id,day,crs_grade")


@pytest.mark.parametrize("name, content, field", [
    ("notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00binary", "file"),           # non-CSV (binary)
    ("picture.png", b"patient_id,time_day\n1,0\n", "file"),              # not a .csv name
    ("obs.csv", b"", "file"),                                             # empty
    ("obs.csv", b"patient_id,time_day,temperature_c\n1,0,hot\n", "temperature_c"),
    ("../../x.csv", b"patient_id,time_day,temperature_c\n1,0,hot\n", "temperature_c"),  # path in the name is ignored
])
def test_grade_bad_uploads(client, web_settings, name, content, field):
    before = set(web_settings.jobs_dir.iterdir())
    r = client.post("/api/v1/grade", files={"file": (name, content, "text/csv")})
    assert r.status_code == 422, r.text
    got, message = error_field(r)
    assert got == field
    assert str(web_settings.jobs_dir) not in message, "no server path in the message"
    assert set(web_settings.jobs_dir.iterdir()) == before, "uploads are not kept"


def test_grade_bad_form_fields(client):
    with open(EXAMPLE_OBSERVATIONS, "rb") as f:
        r = client.post("/api/v1/grade", files={"file": ("o.csv", f, "text/csv")}, data={"scale": "who"})
    assert r.status_code == 422 and error_field(r)[0] == "scale"
    r = client.post("/api/v1/grade", data={"scale": "astct"})
    assert r.status_code == 422 and error_field(r)[0] == "file"


def test_a_50_mb_upload_is_refused_before_it_is_read(client, web_settings, tmp_path):
    big = b"patient_id,time_day\n" + b"1,0\n" * (50 * 1024 * 1024 // 4)
    before = set(web_settings.jobs_dir.iterdir())
    r = client.post("/api/v1/grade", files={"file": ("big.csv", big, "text/csv")})
    assert r.status_code == 413
    assert r.json()["detail"][0]["field"] == "body"
    r = client.post("/api/v1/trials/jobs", json={"protocol_text": "x" * (50 * 1024 * 1024), "n": 5})
    assert r.status_code == 413
    assert set(web_settings.jobs_dir.iterdir()) == before


def test_upload_just_over_the_setting_names_the_file(client, web_settings):
    content = b"patient_id,time_day\n" + b"1,0\n" * (web_settings.max_upload_bytes // 4 + 10)
    r = client.post("/api/v1/grade", files={"file": ("big.csv", content, "text/csv")})
    assert r.status_code in (413, 422)
    assert error_field(r)[0] in ("file", "body")


def test_registry_search_stats_and_study(client):
    from cartwin.registry import Registry, SearchFilter, search

    r = client.get("/api/v1/registry/search", params={"target": "BCMA", "phase": "2"})
    assert r.status_code == 200
    with Registry(client.app.state.cartwin.settings.registry_db, read_only=True) as reg:
        direct = search(reg, SearchFilter.create(target="BCMA", phase="2"))
    assert sorted(s["nct_id"] for s in r.json()["studies"]) == sorted(direct["nct_id"])
    stats = client.get("/api/v1/registry/stats").json()
    assert "target" in stats and stats["target"]
    study = client.get("/api/v1/registry/studies/NCT02348216").json()
    assert study["study"]["nct_id"] == "NCT02348216"
    assert "[trial]" in study["draft_toml"]
    assert study["virtual_trial"]["runnable"] and study["virtual_trial"]["params"]["preset"] == "zuma-1"


@pytest.mark.parametrize("params, field", [
    ({"phase": "seven"}, "phase"), ({"status": "SLEEPING"}, "status"), ({"target": "XYZ123"}, "target"),
    ({"since_year": "soon"}, "since_year"), ({"condition": "x" * 500}, "condition"),
])
def test_registry_bad_search(client, params, field):
    r = client.get("/api/v1/registry/search", params=params)
    assert r.status_code == 422
    assert error_field(r)[0] == field


def test_registry_bad_and_unknown_study(client):
    r = client.get("/api/v1/registry/studies/NCT123")
    assert r.status_code == 422 and error_field(r)[0] == "nct_id"
    r = client.get("/api/v1/registry/studies/NCT99999999")
    assert r.status_code == 404 and "nct_id" in r.json()["error"]


def test_journey_api_and_bad_choices(client):
    r = client.get("/api/v1/journey", params={"product": "car_nk", "course": "typical"})
    assert r.status_code == 200
    body = r.json()
    assert body["product_class"] == "car_nk" and len(body["steps"]) >= 8
    assert "not medical advice" in body["disclaimer"]
    for params, field in (({"product": "magic"}, "product"), ({"course": "great"}, "course"),
                          ({"disease": "flu"}, "disease")):
        r = client.get("/api/v1/journey", params=params)
        assert r.status_code == 422 and error_field(r)[0] == field


def test_no_stack_trace_on_internal_error(web_settings, monkeypatch):
    from fastapi.testclient import TestClient

    from cartwin.web import create_app, services

    def boom():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "presets", boom)
    with TestClient(create_app(web_settings), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/presets")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text


def test_binds_localhost_by_default(monkeypatch):
    from cartwin.web.settings import WebSettings

    for key in ("CARTWIN_WEB_HOST", "CARTWIN_WEB_MAX_PATIENTS"):
        monkeypatch.delenv(key, raising=False)
    assert WebSettings().host == "127.0.0.1"
    monkeypatch.setenv("CARTWIN_WEB_MAX_PATIENTS", "12")
    assert WebSettings().max_patients == 12


def test_process_worker_runs_and_cancels(web_settings, tmp_path):
    """The default worker: each job in a child process, progress read back, cancel stops the process."""
    from fastapi.testclient import TestClient

    from cartwin.web import create_app

    settings = web_settings.model_copy(update={"worker": "process", "jobs_dir": tmp_path})
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/v1/trials/jobs", json={"preset": "zuma-1", "n": 10, "follow_up_days": 40})
        status = wait_for(c, r.json()["job_id"], timeout=180)
        assert status["state"] == "done" and status["done"] == 10
        assert c.get(f"/api/v1/trials/jobs/{status['job_id']}/result").json()["n"] == 10
        r = c.post("/api/v1/trials/jobs", json={"preset": "zuma-1", "n": 300, "follow_up_days": 400})
        job = r.json()["job_id"]
        c.delete(f"/api/v1/trials/jobs/{job}")
        assert wait_for(c, job, timeout=60)["state"] == "cancelled"
    # every file the jobs wrote is inside their own directories
    assert all(p.parent == tmp_path for p in tmp_path.iterdir())
