"""The JSON API: ``POST /predict``, ``GET /health`` and ``GET /metadata``.

A body is one record (a JSON object), answered with one result, or a list of
records, answered with ``{"predictions": [...]}`` in the same order. A CSV
file sent as ``text/csv`` is answered as ``text/csv``: the same table with
prediction columns added (see ``formcast.batch``). Every error is an
``application/problem+json`` document (see ``errors``).
"""

from __future__ import annotations

import json
from dataclasses import replace

from flask import Blueprint, Response, current_app, request

from formcast.batch import BatchError, score_csv
from formcast.predictor import PredictionError
from formcast.validation import Problem
from formcast.web.context import current_predictor
from formcast.web.errors import ApiProblem
from formcast.web.observability import count_predictions, count_problems

bp = Blueprint("api", __name__)

_JSON_TYPE_NAMES = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
JSON_HINT = ("send the records as JSON with the header Content-Type: application/json, "
             "or a CSV file with Content-Type: text/csv")


@bp.post("/predict")
def predict():
    """Predict for one record or a list of records."""
    predictor = current_predictor()
    if request.mimetype == "text/csv":
        return _predict_csv(predictor)
    body = _read_json_body()
    records, single = _as_records(body)
    clean, problems = predictor.validator.validate(records)
    if problems:
        count_problems(problems)
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise _unprocessable(f"{count} in the {'record' if single else 'records'}; see errors", problems, single)
    try:
        results = predictor.predict(clean)
    except PredictionError as error:
        problems = [Problem(None, "the model gave no usable answer for this record",
                            "values nearer the ranges seen in training", index) for index in error.indices]
        raise _unprocessable(str(error), problems, single) from None
    count_predictions(results)
    return results[0] if single else {"predictions": results}


@bp.get("/health")
def health():
    """Liveness and identity: the app is up and this is the model it serves."""
    return {"status": "ok", "model": current_predictor().summary}


@bp.get("/metadata")
def metadata():
    """The bundle's metadata for clients: schema, identity, metrics, training summary, versions.

    Everything train.py recorded is here except the model file's name, an
    internal detail; ``model`` is the same identity /health gives.
    """
    predictor = current_predictor()
    recorded = {key: value for key, value in predictor.bundle.metadata.items() if key != "model_file"}
    return {"model": predictor.summary, **recorded}


def _read_json_body():
    if not request.is_json:
        got = request.mimetype or "no Content-Type"
        raise ApiProblem(415, f"expected application/json or text/csv, got {got}: {JSON_HINT}")
    data = request.get_data(cache=False)  # 413 here if over MAX_CONTENT_LENGTH
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiProblem(400, f"the body is not valid JSON ({error}); {_body_hint()}") from None


def _predict_csv(predictor) -> Response:
    """A CSV in, the same CSV with prediction columns out; a bad row gets its error in a column."""
    data = request.get_data(cache=False)  # 413 here if over MAX_CONTENT_LENGTH
    try:
        scored = score_csv(data, predictor, max_rows=current_app.config["MAX_RECORDS"])
    except BatchError as error:
        raise ApiProblem(error.status, str(error)) from None
    return Response(scored.to_csv(), mimetype="text/csv")


def _as_records(body) -> tuple[list, bool]:
    """Return (records, single): a lone object is a batch of one."""
    if isinstance(body, dict):
        return [body], True
    if not isinstance(body, list):
        raise ApiProblem(400, f"the body is a JSON {_JSON_TYPE_NAMES[type(body)]}; {_body_hint()}")
    if not body:
        raise ApiProblem(400, f"the list of records is empty; {_body_hint()}")
    limit = current_app.config["MAX_RECORDS"]
    if len(body) > limit:
        raise ApiProblem(413, f"{len(body)} records in one request; at most {limit} are accepted, "
                              f"so send them in several requests")
    return body, False


def _body_hint() -> str:
    example = current_predictor().validator.example_text()
    return f"send one record as a JSON object such as {example}, or a list of such objects"


def _unprocessable(detail: str, problems: list[Problem], single: bool) -> ApiProblem:
    """A 422 listing every problem; a lone record's problems carry no index."""
    if single:
        problems = [replace(problem, index=None) for problem in problems]
    return ApiProblem(422, detail, errors=[problem.to_dict() for problem in problems])
