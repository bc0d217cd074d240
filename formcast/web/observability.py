"""What the app tells its operators: request logs, Prometheus metrics, liveness and readiness.

- One JSON line per request on stderr: time, method, path (never the query
  string or the body: feature values stay out of the logs), status, duration in
  ms, the request id and the worker's pid. An incoming ``X-Request-ID`` is kept (if it is a sane
  token), otherwise one is made; either way it is returned in the response.
- ``GET /metrics``: Prometheus counters and a latency histogram. Under gunicorn
  each worker is its own process, so the numbers are kept in files under
  ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py sets it up) and summed over
  every worker on each scrape.
- ``GET /livez``: the process answers. ``GET /readyz``: this worker's model
  has answered a warm-up prediction (gunicorn's post_worker_init hook does it in
  each worker after the fork; otherwise the first readiness check does).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

from formcast.web.context import current_predictor
from formcast.web.errors import problem_response

bp = Blueprint("observability", __name__)

READY_KEY = "formcast.ready"
REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is echoed into logs and headers: only a plain token is kept.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNKNOWN_FIELD = "(unknown field)"  # bounds the label values a client can create
WHOLE_RECORD = "(record)"

REQUESTS = Counter("formcast_http_requests_total", "HTTP requests answered, by method, route and status.",
                   ["method", "path", "status"])
LATENCY = Histogram("formcast_http_request_duration_seconds", "Time to answer a request, by route.", ["path"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25))
PREDICTIONS = Counter("formcast_predictions_total",
                      "Records predicted, by predicted class (empty for a regression model).", ["class"])
VALIDATION_ERRORS = Counter("formcast_validation_errors_total",
                            "Problems found in submitted records, by field.", ["field"])

request_log = logging.getLogger("formcast.requests")


def init_app(app: Flask) -> None:
    """Register the probes and /metrics, and time, log and count every request."""
    if not request_log.handlers:  # one handler per process, however many apps it builds
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False
    # FORMCAST_REQUEST_LOG=false turns the request log off where the platform's router
    # logs each request already and every line costs (see the README's "Fast serving").
    app.config.setdefault("REQUEST_LOG", True)
    app.register_blueprint(bp)
    app.before_request(_start_request)
    app.after_request(_finish_request)


def count_predictions(results: list[dict]) -> None:
    """Count answered records by their predicted class (regression: one label, empty)."""
    classifier = current_predictor().is_classifier
    for result in results:
        PREDICTIONS.labels(str(result["prediction"]) if classifier else "").inc()


def count_problems(problems) -> None:
    """Count validation problems by field; a field the schema lacks is counted as one label."""
    known = set(current_predictor().schema.feature_names)
    for problem in problems:
        field = problem.field
        VALIDATION_ERRORS.labels(WHOLE_RECORD if field is None else field if field in known else UNKNOWN_FIELD).inc()


def warm_up(app: Flask) -> None:
    """Predict once for the schema's typical record, so this process's model is proven ready."""
    with app.app_context():
        predictor = current_predictor()
        record = {feature.name: feature.typical for feature in predictor.schema.features}
        clean, problems = predictor.validator.validate([record])
        if problems:
            raise RuntimeError(f"the warm-up record is not valid: {problems}")
        predictor.predict(clean)
        app.extensions[READY_KEY] = True


@bp.get("/livez")
def livez():
    """Liveness: the process answers requests (it does not touch the model)."""
    return {"status": "alive"}


@bp.get("/readyz")
def readyz():
    """Readiness: the model in this worker has answered a warm-up prediction."""
    if not current_app.extensions.get(READY_KEY):
        try:
            warm_up(current_app._get_current_object())
        except Exception:  # noqa: BLE001 -- not ready is the answer, with the reason in the log
            current_app.logger.exception("the warm-up prediction failed")
            return problem_response(503, "the model has not answered a warm-up prediction yet",
                                    headers={"Retry-After": "1"})
    return {"status": "ready", "model": current_predictor().summary["id"]}


@bp.get("/metrics")
def metrics():
    """Prometheus text format, summed over every gunicorn worker when run under gunicorn."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                     headers={"Cache-Control": "no-store"})


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test's capture, a redirected stream)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def _start_request():
    g.request_started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex


def _finish_request(response):
    started = g.get("request_started", time.perf_counter())
    seconds = time.perf_counter() - started
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    # The route, not the raw path: a scan of random URLs must not create endless series.
    route = request.url_rule.rule if request.url_rule else "(unmatched)"
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    LATENCY.labels(route).observe(seconds)
    if not current_app.config["REQUEST_LOG"]:
        return response
    request_log.info(json.dumps({
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 2),
        "pid": os.getpid(),  # which gunicorn worker answered
    }))
    return response
