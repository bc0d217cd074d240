"""Shared browser fixtures: Debian's chromium, driven by Playwright, for every test_browser_*.py.

scripts/test installs chromium where it is missing and can be installed; where it
cannot (no root, no apt), browser tests are skipped with that reason, except
under CI, where a missing browser fails the run. ``FORMCAST_BROWSER`` overrides the
browser's path. Screenshots go to
test-artifacts/ to be looked at.
"""

import os
import shutil
from pathlib import Path

import pytest

from conftest import PROJECT, serving

# FORMCAST_BROWSER names another Chromium-based browser: CI on GitHub's Ubuntu runner points it
# at the preinstalled Google Chrome (Ubuntu's chromium package is a snap wrapper).
CHROMIUM = os.environ.get("FORMCAST_BROWSER") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT / "test-artifacts"
# Flags this sandboxed machine needs: no GPU, no background calls to the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):  # CI must run every test, not skip the browser quietly
            pytest.fail(f"no browser at {CHROMIUM}: install chromium, or set FORMCAST_BROWSER to a Chromium-based browser")
        pytest.skip(f"no browser at {CHROMIUM} (scripts/test installs chromium with apt-get where it can)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def penguin_server(penguin_bundle):
    """One gunicorn serving the penguin bundle for every browser test that only reads it."""
    with serving(penguin_bundle) as server:
        yield server


def screenshot(page, name: str) -> None:
    """Save the whole page as test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
