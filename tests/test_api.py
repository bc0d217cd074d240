"""POST /predict and GET /health, as an API client uses them.

The bad inputs are the J-rows of tests/bad_inputs.md, each with other
members of its kind: every one gets a 4xx problem+json naming what is wrong.
"""

import json
import math

import pandas as pd
import pytest

from conftest import DATASETS, PENGUIN, train_bundle
from formcast.bundle import load_bundle
from formcast.predictor import PredictionError, Predictor
from formcast.web import create_app


def post_raw(client, body: str | bytes, content_type="application/json"):
    return client.post("/predict", data=body, content_type=content_type)


def test_one_record_gets_a_species_with_probabilities(client):
    response = client.post("/predict", json=PENGUIN)

    assert response.status_code == 200
    result = response.get_json()
    assert result["prediction"] in ("Adelie", "Chinstrap", "Gentoo")
    assert set(result["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert math.isclose(sum(result["probabilities"].values()), 1.0)
    assert max(result["probabilities"], key=result["probabilities"].get) == result["prediction"]
    assert result["warnings"] == []


def test_a_list_gets_one_result_per_record_in_order(client):
    gentoo = {**PENGUIN, "island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.2,
              "flipper_length_mm": 220, "body_mass_g": 5300}
    response = client.post("/predict", json=[PENGUIN, gentoo, PENGUIN])

    assert response.status_code == 200
    predictions = [r["prediction"] for r in response.get_json()["predictions"]]
    assert predictions == ["Adelie", "Gentoo", "Adelie"]


def test_key_order_does_not_matter(client):  # J1
    reordered = dict(reversed(list(PENGUIN.items())))
    assert list(reordered) != list(PENGUIN)

    first = client.post("/predict", json=PENGUIN).get_json()
    second = client.post("/predict", json=reordered).get_json()

    assert first == second


def test_spaces_around_a_category_are_ignored_but_case_is_not(client):
    padded = client.post("/predict", json={**PENGUIN, "island": "  Torgersen\t"})
    other_case = client.post("/predict", json={**PENGUIN, "island": "TORGERSEN"})

    assert padded.get_json() == client.post("/predict", json=PENGUIN).get_json()
    assert other_case.status_code == 422
    assert "'Torgersen'" in other_case.get_json()["errors"][0]["expected"]  # the allowed values are listed


@pytest.mark.parametrize("field, words", [
    ("sex", "treats it as unknown"),              # a category: missing is a category of its own
    ("bill_length_mm", "median of the training data"),
])
def test_a_nullable_feature_may_be_null_and_the_result_says_how_it_was_filled(client, field, words):
    # These features had missing values in the training data, so null is allowed.
    response = client.post("/predict", json={**PENGUIN, field: None})

    assert response.status_code == 200
    [warning] = response.get_json()["warnings"]
    assert warning["field"] == field and words in warning["message"]


def test_a_value_outside_the_training_range_is_answered_and_flagged(client):
    response = client.post("/predict", json={**PENGUIN, "body_mass_g": 9000})

    assert response.status_code == 200
    [warning] = response.get_json()["warnings"]
    assert warning == {"field": "body_mass_g",
                       "message": "9000 is outside the training range (2700 to 6300): the model is extrapolating"}


def test_numbers_too_large_for_json_clients_are_refused_naming_each_field(bundles):
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundles["tips"])}).test_client()
    record = {**_first_record("tips"), "total_bill": 1.7e308, "size": -1e16}

    response = client.post("/predict", json=[_first_record("tips"), record])

    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "total_bill"), (1, "size")]
    assert all("must be within ±9.007e+15" in e["message"] for e in errors)


def test_the_predictor_still_refuses_what_it_cannot_answer_if_validation_were_bypassed(bundles):
    # A safety net under the validator: overflowing values give PredictionError, never NaN.
    predictor = Predictor(load_bundle(bundles["tips"]))
    valid = predictor.validator.validate([_first_record("tips")])[0][0]

    with pytest.raises(PredictionError) as raised:
        predictor.predict([valid, {**valid, "total_bill": 1.7e308, "size": -1.7e308}])

    assert raised.value.indices == [1]


def test_every_number_in_a_response_is_plain_json(client):  # J11
    text = client.post("/predict", json=[PENGUIN, PENGUIN]).get_data(as_text=True)
    # Strict parsing: NaN/Infinity would raise; every number parses to int or float.
    parsed = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in response"))
    for result in parsed["predictions"]:
        assert all(type(p) is float for p in result["probabilities"].values())


def test_integer_class_labels_come_back_as_json_numbers(bundles):
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundles["breast_cancer"])}).test_client()
    record = _first_record("breast_cancer")

    result = client.post("/predict", json=record).get_json()

    assert result["prediction"] in (0, 1) and type(result["prediction"]) is int
    assert set(result["probabilities"]) == {"0", "1"}


def test_a_regressor_returns_a_plain_number(bundles):
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundles["tips"])}).test_client()

    result = client.post("/predict", json=_first_record("tips")).get_json()

    assert type(result["prediction"]) is float and 0 < result["prediction"] < 20
    assert "probabilities" not in result


