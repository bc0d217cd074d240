"""Security: headers on every response, the optional API key, no debug mode, no model writes.

In-process (Flask's test client) except where said; the escaping of training
data in a real browser is in test_browser_escaping.py.
"""

import hashlib
import io

import pytest

from conftest import PENGUIN
from formcast.web import create_app
from formcast.web.security import SECURITY_HEADERS

KEY = "s3cret-key-for-tests"


@pytest.fixture
def keyed_client(penguin_bundle):
    return create_app({"TESTING": True, "MODEL_DIR": str(penguin_bundle), "API_KEY": KEY}).test_client()


def assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{name} on {response.request.path} ({response.status_code})"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("get", "/", {}, 200),
    ("post", "/", {"data": {**PENGUIN}}, 200),
    ("post", "/", {"data": {**PENGUIN, "year": "soon"}}, 422),
    ("post", "/predict", {"json": PENGUIN}, 200),
    ("post", "/predict", {"json": {**PENGUIN, "island": "Atlantis"}}, 422),
    ("post", "/predict", {"data": "{", "content_type": "application/json"}, 400),
    ("post", "/predict", {"data": "x", "content_type": "text/plain"}, 415),
    ("get", "/predict", {}, 405),
    ("get", "/no/such/page", {"headers": {"Accept": "text/html"}}, 404),
    ("get", "/no/such/page", {}, 404),
    ("get", "/health", {}, 200),
    ("get", "/livez", {}, 200),
    ("get", "/readyz", {}, 200),
    ("get", "/metrics", {}, 200),
    ("get", "/docs", {}, 200),
    ("get", "/openapi.json", {}, 200),
    ("get", "/static/style.css", {}, 200),
    ("get", "/model", {}, 200),
    ("get", "/model/plots/nothing.png", {}, 404),
    ("get", "/batch", {}, 200),
    ("post", "/batch", {"data": {}, "headers": {"Accept": "text/html"}}, 400),
])
def test_every_response_carries_the_security_headers_errors_included(client, method, path, kwargs, status):
    response = getattr(client, method)(path, **kwargs)

    assert response.status_code == status
    assert_security_headers(response)


def test_a_500_carries_the_security_headers_too(penguin_bundle):
    app = create_app({"TESTING": False, "MODEL_DIR": str(penguin_bundle)})

    @app.get("/broken")
    def broken():
        raise RuntimeError("a bug")

    response = app.test_client().get("/broken")

    assert response.status_code == 500 and "a bug" not in response.get_data(as_text=True)
    assert_security_headers(response)


def test_without_a_configured_key_the_api_is_open(client):
    assert client.post("/predict", json=PENGUIN).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"},
                                     {"Authorization": f"Basic {KEY}"}])
@pytest.mark.parametrize("method, path", [("post", "/predict"), ("get", "/metadata"), ("get", "/metrics")])
def test_with_a_key_the_json_api_refuses_a_missing_or_wrong_one_with_a_401(keyed_client, headers, method, path):
    response = getattr(keyed_client, method)(path, json=PENGUIN if method == "post" else None, headers=headers)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="formcast"'
    assert "key" in response.get_json()["detail"]
    assert KEY not in response.get_data(as_text=True)
    assert_security_headers(response)


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}])
def test_with_a_key_the_right_one_is_accepted(keyed_client, headers):
    assert keyed_client.post("/predict", json=PENGUIN, headers=headers).status_code == 200
    assert keyed_client.get("/metadata", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/livez", "/readyz", "/docs", "/openapi.json"])
def test_with_a_key_the_probes_and_docs_stay_open(keyed_client, path):
    assert keyed_client.get(path).status_code == 200


def test_with_a_key_the_form_still_predicts_for_a_person(keyed_client):
    response = keyed_client.post("/", data=PENGUIN)

    assert response.status_code == 200
    assert 'id="prediction"' in response.get_data(as_text=True)


def test_a_key_of_digits_from_the_environment_works(penguin_bundle, monkeypatch):
    monkeypatch.setenv("FORMCAST_API_KEY", "12345")  # from_prefixed_env would read it as a number
    client = create_app({"TESTING": True, "MODEL_DIR": str(penguin_bundle)}).test_client()

    assert client.post("/predict", json=PENGUIN).status_code == 401
    assert client.post("/predict", json=PENGUIN, headers={"X-API-Key": "12345"}).status_code == 200


@pytest.mark.parametrize("variable", ["FLASK_DEBUG", "FORMCAST_DEBUG"])
def test_debug_mode_stays_off_outside_development(penguin_bundle, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")

    assert create_app({"MODEL_DIR": str(penguin_bundle)}).debug is False

    monkeypatch.setenv("FORMCAST_ENV", "development")
    assert create_app({"MODEL_DIR": str(penguin_bundle)}).debug  # a developer may turn it on


def bundle_digest(directory) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_no_route_writes_or_replaces_a_model(app):
    """Only the form, the batch page and /predict take a POST, and none touches files; nothing takes PUT, PATCH or DELETE."""
    writers = {(rule.rule, method) for rule in app.url_map.iter_rules()
               for method in rule.methods - {"GET", "HEAD", "OPTIONS"}}

    assert writers == {("/", "POST"), ("/batch", "POST"), ("/predict", "POST")}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/model", "/metadata", "/predict", "/", "/batch", "/upload", "/model/pipeline.joblib",
                                  "/model/plots/pipeline.joblib"])
def test_trying_to_upload_a_model_changes_nothing(app, penguin_bundle, method, path):
    before = bundle_digest(penguin_bundle)
    model_id = app.test_client().get("/health").get_json()["model"]["id"]
    upload = {"file": (io.BytesIO(b"\x80\x04cos\nsystem\n."), "pipeline.joblib"),
              "model": (io.BytesIO(b"{}"), "metadata.json")}

    response = getattr(app.test_client(), method)(path, data=upload, content_type="multipart/form-data")

    assert response.status_code in (400, 404, 405, 415, 422)
    assert bundle_digest(penguin_bundle) == before
    assert app.test_client().get("/health").get_json()["model"]["id"] == model_id
