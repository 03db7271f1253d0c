"""Real-browser tests: Chromium (Debian's package) driven by Playwright against a live `cartwin serve`.

Screenshots of every page go to ``test-artifacts/web/`` (ignored by git). Skipped, with the
reason, where Chromium or the playwright package is missing (.ci/run installs Chromium).
"""

import socket
import threading
import time
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, chromium_browser
from tests.web.conftest import EXAMPLE_OBSERVATIONS

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
TRIAL_N = 200  # the 200-patient trial


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, registry_db):
    import uvicorn

    from cartwin.web import create_app
    from cartwin.web.settings import WebSettings

    settings = WebSettings(jobs_dir=tmp_path_factory.mktemp("browser-jobs"), registry_db=registry_db,
                           worker="process", max_patients=500, explainer_patients=40, port=_free_port())
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{settings.port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("request", lambda r: errors.append(f"external request {r.url}") if not r.url.startswith((server, "blob:", "data:")) else None)
        pg.errors = errors
        yield pg


def figures_drawn(page, selector):
    """Wait until every figure under ``selector`` has finished drawing."""
    page.wait_for_function(
        "s => { const f = document.querySelectorAll(s + ' .figure'); return f.length > 0 && "
        "[...f].every(e => e.dataset.drawn === 'true'); }", arg=selector, timeout=30_000)


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_explainer_switches_product_and_course(page, server):
    page.goto(f"{server}/journey")
    assert "not medical advice" in page.inner_text("#disclaimer")
    lead = page.locator("#journey-lead")
    assert lead.get_attribute("data-product") == "autologous_car_t"
    figures_drawn(page, "#journey-figures")
    shot(page, "journey-autologous-typical")
    page.click("label:has([data-testid=product-car_nk])")
    page.wait_for_url("**product=car_nk**", timeout=60_000)
    assert page.locator("#journey-lead").get_attribute("data-product") == "car_nk"
    assert "natural killer" in page.inner_text("#step-collection")
    page.click("label:has([data-testid=course-poor])")
    page.wait_for_url("**course=poor**", timeout=60_000)
    assert page.locator("#journey-lead").get_attribute("data-course") == "poor"
    figures_drawn(page, "#journey-figures")
    shot(page, "journey-car-nk-poor")
    page.click("label:has([data-testid=product-allogeneic_car_t])")
    page.wait_for_url("**product=allogeneic_car_t**", timeout=60_000)
    assert "healthy donor" in page.inner_text("#step-collection")
    assert page.errors == []


def test_trial_explorer_runs_a_200_patient_trial(page, server):
    page.goto(f"{server}/trials")
    assert "not medical advice" in page.inner_text("#disclaimer")
    page.select_option("#preset", "zuma-1")
    page.fill("#n", str(TRIAL_N))
    page.fill("#follow", "365")
    page.click("#run")
    page.wait_for_selector("#job:not([hidden])")
    seen = set()
    deadline = time.time() + 240
    while time.time() < deadline:
        state = page.get_attribute("#progress", "data-state")
        seen.add(float(page.get_attribute("#progress", "value") or 0))
        if state in ("done", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert state == "done", page.inner_text("#trial-error")
    assert float(page.get_attribute("#progress", "value")) == 1.0
    figures_drawn(page, "#trial-result")
    assert page.locator("#fig-km_pfs .scatterlayer .trace").count() >= 1, "KM curve drawn"
    assert page.locator("#comparison tbody tr").count() >= 1
    assert "200 virtual patients" in page.inner_text("#result-title")
    href = page.get_attribute("a.download[data-name='report.html']", "href")
    assert href.startswith("/api/v1/trials/jobs/")
    shot(page, "trials-zuma-1-200")
    # the URL names the job: a reload shows the same finished trial
    assert "job=" in page.url
    page.reload()
    figures_drawn(page, "#trial-result")
    assert "200 virtual patients" in page.inner_text("#result-title")
    assert page.errors == []


def test_bedside_grading_upload(page, server):
    page.goto(f"{server}/grade")
    page.set_input_files("#obs-file", str(EXAMPLE_OBSERVATIONS))
    page.click("#grade-button")
    page.wait_for_selector("#grade-result:not([hidden])", timeout=30_000)
    rows = page.locator("#grade-daily tbody tr")
    assert rows.count() > 5
    first_grade = rows.nth(0).locator("td").nth(2).inner_text()
    assert first_grade in {"0", "1", "2", "3", "4"}
    assert page.locator("#grade-summary tbody tr").count() == 3
    page.wait_for_selector("#grade-download:not([hidden])")
    shot(page, "grade-example")
    # a bad upload shows the field, not a trace
    bad = ARTIFACTS / "bad.csv"
    bad.write_text("patient_id,time_day,temperature_c\n1,0,hot\n")
    page.set_input_files("#obs-file", str(bad))
    page.click("#grade-button")
    page.wait_for_selector("#grade-error:not([hidden])")
    assert "temperature_c" in page.inner_text("#grade-error")
    assert page.errors == []


def test_registry_search_and_run_as_virtual_trial(page, server):
    page.goto(f"{server}/registry")
    page.fill("#q-target", "BCMA")
    page.click("#search")
    page.wait_for_selector("#studies tbody tr")
    assert "BCMA" in page.inner_text("#studies")
    assert page.locator("#studies tbody tr").count() >= 1
    figures_drawn(page, "main")
    shot(page, "registry-bcma")
    page.goto(f"{server}/registry/NCT02348216")
    shot(page, "study-zuma-1")
    page.click("#run-virtual")
    page.wait_for_url("**/trials?**")
    assert page.input_value("#preset") == "zuma-1"
    assert page.errors == []
