"""Errors as clients can use them: problem+json for programs, a page for people.

Every API error is an RFC 9457 ``application/problem+json`` document::

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "2 problems in the records; see errors",
     "errors": [{"index": 0, "field": "x", "message": "...", "expected": "..."}]}

A browser (which asks for text/html) gets an HTML page instead, except on the
API's own paths. An unexpected exception is logged with its traceback and
answered with a 500 that shows none of it.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, current_app, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

PROBLEM_JSON = "application/problem+json"
API_PATHS = ("/predict", "/health", "/metadata", "/openapi.json", "/livez", "/readyz", "/metrics")


class ApiProblem(Exception):
    """An error answered as problem+json: a status, one sentence, and any per-field errors."""

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors


def init_app(app: Flask) -> None:
    """Register the handlers on the app, so every blueprint and unknown URL is covered."""
    app.register_error_handler(ApiProblem, _handle_problem)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)


def problem_response(status: int, detail: str, errors: list[dict] | None = None, headers=None):
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    response.headers.extend(headers or {})
    return response


def wants_json() -> bool:
    """True for API paths and for clients that do not prefer HTML (curl sends */*)."""
    if request.path in API_PATHS or request.is_json:
        return True
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html"


def _handle_problem(error: ApiProblem):
    return problem_response(error.status, error.detail, error.errors)


def _handle_http_exception(error: HTTPException):
    detail = _detail_for(error)
    if not wants_json():
        return render_template("error.html", status=error.code, title=error.name, detail=detail), error.code
    # Keep headers such as Allow (405); the body and its type are ours.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return problem_response(error.code, detail, headers=headers)


def _handle_unexpected(error: Exception):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    detail = "the server failed to answer this request; the error is in the server log"
    if not wants_json():
        return render_template("error.html", status=500, title="Internal Server Error", detail=detail), 500
    return problem_response(500, detail)


def _detail_for(error: HTTPException) -> str:
    if isinstance(error, RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return f"the body is larger than the limit of {limit} bytes; send fewer records per request"
    if error.code == 405:
        allowed = ", ".join(sorted(m for m in error.valid_methods or [] if m not in ("HEAD", "OPTIONS")))
        return f"{request.method} is not allowed on {request.path}; use {allowed}"
    if error.code == 404:
        return f"there is nothing at {request.path}; the API is described at /docs and /openapi.json"
    return error.description or error.name
