"""The HTML form: generated from the schema, predicting on submit, keeping what was typed.

The F-rows of tests/bad_inputs.md are here; the same form in a real
browser is for the browser tests.
"""

import base64
import csv
import io
import re
from html.parser import HTMLParser

import pytest

from conftest import PENGUIN, train_bundle
from formcast.bundle import load_bundle
from formcast.web import create_app


class FormFields(HTMLParser):
    """Collect the form's controls: name -> (tag, type, value or selected option, options)."""

    def __init__(self, html: str):
        super().__init__()
        self.fields, self._select = {}, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = {"tag": "input", "type": attrs.get("type"), "value": attrs.get("value"),
                                          "required": "required" in attrs, "min": attrs.get("min"),
                                          "max": attrs.get("max"), "step": attrs.get("step")}
        elif tag == "select":
            self._select = attrs["name"]
            self.fields[self._select] = {"tag": "select", "options": [], "value": None,
                                         "required": "required" in attrs}
        elif tag == "option" and self._select:
            self.fields[self._select]["options"].append(attrs["value"])
            if "selected" in attrs:
                self.fields[self._select]["value"] = attrs["value"]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def as_form(record: dict) -> dict[str, str]:
    return {name: str(value) for name, value in record.items()}


def error_beside(html: str, field_index: int) -> str | None:
    match = re.search(rf'id="field-{field_index}-error">([^<]*)<', html)
    return match and match.group(1)


def test_the_form_has_a_control_per_feature_of_the_right_kind(client):
    fields = FormFields(client.get("/").get_data(as_text=True)).fields

    assert list(fields) == ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
                            "sex", "year"]
    assert fields["island"]["options"] == ["Biscoe", "Dream", "Torgersen"]
    assert fields["sex"]["options"] == ["", "female", "male"]  # nullable: "(unknown)" first
    assert fields["bill_length_mm"]["type"] == "number"
    assert fields["year"]["required"] and not fields["sex"]["required"]


def test_every_control_has_a_label_tied_to_it(client):
    html = client.get("/").get_data(as_text=True)

    ids = re.findall(r'<(?:input|select) id="([^"]+)"', html)
    labels = re.findall(r'<label for="([^"]+)"', html)
    assert ids and ids == labels


def test_submitting_shows_the_prediction_and_probabilities_and_keeps_the_values(client):
    response = client.post("/", data=as_form(PENGUIN))

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="prediction">\s*Adelie\s*<', html)
    assert html.count("<meter") == 3
    fields = FormFields(html).fields
    assert fields["bill_length_mm"]["value"] == "39.1" and fields["island"]["value"] == "Torgersen"


def test_an_empty_optional_field_is_filled_in_and_said_so(client):
    response = client.post("/", data=as_form({**PENGUIN, "sex": ""}))

    assert response.status_code == 200
    assert "<strong>sex</strong>: missing: the model treats it as unknown" in response.get_data(as_text=True)


@pytest.mark.parametrize("case, change, field_index, words", [
    ("F1 required number left empty", {"year": ""}, 6, "is required"),
    ("F2 decimal comma", {"bill_length_mm": "39,1"}, 1, "use a point as the decimal separator"),
    ("F2 text in a number", {"body_mass_g": "heavy"}, 4, "must be a number"),
    ("unknown category posted", {"island": "Atlantis"}, 0, "not a known category"),
    ("infinite number", {"flipper_length_mm": "inf"}, 3, "finite"),
])
def test_a_bad_field_gets_the_page_again_with_a_message_beside_it(client, case, change, field_index, words):
    submitted = {**as_form(PENGUIN), **change}

    response = client.post("/", data=submitted)

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert words in error_beside(html, field_index)
    fields = FormFields(html).fields
    # Every value is kept as typed; a select can only show one of its own options.
    showable = {n: v for n, v in submitted.items() if fields[n]["tag"] == "input" or v in fields[n]["options"]}
    assert {name: fields[name]["value"] for name in showable} == showable
    assert 'id="prediction"' not in html


def test_a_field_removed_from_the_form_is_named(client):  # F3
    submitted = as_form(PENGUIN)
    del submitted["body_mass_g"]

    response = client.post("/", data=submitted)

    assert response.status_code == 422
    assert "missing from the submitted form" in error_beside(response.get_data(as_text=True), 4)


