"""The form in a real browser: Debian's chromium, driven by Playwright, against a live gunicorn.

The browser fixtures live in tests/browser.py, shared by every test_browser_*.py.
Each test saves screenshots to test-artifacts/ to be looked at.
"""

import pytest

from browser import browser, page, penguin_server, screenshot  # noqa: F401  (fixtures)
from conftest import PENGUIN, LiveServer

pytestmark = pytest.mark.server

# The penguin features as the form labels them: readable names, units in brackets.
LABELS = {"island": "island", "sex": "sex", "bill_length_mm": "bill length (mm)",
          "bill_depth_mm": "bill depth (mm)", "flipper_length_mm": "flipper length (mm)",
          "body_mass_g": "body mass (g)", "year": "year"}


def field(page, name):
    return page.get_by_label(LABELS[name], exact=True)


def test_fill_and_submit_the_form_and_read_the_prediction(penguin_server, page):
    page.goto(penguin_server.url + "/")
    screenshot(page, "form-start")

    field(page, "island").select_option(PENGUIN["island"])
    field(page, "sex").select_option(PENGUIN["sex"])
    for name in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"):
        field(page, name).fill(str(PENGUIN[name]))
    page.get_by_role("button", name="Predict").click()

    assert page.locator("#prediction").inner_text().strip() == "Adelie"
    bars = page.locator("table.probabilities meter")
    assert bars.count() == 3
    assert float(bars.first.get_attribute("value")) > 0.9  # Adelie's bar, nearly full
    assert field(page, "bill_length_mm").input_value() == "39.1"  # kept after submit
    screenshot(page, "form-result")


def test_a_bad_value_shows_a_message_beside_its_field(penguin_server, page):
    page.goto(penguin_server.url + "/")

    field(page, "year").fill("")
    page.get_by_role("button", name="Predict").click()

    year = field(page, "year")
    assert year.get_attribute("aria-invalid") == "true"
    message = page.locator("#" + year.get_attribute("aria-describedby").split()[-1])
    assert "is required" in message.inner_text()
    assert message.is_visible()
    screenshot(page, "form-error")


def test_a_value_outside_the_training_range_is_flagged_then_answered_with_a_warning(penguin_server, page):
    page.goto(penguin_server.url + "/")
    note = page.locator(".field:has(#field-4) .range-note")
    assert not note.is_visible()

    field(page, "body_mass_g").fill("9000")  # the heaviest penguin in training weighed 6300 g

    assert note.is_visible()  # the browser knows the range (max="6300") and the page says so
    page.get_by_role("button", name="Predict").click()
    assert page.locator("#prediction").is_visible()  # the server answers all the same
    assert "9000 is outside the training range" in page.locator("#warnings").inner_text()
    screenshot(page, "form-warning")


def test_reset_brings_back_the_typical_values(penguin_server, page):
    page.goto(penguin_server.url + "/")
    typical = field(page, "bill_length_mm").input_value()
    field(page, "bill_length_mm").fill("50")
    page.get_by_role("button", name="Predict").click()
    assert field(page, "bill_length_mm").input_value() == "50"

    page.get_by_role("link", name="Reset values").click()

    assert field(page, "bill_length_mm").input_value() == typical == "44.45"
    assert page.locator("#prediction").count() == 0


def test_the_form_works_from_the_keyboard(penguin_server, page):
    page.goto(penguin_server.url + "/")

    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.locator("#field-1").focus()
    page.keyboard.press("Control+a")
    page.keyboard.type("47.5")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in a field submits the form

    assert page.locator("#prediction").is_visible()
    assert field(page, "bill_length_mm").input_value() == "47.5"


def test_on_a_phone_the_form_fits_the_width(penguin_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(penguin_server.url + "/")
        page.get_by_role("button", name="Predict").click()

        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        box = field(page, "bill_length_mm").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        screenshot(page, "form-phone")
    finally:
        context.close()


@pytest.mark.parametrize("dataset", ["tips", "breast_cancer"])
def test_another_model_gets_its_own_form_and_answers_it(bundles, page, dataset):
    server = LiveServer(bundles[dataset])
    try:
        server.wait_until_ready()
        page.goto(server.url + "/")

        page.get_by_role("button", name="Predict").click()  # the starting values are typical ones

        shown = page.locator("#prediction").inner_text().strip()
        assert shown in ("0", "1") if dataset == "breast_cancer" else float(shown) > 0  # a class stays a class
        if dataset == "tips":
            assert "mean absolute error" in page.locator("#typical-error").inner_text()
        screenshot(page, f"{dataset}-result")
    finally:
        server.stop()
