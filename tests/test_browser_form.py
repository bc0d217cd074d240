"""The form in a real browser: Debian's chromium, driven by Playwright, against a live gunicorn.

The browser fixtures live in tests/browser.py, shared by every test_browser_*.py.
"""

import pytest

from browser import browser, page, screenshot  # noqa: F401  (fixtures)
from conftest import PENGUIN, LiveServer

pytestmark = pytest.mark.server


def test_fill_and_submit_the_form_and_read_the_prediction(live_server, page):
    page.goto(live_server.url + "/")
    screenshot(page, "form-empty")

    page.get_by_label("island").select_option(PENGUIN["island"])
    page.get_by_label("sex").select_option(PENGUIN["sex"])
    for name in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"):
        page.get_by_label(name, exact=True).fill(str(PENGUIN[name]))
    page.get_by_role("button", name="Predict").click()

    assert page.locator("#prediction").inner_text().strip() == "Adelie"
    assert page.locator("table.probabilities meter").count() == 3
    assert page.get_by_label("bill_length_mm", exact=True).input_value() == "39.1"  # kept after submit
    screenshot(page, "form-result")


def test_a_bad_value_shows_a_message_beside_its_field(live_server, page):
    page.goto(live_server.url + "/")

    page.get_by_label("year", exact=True).fill("")
    page.get_by_role("button", name="Predict").click()

    year = page.get_by_label("year", exact=True)
    assert year.get_attribute("aria-invalid") == "true"
    message = page.locator("#" + year.get_attribute("aria-describedby").split()[-1])
    assert "is required" in message.inner_text()
    screenshot(page, "form-error")


@pytest.mark.parametrize("dataset", ["tips", "breast_cancer"])
def test_another_model_gets_its_own_form_and_answers_it(bundles, page, dataset):
    server = LiveServer(bundles[dataset])
    try:
        server.wait_until_ready()
        page.goto(server.url + "/")

        page.get_by_role("button", name="Predict").click()  # the starting values are typical ones

        shown = page.locator("#prediction").inner_text().strip()
        assert shown in ("0", "1") if dataset == "breast_cancer" else float(shown) > 0  # a class stays a class
        screenshot(page, f"{dataset}-result")
    finally:
        server.stop()