@pytest.mark.parametrize("dataset", ["tips", "breast_cancer"])
def test_another_csv_gets_a_form_of_its_own(bundles, dataset):
    schema = load_bundle(bundles[dataset]).schema
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundles[dataset])}).test_client()

    html = client.get("/").get_data(as_text=True)

    assert list(FormFields(html).fields) == schema.feature_names
    assert f"Predict <span class=\"target\">{schema.target}</span>" in html
    # The form's starting values are valid: submitting it as shown gives a prediction.
    shown = {name: field["value"] or "" for name, field in FormFields(html).fields.items()}
    assert client.post("/", data=shown).status_code == 200


def test_names_and_categories_from_the_data_are_escaped(tmp_path):
    csv = tmp_path / "hostile.csv"
    rows = [f"{i % 7},{['<b>bold</b>', 'a&b'][i % 2]},{i % 2}" for i in range(40)]
    csv.write_text('"<i>size</i>",kind,label\n' + "\n".join(rows) + "\n")
    client = create_app({"TESTING": True, "MODEL_DIR": str(train_bundle(tmp_path / "m", csv, "label"))}).test_client()

    html = client.get("/").get_data(as_text=True)

    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<i>size</i>" not in html and "&lt;i&gt;size&lt;/i&gt;" in html


def test_a_boolean_feature_is_a_true_false_choice(tmp_path):
    csv = tmp_path / "flags.csv"
    csv.write_text("member,visits,bought\n" + "".join(
        f"{['true', 'false', ''][i % 3]},{i % 11},{['yes', 'no'][i % 2 if i % 3 else 0]}\n" for i in range(60)))
    client = create_app({"TESTING": True, "MODEL_DIR": str(train_bundle(tmp_path / "m", csv, "bought"))}).test_client()

    fields = FormFields(client.get("/").get_data(as_text=True)).fields

    assert fields["member"]["options"] == ["", "true", "false"]  # nullable: it had empty values
    assert client.post("/", data={"member": "false", "visits": "3"}).status_code == 200
    assert client.post("/predict", json={"member": True, "visits": 3}).status_code == 200
    assert client.post("/predict", json={"member": "yes", "visits": 3}).status_code == 422


def test_labels_are_readable_and_the_raw_name_and_training_range_are_beside_them(client):
    html = client.get("/").get_data(as_text=True)

    assert '<label for="field-1">bill length (mm)</label>' in html
    assert '<label for="field-4">body mass (g)</label>' in html
    assert '<label for="field-0">island</label>' in html  # already readable
    hint = re.search(r'id="field-1-hint">(.*?)</p>', html, re.S).group(1)
    assert '<code class="raw-name">bill_length_mm</code>' in hint and "32.1 to 59.6" in hint


def test_number_fields_carry_the_training_range_and_step_as_browser_hints(client):
    fields = FormFields(client.get("/").get_data(as_text=True)).fields

    assert (fields["bill_length_mm"]["min"], fields["bill_length_mm"]["max"]) == ("32.1", "59.6")
    assert fields["bill_length_mm"]["step"] == "any" and fields["year"]["step"] == "1"
    assert fields["bill_length_mm"]["value"] == "44.45"  # the median: a typical starting value
    assert fields["year"]["required"] and not fields["body_mass_g"]["required"]


@pytest.mark.parametrize("change, status, words", [
    ({"body_mass_g": "9000"}, 200, "is outside the training range"),  # above max: answered, with a warning
    ({"year": "2008.5"}, 200, ""),                                     # off the step: still a number
    ({"year": ""}, 422, "is required"),                                # required: the server says so too
])
def test_what_the_browser_would_flag_is_decided_by_the_server(client, change, status, words):
    response = client.post("/", data={**as_form(PENGUIN), **change})

    assert response.status_code == status
    assert words in response.get_data(as_text=True)


def test_a_reset_link_brings_back_the_typical_values(client):
    html = client.post("/", data=as_form(PENGUIN)).get_data(as_text=True)

    assert re.search(r'<a class="button secondary" href="/">Reset values</a>', html)


def test_a_regression_result_gives_the_typical_error_from_held_out_rows(bundles):
    metrics = load_bundle(bundles["tips"]).metadata["metrics"]
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundles["tips"])}).test_client()
    shown = {n: f["value"] or "" for n, f in FormFields(client.get("/").get_data(as_text=True)).fields.items()}

    html = client.post("/", data=shown).get_data(as_text=True)

    typical = re.search(r'id="typical-error">(.*?)</p>', html, re.S).group(1)
    assert f"± {metrics['mae']:.3f}" in typical and "root mean squared error" in typical


