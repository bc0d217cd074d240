"""The app as a platform runs it: the Procfile's web command, a real gunicorn, loopback HTTP.

Every request here goes to 127.0.0.1 only.
"""

import json
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import DATASETS, PENGUIN, LiveServer, edit_metadata, procfile_web_command, train_bundle
from formcast.bundle import sha256_of

pytestmark = pytest.mark.server


def request(url: str, body: bytes | None = None, content_type: str | None = None, method: str | None = None):
    """One HTTP request; returns (status, content type, body text) for any status."""
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read().decode()


def post_json(url: str, payload) -> tuple[int, dict]:
    status, _, text = request(url, json.dumps(payload).encode(), "application/json")
    return status, json.loads(text)


def test_the_procfile_runs_gunicorn_on_app_app():
    assert procfile_web_command() == ["gunicorn", "app:app"]


def test_predict_over_http(live_server):
    status, result = post_json(live_server.url + "/predict", PENGUIN)

    assert status == 200
    assert result["prediction"] == "Adelie"
    assert set(result["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}


def test_the_form_over_http(live_server):
    form = urllib.parse.urlencode({name: str(value) for name, value in PENGUIN.items()}).encode()

    status, content_type, html = request(live_server.url + "/", form, "application/x-www-form-urlencoded")

    assert (status, content_type) == (200, "text/html")
    assert 'id="prediction">' in html and "Adelie" in html and "<meter" in html


def test_health_and_json_errors_over_http(live_server):
    status, _, text = request(live_server.url + "/health")
    assert status == 200 and json.loads(text)["model"]["target"] == "species"

    status, content_type, _ = request(live_server.url + "/predict")  # GET
    assert (status, content_type) == (405, "application/problem+json")


def test_a_50_mb_body_is_refused_quickly_and_the_server_stays_healthy(live_server):  # J10
    size = 50 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as connection:
        connection.sendall((f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {size}\r\n\r\n").encode() + b"[" * 65536)
        reply = connection.recv(65536).decode(errors="replace")

    assert reply.startswith("HTTP/1.1 413")
    assert "application/problem+json" in reply
    assert request(live_server.url + "/health")[0] == 200


def test_a_model_trained_on_another_csv_is_served_with_no_code_change(tmp_path):
    csv, target = DATASETS["tips"]
    server = LiveServer(train_bundle(tmp_path / "tips-model", csv, target))
    try:
        server.wait_until_ready()
        record = {"total_bill": 20.0, "sex": "Female", "smoker": "No", "day": "Sun", "time": "Dinner", "size": 2}

        status, result = post_json(server.url + "/predict", record)

        assert status == 200 and isinstance(result["prediction"], float)
        _, _, html = request(server.url + "/")
        assert 'name="total_bill"' in html and 'name="smoker"' in html
    finally:
        server.stop()


def corrupt_model_with_a_matching_checksum(directory) -> None:
    """Damage the model file and record the damaged file's checksum, so that only unpickling can tell.

    The bundle is made one the Pipeline serves (no fast path): a fast-path app never
    unpickles the Pipeline, so it has nothing to unpickle at start (README, Fast serving).
    """
    model = next(directory.glob("pipeline-*"))
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    edit_metadata(directory, lambda m: m.update(model_sha256=sha256_of(model),
                                                fast_path={"used": False, "reason": "served by the Pipeline"}))


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "metadata.json").unlink(), "no model bundle"),
    (lambda d: shutil.rmtree(d), "no model bundle"),
    (lambda d: (d / "metadata.json").write_text('{"format_version": 1, "sch'), "not valid JSON"),  # truncated
    (lambda d: (d / "metadata.json").write_text("[]"), "does not hold a JSON object"),
    (lambda d: edit_metadata(d, lambda m: m.pop("model_sha256")), "lacks model_sha256"),
    (lambda d: edit_metadata(d, lambda m: m["versions"].update({"scikit-learn": "1.0.2"})),
     "the model was trained with scikit-learn 1.0.2"),
    (lambda d: next(d.glob("pipeline-*")).write_bytes(b"not a model"), "does not match the sha256"),
    (corrupt_model_with_a_matching_checksum, "could not be loaded"),
], ids=["no metadata", "no bundle directory", "truncated metadata", "metadata not an object",
        "metadata without checksum", "another scikit-learn", "damaged model", "damaged model, matching checksum"])
def test_gunicorn_refuses_to_start_on_a_bad_bundle_with_one_line(penguin_bundle, tmp_path, damage, words):
    bundle = shutil.copytree(penguin_bundle, tmp_path / "model")
    damage(bundle)
    server = LiveServer(bundle)

    try:
        code = server.process.wait(timeout=60)
    finally:
        output = server.output()

    assert code != 0
    [line] = [text for text in output.splitlines() if "formcast: cannot start" in text]
    assert words in line
    assert "Traceback" not in output
