"""A small trial's report rendered by headless Chromium: the page is not blank and its figures
load (the report is self-contained: no network). Skipped when Chromium is absent."""

import contextlib
import subprocess

import numpy as np
import pytest

from tests.browser import CHROMIUM, chromium_browser


@contextlib.contextmanager
def _report_page(report_path):
    """A Chromium page (Playwright, the distribution's browser) showing ``report_path``."""
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(report_path.resolve().as_uri())
        yield page


def render(html_path, png_path, width=1100, height=4200) -> None:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
           f"--window-size={width},{height}", f"--screenshot={png_path}", html_path.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_small_trial_report_renders_to_a_non_blank_png(tmp_path):
    import matplotlib.image as mpimg

    from cartwin.trial.runner import run_trial

    result = run_trial("zuma-1", 30, 2, follow_up_days=400.0)
    paths = result.write(tmp_path / "trial")
    text = paths["report"].read_text()
    assert text.count("data:image/png;base64,") == 5
    assert "not assessed (lugano)" in text  # MRD in lymphoma
    assert "being built" not in text  # no developer note among the assumptions
    png = tmp_path / "report.png"
    render(paths["report"], png)
    image = mpimg.imread(png)
    assert image.shape[0] > 2000 and image.shape[1] >= 1000
    ink = (image[..., :3].mean(axis=2) < 0.9).mean()
    assert ink > 0.05, f"only {ink:.1%} of the page is not white"
    assert np.unique(image[..., :3].reshape(-1, 3)[::97], axis=0).shape[0] > 50  # figures, not only text


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_randomised_report_shows_toxicity_arm_by_arm(tmp_path):
    """The comparative report's "Toxicity by arm" table, as Chromium lays it out: a column per arm,
    the SoC arm's drawn adverse events, "not modelled" where an arm's model lacks an event."""
    from cartwin.trial.comparative import run_comparative
    from cartwin.trial.protocol import load_protocol, protocol_from_dict

    data = load_protocol("karmma-3").to_dict()
    data["arms"] = {"soc": {"kind": "standard-of-care", "regimen": "mm-pvd"}, "other": {"kind": "parametric", "median_months": 12.0}}
    data["randomisation"] = {"accrual_days": 365.0, "primary_endpoint": "pfs"}
    result = run_comparative(protocol_from_dict(data), n=400, seed=1, follow_up_days=365.0)
    paths = result.write(tmp_path / "trial")
    with _report_page(paths["report"]) as page:
        table = page.locator("h2:has-text('Toxicity by arm') + table")
        header = [t.strip() for t in table.locator("tr").first.locator("th").all_inner_texts()]
        rows = {r.locator("td").first.inner_text(): r.locator("td").all_inner_texts() for r in table.locator("tr").all()[1:]}
        box = table.bounding_box()
        page.screenshot(path=str(tmp_path / "toxicity.png"), full_page=True)
    assert header == ["endpoint", "definition", "soc", "other"]
    assert set(rows) == {"neutropenia_grade3plus", "infection_grade3plus", "thrombocytopenia_grade3plus",
                         "treatment_related_death", "death_without_progression"}
    n_soc = result.endpoints["arms"]["soc"]["n"]
    assert rows["neutropenia_grade3plus"][2].endswith(f"/{n_soc})") and rows["neutropenia_grade3plus"][3] == "not modelled"
    assert box is not None and box["width"] > 600 and box["height"] > 100  # laid out, not hidden


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_randomised_report_shows_the_car_t_arms_parameters_as_the_single_arm_report_does(tmp_path):
    """The comparative report's Parameters section, as Chromium lays it out: the calibration and a
    row per factor of endpoints.json's "parameters" (the single-arm report's section, reused)."""
    import json

    from cartwin.trial.comparative import run_comparative

    paths = run_comparative("transform", n=12, seed=2, follow_up_days=60.0).write(tmp_path / "trial")
    parameters = json.loads(paths["endpoints"].read_text())["parameters"]
    with _report_page(paths["report"]) as page:
        heading = page.locator("h2:has-text('Parameters')")
        headings = heading.all_inner_texts()
        calibration = page.locator("h2:has-text('Parameters') + p").inner_text()
        table = page.locator("table#factors")
        rows = [r.locator("td").all_inner_texts() for r in table.locator("tr").all()[1:]]
        box = table.bounding_box()
        heading.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "parameters.png"))
    assert headings == ["Parameters (CAR-T arm)"]
    assert calibration.startswith(f"Calibration: {parameters['calibration']}.")
    assert {k: float(v) for k, v in rows} == pytest.approx(parameters["factors"], rel=1e-3) and len(rows) >= 5
    assert box is not None and box["width"] > 200 and box["height"] > 100  # laid out, not hidden