def test_the_navigation_links_every_page_and_marks_the_current_one(client):
    html = client.get("/batch").get_data(as_text=True)

    nav = re.search(r"<nav.*?</nav>", html, re.S).group(0)
    assert re.findall(r'<a href="([^"]+)"', nav) == ["/", "/batch", "/model", "/docs"]
    assert '<a href="/batch" aria-current="page">' in nav


def assert_fit_for_a_strict_csp(html: str) -> None:
    """No inline script, style or event handler, and nothing loaded from another host."""
    assert "<script" not in html and "<style" not in html
    assert not re.search(r"\s(style|on[a-z]+)=", html)
    assert "//" not in re.sub(r'href="data:[^"]*"', "", html)


@pytest.mark.parametrize("path", ["/", "/batch", "/nowhere"])
def test_pages_have_no_inline_script_style_or_handlers_for_a_strict_csp(client, path):
    assert_fit_for_a_strict_csp(client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True))


@pytest.mark.parametrize("change", [{"body_mass_g": "9000"}, {"year": ""}])  # a warning; an error
def test_form_results_are_fit_for_a_strict_csp_too(client, change):
    assert_fit_for_a_strict_csp(client.post("/", data={**as_form(PENGUIN), **change}).get_data(as_text=True))


def test_a_batch_preview_is_fit_for_a_strict_csp_too(client):
    response = upload(client, penguin_rows(PENGUIN, {**PENGUIN, "island": "Atlantis"}))
    assert_fit_for_a_strict_csp(response.get_data(as_text=True))


# The batch page: upload a CSV, see a preview, download the scored file.

def upload(client, data: bytes, action="preview", name="penguins.csv"):
    return client.post("/batch", data={"file": (io.BytesIO(data), name), "action": action},
                       content_type="multipart/form-data")


def penguin_rows(*records: dict) -> bytes:
    names = list(PENGUIN) + ["note"]
    lines = [",".join(names)] + [",".join(str(r.get(n, "")) for n in names) for r in records]
    return ("\n".join(lines) + "\n").encode()


def test_the_batch_page_states_the_columns_and_the_limits(client):
    html = client.get("/batch").get_data(as_text=True)

    assert 'enctype="multipart/form-data"' in html
    assert "At most 8 MiB and 10,000 rows" in html
    assert all(f"<code>{name}</code>" in html for name in PENGUIN)


def test_a_preview_shows_the_rows_and_links_the_whole_scored_file(client):
    data = penguin_rows({**PENGUIN, "note": "first"}, {**PENGUIN, "island": "Atlantis", "note": "bad"})

    response = upload(client, data)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 rows:\n    1 scored" in html and "1 with an error" in html
    href = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)" download="penguins-predictions.csv"', html)
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(href.group(1)).decode())))
    assert [(r["note"], r["prediction"]) for r in rows] == [("first", "Adelie"), ("bad", "")]
    assert "not a known category" in rows[1]["error"]
    assert '<tr class="failed">' in html


def test_score_and_download_answers_the_scored_file(client):
    response = upload(client, penguin_rows(PENGUIN), action="download", name="my birds.csv")

    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="my_birds-predictions.csv"'
    assert list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))[0]["prediction"] == "Adelie"


@pytest.mark.parametrize("data, status, words", [
    (b"island,year\nDream,2008\n", 422, "lacks the columns &#39;bill_length_mm&#39;"),
    (b"", 400, "no file was chosen"),  # an empty file name: nothing picked
])
def test_a_file_that_cannot_be_scored_gets_the_page_again_with_the_reason(client, data, status, words):
    response = upload(client, data, name="" if not data else "short.csv")

    assert response.status_code == status
    assert words in re.search(r'id="batch-error">(.*?)</div>', response.get_data(as_text=True), re.S).group(1)


def test_a_file_over_the_size_limit_is_refused_on_the_page(penguin_bundle):
    client = create_app({"TESTING": True, "MODEL_DIR": str(penguin_bundle), "MAX_CONTENT_LENGTH": 2048}).test_client()

    response = upload(client, penguin_rows(*[PENGUIN] * 50))

    assert response.status_code == 413
    assert "larger than the limit of 2 KiB" in response.get_data(as_text=True)
