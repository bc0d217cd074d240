"""Property-based tests: hypothesis generates records, valid and hostile, for each model.

Two promises, for every dataset: a valid record always gets a prediction, and
no body whatever (JSON of any shape, form text of any kind) gets a 500.
"""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATASETS
from formcast.bundle import load_bundle
from formcast.schema import BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC
from formcast.web import create_app

# Bounded: ~100 examples a property, a few seconds each; fixtures are shared, not rebuilt per example.
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any JSON value, nested a little: what a confused or hostile client might send.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def valid_value(feature):
    """Values the contract accepts for one feature: inside or far outside its training range."""
    if feature.kind == NUMERIC:
        value = st.floats(min_value=-1e12, max_value=1e12) | st.floats(feature.minimum, feature.maximum)
    elif feature.kind == BOOLEAN:
        value = st.booleans()
    else:
        padding = st.sampled_from(["", " ", "\t", "  "])
        value = st.builds(lambda left, category, right: left + category + right,
                          padding, st.sampled_from(feature.categories), padding)
    return value | st.none() if feature.nullable else value


def valid_records(schema):
    return st.fixed_dictionaries({feature.name: valid_value(feature) for feature in schema.features})


def hostile_records(schema):
    """A valid record with some fields replaced by any JSON value, dropped, or added."""
    names = schema.feature_names
    return st.tuples(valid_records(schema), st.dictionaries(st.sampled_from(names + ["extra", ""]), json_values),
                     st.sets(st.sampled_from(names))).map(
        lambda parts: {k: v for k, v in {**parts[0], **parts[1]}.items() if k not in parts[2]})


@pytest.fixture(scope="module", params=list(DATASETS))
def model(request, bundles):
    """(test client, schema) for each dataset's model."""
    app = create_app({"TESTING": True, "MODEL_DIR": str(bundles[request.param])})
    return app.test_client(), load_bundle(bundles[request.param]).schema


@EXAMPLES
@given(data=st.data())
def test_every_valid_record_gets_a_prediction(model, data):
    client, schema = model
    records = data.draw(st.lists(valid_records(schema), min_size=1, max_size=5))

    response = client.post("/predict", json=records)

    assert response.status_code == 200, response.get_json()
    for result in response.get_json()["predictions"]:
        if schema.task == CLASSIFICATION:
            assert result["prediction"] in schema.labels
            assert math.isclose(sum(result["probabilities"].values()), 1.0, abs_tol=1e-9)
        else:
            assert math.isfinite(result["prediction"])


@EXAMPLES
@given(data=st.data())
def test_no_json_body_gets_a_server_error(model, data):
    client, schema = model
    body = data.draw(hostile_records(schema) | st.lists(hostile_records(schema), max_size=3) | json_values)

    response = client.post("/predict", data=json.dumps(body), content_type="application/json")

    assert response.status_code in (200, 400, 413, 422)
    answer = json.loads(response.get_data(as_text=True), parse_constant=pytest.fail)  # strict JSON
    if response.status_code != 200:
        assert response.mimetype == "application/problem+json" and answer["detail"]
        for error in answer.get("errors", []):
            assert error["message"] and (error.get("field") is None or isinstance(error["field"], str))


@EXAMPLES
@given(data=st.data())
def test_no_form_submission_gets_a_server_error(model, data):
    client, schema = model
    form = data.draw(st.dictionaries(st.sampled_from(schema.feature_names + ["extra"]), st.text(max_size=30)))

    response = client.post("/", data=form, headers={"Accept": "text/html"})

    assert response.status_code in (200, 422)
    assert response.mimetype == "text/html"
    if response.status_code == 422:
        assert b'aria-invalid="true"' in response.data or b'role="alert"' in response.data
