"""Batch scoring in a real browser: upload a CSV, see the preview, download the predictions.

Chromium (Debian's, driven by Playwright) against a live gunicorn; screenshots go
to test-artifacts/. The fixtures are in tests/browser.py.
"""

import csv
import io
from pathlib import Path

import pytest

from browser import browser, page, penguin_server, screenshot  # noqa: F401  (fixtures)
from conftest import DATASETS, PENGUIN

pytestmark = pytest.mark.server

FEATURES = list(PENGUIN)


def birds_csv() -> bytes:
    """Three penguins with a ring number (an extra column), the second on an island the model never saw."""
    rows = [{**PENGUIN, "ring": "R-001"},
            {**PENGUIN, "island": "Atlantis", "ring": "R-002"},
            {**PENGUIN, "island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.2,
             "flipper_length_mm": 220, "body_mass_g": 5300, "sex": "NA", "ring": "R-003"}]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["ring", *FEATURES], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def choose_file(page, data: bytes, name: str = "birds.csv") -> None:
    page.get_by_label("CSV file").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})


def read_download(download) -> list[dict]:
    return list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))


def check_scored_birds(rows: list[dict]) -> None:
    assert [row["ring"] for row in rows] == ["R-001", "R-002", "R-003"]  # the extra column, passed through
    assert [row["prediction"] for row in rows] == ["Adelie", "", "Gentoo"]
    assert "island: is not a known category" in rows[1]["error"]
    assert rows[2]["sex"] == "NA" and "sex: missing" in rows[2]["warnings"]  # as typed, and filled in
    assert list(rows[0]) == ["ring", *FEATURES, "prediction", "probability_Adelie", "probability_Chinstrap",
                             "probability_Gentoo", "warnings", "error"]


def test_upload_a_csv_preview_it_and_download_the_predictions(penguin_server, page):
    page.goto(penguin_server.url + "/batch")
    screenshot(page, "batch-start")

    choose_file(page, birds_csv())
    page.get_by_role("button", name="Preview").click()

    assert page.locator("#batch-summary").inner_text() == "3 rows: 2 scored, 1 with an error."
    assert page.locator("#row-errors").inner_text().startswith('Row 2: island: is not a known category: got "Atlantis"')
    failed = page.locator("table.preview tr.failed")
    assert failed.count() == 1 and "not a known category" in failed.inner_text()
    screenshot(page, "batch-preview")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download birds-predictions.csv").click()
    assert downloading.value.suggested_filename == "birds-predictions.csv"
    check_scored_birds(read_download(downloading.value))


def test_score_and_download_in_one_step(penguin_server, page):
    page.goto(penguin_server.url + "/batch")
    choose_file(page, birds_csv())

    with page.expect_download() as downloading:
        page.get_by_role("button", name="Score and download").click()

    check_scored_birds(read_download(downloading.value))


def test_a_file_without_the_model_columns_is_refused_naming_them(penguin_server, page):
    page.goto(penguin_server.url + "/batch")
    choose_file(page, b"ring,island\nR-001,Dream\n", name="rings.csv")

    page.get_by_role("button", name="Preview").click()

    message = page.locator("#batch-error").inner_text()
    assert message.startswith("rings.csv: the file lacks the columns 'bill_length_mm'")
    screenshot(page, "batch-refused")


def test_on_a_phone_a_wide_preview_scrolls_in_its_box_not_the_page(penguin_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(penguin_server.url + "/batch")
        choose_file(page, DATASETS["penguins"][0].read_bytes(), name="penguins.csv")
        page.get_by_role("button", name="Preview").click()

        assert page.locator("#batch-summary").inner_text() == "344 rows: 344 scored."
        assert page.locator("table.preview tbody tr").count() == 10
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator(".table-scroll")
        assert box.evaluate("e => e.scrollWidth > e.clientWidth")  # the table scrolls inside its box
        screenshot(page, "batch-phone")
    finally:
        context.close()
