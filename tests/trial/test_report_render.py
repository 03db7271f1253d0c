"""A small trial's report rendered by headless Chromium: the page is not blank and its figures
load (the report is self-contained: no network). Skipped when Chromium is absent."""

import shutil
import subprocess

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


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
