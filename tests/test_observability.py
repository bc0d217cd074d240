"""Observability: request ids, one JSON log line per request, probes, and metrics across gunicorn workers."""

import json
import re

import pytest

from conftest import PENGUIN, LiveServer
from test_server import post_json, request


def test_a_request_id_is_made_or_kept_and_returned(client):
    made = client.get("/health").headers["X-Request-ID"]
    kept = client.get("/health", headers={"X-Request-ID": "trace-42.a"}).headers["X-Request-ID"]
    hostile = client.get("/health", headers={"X-Request-ID": "<script> INJECTED"}).headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert kept == "trace-42.a"
    assert re.fullmatch(r"[0-9a-f]{32}", hostile)  # not echoed into logs or headers


def test_each_request_is_one_json_log_line_without_values_or_query(client, capsys):
    client.post("/predict?token=SECRET-QUERY", json={**PENGUIN, "island": "SECRET-ISLAND"},
                headers={"X-Request-ID": "req-1", "Authorization": "Bearer SECRET-KEY"})

    [line] = [line for line in capsys.readouterr().err.splitlines() if "req-1" in line]
    entry = json.loads(line)
    assert entry["request_id"] == "req-1"
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/predict", 422)
    assert entry["duration_ms"] > 0
    assert "SECRET" not in line


def test_liveness_and_readiness(client):
    assert client.get("/livez").get_json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "model": client.get("/health").get_json()["model"]["id"]}


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text, 0 if absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        sample_name, _, sample_labels = sample.partition("{")
        if sample_name == name and ",".join(sorted(sample_labels.rstrip("}").split(","))) == wanted:
            return float(value)
    return 0.0


def test_metrics_count_requests_predictions_and_validation_errors(client):
    client.post("/predict", json=[PENGUIN, PENGUIN])
    client.post("/predict", json={**PENGUIN, "island": "Atlantis", "colour": "blue"})
    client.post("/", data={**PENGUIN, "year": "soon"})

    text = client.get("/metrics").get_data(as_text=True)

    assert metric(text, "formcast_predictions_total", **{"class": "Adelie"}) >= 2
    assert metric(text, "formcast_validation_errors_total", field="island") >= 1
    assert metric(text, "formcast_validation_errors_total", field="(unknown field)") >= 1  # not "colour"
    assert metric(text, "formcast_validation_errors_total", field="year") >= 1
    assert metric(text, "formcast_http_requests_total", method="POST", path="/predict", status="200") >= 1
    assert "colour" not in text


@pytest.mark.server
def test_metrics_add_up_across_gunicorn_workers(penguin_bundle):
    server = LiveServer(penguin_bundle, {"WEB_CONCURRENCY": "3"})
    try:
        server.wait_until_ready()
        for _ in range(60):  # a new connection each time: gunicorn's workers share them out
            assert post_json(server.url + "/predict", PENGUIN)[0] == 200
        for _ in range(7):
            post_json(server.url + "/predict", {**PENGUIN, "year": "soon"})

        _, _, text = request(server.url + "/metrics")
    finally:
        output = server.output()

    assert metric(text, "formcast_http_requests_total", method="POST", path="/predict", status="200") == 60
    assert metric(text, "formcast_http_requests_total", method="POST", path="/predict", status="422") == 7
    assert metric(text, "formcast_predictions_total", **{"class": "Adelie"}) == 60
    assert metric(text, "formcast_validation_errors_total", field="year") == 7
    assert metric(text, "formcast_http_request_duration_seconds_count", path="/predict") == 67
    # One JSON line per request in the server's output, none from gunicorn's access log.
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    predicted = [entry for entry in logged if entry["path"] == "/predict"]
    assert len(predicted) == 67
    assert len({entry["pid"] for entry in predicted}) >= 2, "the requests reached more than one worker"
    # No feature value, valid or not, is in anything the server printed.
    assert "Torgersen" not in output and "soon" not in output
