"""GET /openapi.json, GET /docs and GET /metadata: the contract, stated for programs and people.

The document is generated from the schema, so it must say exactly what the
validator enforces: hypothesis checks that the two agree on generated records,
and schemathesis checks a running server against the document.
"""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PENGUIN, LiveServer
from formcast.bundle import load_bundle
from formcast.validation import RecordValidator
from formcast.web import create_app
from test_properties import hostile_records

ST = Path(sys.executable).parent / "st"  # schemathesis' command, from the same venv
SCHEMATHESIS_CONFIG = Path(__file__).parent / "schemathesis.toml"


def openapi(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def component(document: dict, name: str):
    """A JSON Schema validator for one of the document's components, with its $refs resolvable."""
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def test_the_document_describes_each_feature_with_its_type_categories_and_nullability(client):
    document = openapi(client)

    assert document["openapi"].startswith("3.1")
    record = document["components"]["schemas"]["Record"]
    assert set(record["properties"]) == set(PENGUIN)             # every feature
    assert set(record["required"]) == set(PENGUIN) and record["additionalProperties"] is False
    assert record["properties"]["island"]["enum"] == ["Biscoe", "Dream", "Torgersen"]
    assert record["properties"]["sex"]["enum"] == ["female", "male", None]   # had missing values
    assert record["properties"]["bill_length_mm"]["type"] == ["number", "null"]
    assert record["properties"]["year"]["type"] == "number"                  # never missing
    assert record["properties"]["year"]["x-training-minimum"] == 2007
    assert record["example"] == {name: record["properties"][name]["example"] for name in PENGUIN}


def test_the_document_gives_every_error_status_the_problem_shape(client):
    document = openapi(client)

    responses = document["paths"]["/predict"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "413", "415", "422"}
    for status in ("400", "401", "413", "415", "422"):
        schema = responses[status]["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]["errors"]["items"]["properties"]) == {"index", "field", "message", "expected"}


def test_a_real_error_matches_the_problem_schema(client):
    problem_schema = component(openapi(client), "Problem")

    response = client.post("/predict", json=[PENGUIN, {**PENGUIN, "island": "Atlantis"}])

    assert problem_schema.is_valid(response.get_json())


@pytest.mark.parametrize("dataset", ["penguins", "tips", "breast_cancer"])
def test_the_example_record_is_valid_and_its_answer_matches_the_result_schema(bundles, dataset):
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundles[dataset])}).test_client()
    document = openapi(client)

    response = client.post("/predict", json=document["components"]["schemas"]["Record"]["example"])

    assert response.status_code == 200
    assert component(document, "Result").is_valid(response.get_json())


@pytest.fixture(scope="module")
def penguin_contract(bundles):
    """(the document's Record validator, the app's RecordValidator, the schema) for the penguin model."""
    schema = load_bundle(bundles["penguins"]).schema
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundles["penguins"])}).test_client()
    return component(openapi(client), "Record"), RecordValidator(schema), schema


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_document_and_the_validator_accept_exactly_the_same_records(penguin_contract, data):
    # The one documented difference: spaces around a category are ignored by the
    # validator (stated in the document's description), so compare stripped values.
    record_schema, validator, schema = penguin_contract
    record = data.draw(hostile_records(schema))

    unpadded = {name: value.strip() if isinstance(value, str) else value for name, value in record.items()}
    _, problems = validator.validate([record])

    assert record_schema.is_valid(unpadded) == (problems == [])


def test_the_docs_page_shows_every_field_a_real_example_and_the_errors(client):
    page = client.get("/docs", headers={"Accept": "text/html"}).get_data(as_text=True)

    for name in PENGUIN:
        assert f"<code>{name}</code>" in page
    assert "curl -s http://localhost/predict" in page
    assert "&#34;prediction&#34;: &#34;" in page            # the model's real answer to the example
    assert "application/problem+json" in page and "<code>422</code>" in page
    assert "<script" not in page and "https://" not in page   # no CDN, nothing to run


def test_metadata_gives_clients_the_schema_identity_and_metrics(client):
    metadata = client.get("/metadata").get_json()

    assert metadata["model"] == client.get("/health").get_json()["model"]
    assert {f["name"] for f in metadata["schema"]["features"]} == set(PENGUIN)
    assert set(metadata["metrics"]) == {"accuracy", "f1_macro"}
    assert metadata["versions"]["scikit-learn"]
    assert "model_file" not in metadata


@pytest.mark.server
@pytest.mark.parametrize("dataset", ["penguins", "breast_cancer"])
def test_schemathesis_finds_no_server_error_and_no_answer_that_breaks_the_document(bundles, dataset):
    # Every check schemathesis has, on a real gunicorn; bounded by the number of examples.
    server = LiveServer(bundles[dataset])
    try:
        server.wait_until_ready()
        run = subprocess.run(
            [str(ST), "--config-file", str(SCHEMATHESIS_CONFIG), "run", f"{server.url}/openapi.json",
             "--checks", "all", "--max-examples", "40", "--workers", "1", "--seed", "1", "--no-color"],
            capture_output=True, text=True, timeout=240)
    finally:
        server.stop()
    summary = run.stdout[-3000:]
    print(summary)
    assert run.returncode == 0, summary
    assert "No issues found" in summary