# Each row: a record (or how to change the valid one), the field the error must name,
# and words the message must contain. J2 to J7 of bad_inputs.md and their kin.
BAD_RECORDS = [
    ("J2 text for a number", {"bill_length_mm": "abc"}, "bill_length_mm", "must be a number"),
    ("J2 numeric text", {"bill_length_mm": "39.1"}, "bill_length_mm", "must be a number"),
    ("J2 list for a number", {"body_mass_g": [3750]}, "body_mass_g", "must be a number"),
    ("J4 true for a number", {"flipper_length_mm": True}, "flipper_length_mm", "must be a number"),
    ("J4 false for a number", {"year": False}, "year", "must be a number"),
    ("J5 unknown category", {"island": "Atlantis"}, "island", "not a known category"),
    ("J5 category in another case", {"island": "torgersen"}, "island", "not a known category"),
    ("J5 number for a category", {"island": 3}, "island", "not a known category"),
    ("J5 category with an inner space", {"island": "Torg ersen"}, "island", "not a known category"),
    ("J6 null where no value was ever missing", {"year": None}, "year", "must not be null"),
    ("J7 unknown field", {"colour": "blue"}, "colour", "not a feature of this model"),
    ("J7 a feature's name in another case", {"Year": 2007}, "Year", "not a feature of this model"),
    ("J3 a number no JSON client reads exactly", {"body_mass_g": 1e300}, "body_mass_g", "must be within"),
]


@pytest.mark.parametrize("case, change, field, words", BAD_RECORDS, ids=[row[0] for row in BAD_RECORDS])
def test_a_bad_value_is_a_422_naming_the_field(client, case, change, field, words):
    response = client.post("/predict", json={**PENGUIN, **change})

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    [error] = problem["errors"]
    assert error["field"] == field
    assert words in error["message"]


@pytest.mark.parametrize("field", list(PENGUIN))
def test_a_missing_field_is_named(client, field):  # J6
    record = {name: value for name, value in PENGUIN.items() if name != field}

    errors = client.post("/predict", json=record).get_json()["errors"]

    assert errors == [{"field": field, "message": "is required but missing", "expected": errors[0]["expected"]}]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused_and_never_echoed_as_json(client, literal):  # J3
    body = json.dumps(PENGUIN).replace("39.1", literal)

    response = post_raw(client, body)

    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert error["field"] == "bill_length_mm" and "finite" in error["message"]
    json.loads(response.get_data(as_text=True), parse_constant=lambda name: pytest.fail(name))


def test_every_problem_of_every_record_is_reported_with_its_index(client):
    batch = [PENGUIN, {**PENGUIN, "island": "Atlantis", "year": "2007"}, "not a record"]

    problem = client.post("/predict", json=batch).get_json()

    located = [(e.get("index"), e.get("field")) for e in problem["errors"]]
    assert located == [(1, "island"), (1, "year"), (2, None)]
    assert "must be a JSON object" in problem["errors"][2]["message"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_a_415_saying_what_to_send(client, content_type):  # J8
    response = post_raw(client, json.dumps(PENGUIN), content_type)

    assert response.status_code == 415
    assert "application/json" in response.get_json()["detail"]


@pytest.mark.parametrize("body, status", [
    ("[]", 400), ('"x"', 400), ("42", 400), ("null", 400), ("{bad json", 400), ("", 400),
    ("[1, 2]", 422), ("{}", 422),
])
def test_a_body_of_the_wrong_shape_says_what_a_valid_body_looks_like(client, body, status):  # J9
    response = post_raw(client, body)

    assert response.status_code == status
    problem = response.get_json()
    if status == 400:
        assert "send one record as a JSON object such as {" in problem["detail"]
    else:
        assert problem["errors"]


def test_a_body_over_the_size_limit_is_a_413(penguin_bundle):  # J10 (in-process; see test_server for gunicorn)
    client = create_app({"TESTING": True, "MODEL_DIR": str(penguin_bundle),
                         "MAX_CONTENT_LENGTH": 1000}).test_client()

    response = post_raw(client, json.dumps([PENGUIN] * 20))

    assert response.status_code == 413
    assert "limit of 1000 bytes" in response.get_json()["detail"]


def test_too_many_records_in_one_request_is_a_413(penguin_bundle):
    client = create_app({"TESTING": True, "MODEL_DIR": str(penguin_bundle), "MAX_RECORDS": 3}).test_client()

    response = client.post("/predict", json=[PENGUIN] * 4)

    assert response.status_code == 413
    assert "at most 3" in response.get_json()["detail"]


@pytest.mark.parametrize("method, path, status", [("GET", "/predict", 405), ("POST", "/nope", 404),
                                                  ("DELETE", "/health", 405)])
def test_api_clients_get_json_errors_with_the_right_status(client, method, path, status):  # J12
    response = client.open(path, method=method)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == status


def test_a_browser_gets_an_html_page_for_an_unknown_url(client):
    response = client.get("/nope", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_health_names_the_model(client):
    health = client.get("/health").get_json()

    assert health["status"] == "ok"
    model = health["model"]
    assert model["task"] == "classification" and model["target"] == "species"
    assert model["trained_at"] and set(model["metrics"]) == {"accuracy", "f1_macro"}


def _first_record(dataset: str) -> dict:
    """The first row of a dataset's CSV as a record, without its target."""
    csv, target = DATASETS[dataset]
    row = pd.read_csv(csv).drop(columns=[target]).iloc[0]
    return {name: (value.item() if hasattr(value, "item") else value) for name, value in row.items()}


def test_the_example_record_in_an_error_is_valid_json_whatever_the_names(tmp_path):
    csv = tmp_path / "odd.csv"
    csv.write_text('"say ""hi""",<b>a&b</b>,label\n' + "".join(f"{i % 9},{'xy'[i % 2]},{i % 2}\n" for i in range(40)))
    client = create_app({"TESTING": True, "MODEL_DIR": str(train_bundle(tmp_path / "m", csv, "label"))}).test_client()

    detail = post_raw(client, '"x"').get_json()["detail"]

    example = detail.split("such as ", 1)[1].split(", or a list", 1)[0]
    assert set(json.loads(example)) == {'say "hi"', "<b>a&b</b>"}
