"""The API's own description: ``GET /openapi.json`` for programs, ``GET /docs`` for people.

Both are generated from the bundle's schema on first use in each worker and
kept (the schema never changes while the process runs). The docs page is
rendered here from the same OpenAPI document, with no script and no CDN, so it
works offline and under a strict Content-Security-Policy.
"""

from __future__ import annotations

import json
import re
from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

from formcast.web.context import current_predictor
from formcast.web.openapi import ERROR_STATUSES, build_openapi

bp = Blueprint("docs", __name__)


@bp.app_template_filter("inline_code")
def inline_code(text: str) -> Markup:
    """The document's Markdown `code` spans as <code>, everything else escaped first."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


@bp.get("/openapi.json")
def openapi_document():
    return current_app.json.response(_document())


@bp.get("/docs")
def api_docs():
    predictor = current_predictor()
    document = _document()
    record = document["components"]["schemas"]["Record"]
    example = record["example"]
    return render_template(
        "docs.html",
        document=document,
        record=record,
        schema=predictor.schema,
        example_json=json.dumps(example, indent=2, ensure_ascii=False),
        example_result=json.dumps(_example_result(example), indent=2, ensure_ascii=False),
        error_statuses=ERROR_STATUSES,
        max_records=current_app.config["MAX_RECORDS"],
        max_body_bytes=current_app.config.get("MAX_CONTENT_LENGTH"),
    )


def _document() -> dict:
    def build():
        predictor = current_predictor()
        return build_openapi(predictor.schema, predictor.summary,
                             max_records=current_app.config["MAX_RECORDS"],
                             max_body_bytes=current_app.config.get("MAX_CONTENT_LENGTH"))
    return _kept("formcast.openapi", build)


def _example_result(example: dict) -> dict:
    """The real answer to the example record: the docs show what the model says, not a made-up one."""
    def build():
        predictor = current_predictor()
        records, problems = predictor.validator.validate([example])
        if problems:  # only if the schema contradicts itself: then show why
            return {"errors": [problem.to_dict() for problem in problems]}
        return predictor.predict(records)[0]
    return _kept("formcast.docs-example", build)


def _kept(key: str, build):
    """Build once per app and process, on first use: never in the gunicorn master before it forks."""
    if key not in current_app.extensions:
        current_app.extensions[key] = build()
    return current_app.extensions[key]
