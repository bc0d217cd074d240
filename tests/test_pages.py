"""The HTML form: generated from the schema, predicting on submit, keeping what was typed.

The F-rows of tests/bad_inputs.md are here; the same form in a real
browser is for the browser tests.
"""

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
                                          "required": "required" in attrs}
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
    assert "sex: missing: the model treats it as unknown" in response.get_data(as_text=True)


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
