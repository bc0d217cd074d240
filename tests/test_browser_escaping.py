"""Strings from the training data are shown as text, never run, on every page, in a real browser.

A bundle is trained on the penguins with a column name, a category and a class
label that are each an HTML script with quotes. Each page is opened in
chromium: the strings must appear literally, no inline script may exist in the
page, and no dialog may open. (The Content-Security-Policy would block an inline
script anyway; the DOM check shows the escaping holds without relying on it.)
"""

import csv
import urllib.parse

import pytest

from browser import browser, page, screenshot  # noqa: F401  (fixtures)
from conftest import DATASETS, serving, train_bundle

pytestmark = pytest.mark.server

FIELD = """<script>alert("field")</script>'island"""
CATEGORY = """<script>alert('category')</script>"Torgersen"""
LABEL = """<img src=x onerror=alert(1)><script>alert(1)</script>"Adelie'"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    """gunicorn serving a model trained on data whose column name, category and label are scripts."""
    directory = tmp_path_factory.mktemp("hostile")
    source, target = DATASETS["penguins"]
    with source.open(newline="") as read, (directory / "hostile.csv").open("w", newline="") as write:
        rows = csv.DictReader(read)
        out = csv.DictWriter(write, [FIELD if name == "island" else name for name in rows.fieldnames])
        out.writeheader()
        for row in rows:
            island = row.pop("island")
            row[FIELD] = CATEGORY if island == "Torgersen" else island
            row[target] = LABEL if row[target] == "Adelie" else row[target]
            out.writerow(row)
    with serving(train_bundle(directory / "model", directory / "hostile.csv", target)) as server:
        yield server


@pytest.fixture
def watched(page):
    """The page, with every dialog it tries to open recorded (and dismissed)."""
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return page


def assert_shown_as_text_and_not_run(page, *strings):
    text = page.locator("body").inner_text()
    for string in strings:
        assert string in text, f"{string!r} is not shown as text on {page.url}"
    inline_scripts = page.evaluate("[...document.scripts].filter(s => !s.src).length")
    assert inline_scripts == 0
    assert page.locator("img[src=x]").count() == 0
    assert page.dialogs == []


def test_the_form_shows_the_field_and_category_as_text(hostile_server, watched):
    watched.goto(hostile_server.url + "/")

    assert_shown_as_text_and_not_run(watched, FIELD)
    field = watched.get_by_label(FIELD, exact=True)
    assert CATEGORY in field.locator("option").all_inner_texts()
    screenshot(watched, "escaping-form")


def test_the_result_shows_the_label_as_text(hostile_server, watched):
    watched.goto(hostile_server.url + "/")
    watched.get_by_label(FIELD, exact=True).select_option(CATEGORY)
    watched.get_by_role("button", name="Predict").click()

    assert_shown_as_text_and_not_run(watched, FIELD, LABEL)
    assert watched.locator("#prediction").inner_text().strip() == LABEL
    screenshot(watched, "escaping-result")


def test_the_form_with_errors_shows_them_as_text(hostile_server, watched):
    watched.goto(hostile_server.url + "/")
    watched.get_by_label("year", exact=True).fill("")
    watched.get_by_role("button", name="Predict").click()

    assert_shown_as_text_and_not_run(watched, FIELD, "is required")


def test_the_api_docs_show_them_as_text(hostile_server, watched):
    watched.goto(hostile_server.url + "/docs")

    assert_shown_as_text_and_not_run(watched, FIELD)
    assert repr(CATEGORY) in watched.locator("body").inner_text()  # in the field's valid values, quoted
    screenshot(watched, "escaping-docs")


def test_an_error_page_shows_a_scripted_path_as_text(hostile_server, watched):
    path = "/" + urllib.parse.quote(FIELD)

    watched.goto(hostile_server.url + path)

    assert_shown_as_text_and_not_run(watched, "404", FIELD)


def test_the_model_card_shows_them_as_text(hostile_server, watched):
    watched.goto(hostile_server.url + "/model")

    assert_shown_as_text_and_not_run(watched, FIELD, LABEL)  # importance by field; results per class
    screenshot(watched, "escaping-card")


def test_a_batch_preview_shows_them_as_text(hostile_server, watched):
    rows = [[FIELD, "sex", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"],
            [CATEGORY, "male", "39.1", "18.7", "181", "3750", "2007"],
            [CATEGORY, "male", "39.1", "18.7", "181", "3750", "<script>alert('year')</script>"]]
    data = "\n".join(",".join('"' + cell.replace('"', '""') + '"' for cell in row) for row in rows).encode()
    watched.goto(hostile_server.url + "/batch")
    watched.get_by_label("CSV file").set_input_files({"name": "hostile.csv", "mimeType": "text/csv", "buffer": data})

    watched.get_by_role("button", name="Preview").click()

    assert_shown_as_text_and_not_run(watched, CATEGORY, LABEL, "<script>alert('year')</script>")
    screenshot(watched, "escaping-batch")
