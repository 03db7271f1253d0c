"""Chromium for the real-browser tests: the distribution's package, driven by Playwright."""

import contextlib
import os
import shutil

import pytest

#: The browser's executable: ``$CARTWIN_CHROMIUM``, else the distributions' package names; None if absent.
CHROMIUM = (os.environ.get("CARTWIN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))


@contextlib.contextmanager
def chromium_browser():
    """A launched headless Chromium (Playwright, ``CHROMIUM``); a skip, with why, where it cannot start."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        except Exception as exc:  # noqa: BLE001 - a browser that cannot start is a skip, with why
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {exc}")
        try:
            yield browser
        finally:
            browser.close()
