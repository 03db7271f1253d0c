"""The HTML pages through TestClient: disclaimer everywhere, reading level, bad input shown not traced."""

import re

import pytest

from cartwin.web.explainer import DISCLAIMER

PAGES = ["/", "/journey", "/journey?product=allogeneic_car_t&course=rough", "/journey?product=car_nk&course=poor",
         "/trials", "/grade", "/registry", "/registry?target=CD19", "/registry/NCT02348216"]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_says_education_not_medical_advice(client, url):
    r = client.get(url)
    assert r.status_code == 200, r.text[:500]
    assert DISCLAIMER in r.text
    assert "not medical advice" in DISCLAIMER
    # no CDN or other host: every script and stylesheet is served by this app
    for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
        assert not src.startswith(("http:", "https:", "//")), src


def test_static_files_are_served_from_the_package(client):
    from importlib import resources

    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200
    assert js.content == (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    assert client.get("/static/app.js").status_code == 200
    for bad in ("../app.py", "..%2Fapp.py", "missing.js", "app.py"):
        assert client.get(f"/static/{bad}").status_code == 404


@pytest.mark.parametrize("product", ["autologous_car_t", "allogeneic_car_t", "car_nk"])
@pytest.mark.parametrize("course", ["typical", "rough", "poor"])
def test_explainer_reads_plainly(client, product, course):
    """Flesch reading ease >= 60 ('plain English') on the explanatory text (textstat)."""
    textstat = pytest.importorskip("textstat")
    from cartwin.web.explainer import explanatory_text

    body = client.get("/api/v1/journey", params={"product": product, "course": course}).json()
    text = explanatory_text(body)
    assert len(text.split()) > 300
    score = textstat.flesch_reading_ease(text)
    assert score >= 60, (score, text[:300])


def test_explainer_numbers_come_from_the_cohort(client):
    """The waiting-time sentence quotes the simulated cohort's median vein-to-vein time."""
    from cartwin.web import explainer

    body = client.get("/api/v1/journey", params={"product": "autologous_car_t", "disease": "lbcl"}).json()
    cohort = explainer.cohort(body["preset"], client.app.state.cartwin.settings.explainer_patients)
    pts = cohort.result.patients
    v2v = pts.loc[pts["infused"].astype(bool), "vein_to_vein_day"].median()
    manufacturing = next(s for s in body["steps"] if s["key"] == "manufacturing")
    assert f"about {v2v:.0f} days" in manufacturing["what"]
    assert body["infused"] == int(pts["infused"].sum())
    if body["patient_id"] is not None:
        assert body["patient_id"] in set(cohort.result.timecourses["patient_id"])
        assert len(body["figures"]) == 5


def test_explainer_courses_differ(client):
    picked = {c: client.get("/api/v1/journey", params={"course": c}).json()["patient_id"] for c in ("typical", "rough", "poor")}
    found = [p for p in picked.values() if p is not None]
    assert len(found) == len(set(found)), picked


def test_bad_page_input_is_shown_not_traced(client):
    r = client.get("/journey?course=wonderful")
    assert r.status_code == 422 and "course" in r.text and "Traceback" not in r.text
    r = client.get("/registry?phase=nine")
    assert r.status_code == 422 and "phase" in r.text
    r = client.get("/registry/../../etc/passwd")
    assert r.status_code in (404, 422) and "Traceback" not in r.text
    r = client.get("/registry/NCT00000000")
    assert r.status_code == 404 and "nct_id" in r.text


def test_registry_study_offers_a_virtual_trial(client):
    r = client.get("/registry/NCT02348216")
    assert 'id="run-virtual"' in r.text and "/trials?preset=zuma-1" in r.text
    r = client.get("/trials?preset=zuma-1&n=101")
    import html

    assert '"preset": "zuma-1"' in html.unescape(r.text)


def test_serve_command_is_registered():
    from typer.testing import CliRunner

    from cartwin.cli.main import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "127.0.0.1" in result.output
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2 and "--port" in result.output
