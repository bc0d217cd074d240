"""The baseline for bench/serving.py: a plain Flask app that echoes the JSON it is sent.

It does what any JSON endpoint must (read the body, decode it, encode an
answer) and nothing else, so its throughput under the same gunicorn settings
is the cost of HTTP itself on this machine. Run from the project's root:
``gunicorn bench.echo_app:app`` (it then reads the same gunicorn.conf.py).
"""

from flask import Flask, request

app = Flask(__name__)


@app.post("/predict")
def echo():
    return request.get_json()


@app.get("/health")
def health():
    return {"status": "ok"}
