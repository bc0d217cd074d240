"""The pages for people, generated from the schema.

- ``GET /`` shows the form, ``POST /`` predicts for it. The server is the
  authority on what is valid; an invalid submission gets the page again
  (status 422) with the values as typed and a message beside each field at fault.
- ``GET /batch`` shows the upload form, ``POST /batch`` scores a CSV file
  (``formcast.batch``): a preview with a download link built into the page, or
  the scored file itself. Nothing is kept on the server between requests, since
  gunicorn's workers share no memory.

Nothing here knows any dataset: every field, label, option and hint comes from
the bundle's schema.
"""

from __future__ import annotations

import base64
import math
import re
from pathlib import PurePath

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from formcast.batch import BatchError, score_csv
from formcast.predictor import PredictionError
from formcast.web.context import current_predictor
from formcast.web.observability import count_predictions, count_problems

bp = Blueprint("pages", __name__)

# Rows of the scored file shown on the batch page; the download has them all.
PREVIEW_ROWS = 10
# A trailing unit in a column name, shown in brackets: bill_length_mm -> "bill length (mm)".
_UNITS = {"mm": "mm", "cm": "cm", "km": "km", "mg": "mg", "g": "g", "kg": "kg", "lb": "lb", "ms": "ms",
          "pct": "%", "percent": "%", "usd": "USD", "eur": "EUR"}


@bp.app_template_filter("readable")
def readable_name(name: str) -> str:
    """A column name as words: ``bill_length_mm`` -> ``bill length (mm)``; ``mean radius`` stays."""
    words = [word for word in re.split(r"[_\s]+", str(name).strip()) if word]
    if len(words) > 1 and words[-1].lower() in _UNITS:
        return " ".join(words[:-1]) + f" ({_UNITS[words[-1].lower()]})"
    return " ".join(words) or str(name)


@bp.app_template_filter("seen_in_training")
def seen_in_training(feature) -> str:
    """The short hint under a field: what training saw there, and whether it may be left empty."""
    if feature.kind == "numeric":
        text = f"training data: {feature.minimum} to {feature.maximum}"
        text += ", whole numbers" if feature.integer else ""
    elif feature.kind == "categorical":
        text = "training data: " + ", ".join(feature.categories[:8])
        text += f" and {len(feature.categories) - 8} more" if len(feature.categories) > 8 else ""
    else:
        text = "true or false"
    return text + (" · may be left empty" if feature.nullable else "")


@bp.app_template_filter("mebibytes")
def format_mebibytes(size: int) -> str:
    """A byte count as people read a size limit: 8388608 -> "8 MiB"."""
    return f"{size / 2**20:.3g} MiB" if size >= 2**20 else f"{size / 2**10:.3g} KiB"


@bp.app_template_filter("number")
def format_number(value: float, digits: int = 4) -> str:
    """Show a number with about ``digits`` significant digits: 3.142, 1,235, 0.001234 (1.235e+20 when huge)."""
    if value == 0 or not math.isfinite(value) or abs(value) >= 1e15:
        return f"{value:.{digits}g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


@bp.get("/")
def form():
    predictor = current_predictor()
    values = {f.name: _form_text(f.typical) for f in predictor.schema.features}
    return _render(predictor, values)


@bp.post("/")
def submit():
    predictor = current_predictor()
    record, form_problems = predictor.validator.parse_form(request.form)
    clean, problems = predictor.validator.validate([record])
    if form_problems or problems:
        count_problems([*form_problems, *problems])
        # One message per field; the form's own words (about typing) win over the validator's.
        errors = {p.field: p for p in problems} | {p.field: p for p in form_problems}
        return _render(predictor, request.form, errors=errors), 422
    try:
        result = predictor.predict(clean)[0]
    except PredictionError as error:
        return _render(predictor, request.form, failure=str(error)), 422
    count_predictions([result])
    return _render(predictor, request.form, result=result)


@bp.get("/batch")
def batch():
    return _render_batch(current_predictor())


@bp.post("/batch")
def score_file():
    """Score an uploaded CSV: preview it on the page, or answer the scored file as a download."""
    predictor = current_predictor()
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        limit = format_mebibytes(current_app.config["MAX_CONTENT_LENGTH"])
        return _render_batch(predictor, failure=f"the file is larger than the limit of {limit}; "
                                                f"split it into smaller files"), 413
    if upload is None or not upload.filename:
        return _render_batch(predictor, failure="no file was chosen: choose a CSV file to score"), 400
    try:
        scored = score_csv(upload.read(), predictor, max_rows=current_app.config["MAX_RECORDS"])
    except BatchError as error:
        return _render_batch(predictor, failure=f"{upload.filename}: {error}"), error.status
    name = _download_name(upload.filename)
    text = scored.to_csv()
    if request.form.get("action") == "download":
        return Response(text, mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    # The download travels in the page itself, so no server keeps the file between requests.
    href = "data:text/csv;charset=utf-8;base64," + base64.b64encode(text.encode()).decode("ascii")
    return _render_batch(predictor, scored=scored, filename=upload.filename, download_name=name,
                         download_href=href)


def _render_batch(predictor, **page):
    return render_template(
        "batch.html",
        schema=predictor.schema,
        model=predictor.summary,
        max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
        max_rows=current_app.config["MAX_RECORDS"],
        preview_rows=PREVIEW_ROWS,
        **page,
    )


def _download_name(filename: str) -> str:
    """penguins.csv -> penguins-predictions.csv, safe to put in a header."""
    stem = secure_filename(PurePath(filename).stem) or "upload"
    return f"{stem}-predictions.csv"


def _render(predictor, values, errors=None, result=None, failure=None):
    return render_template(
        "form.html",
        schema=predictor.schema,
        model=predictor.summary,
        validator=predictor.validator,
        values=values,
        errors=errors or {},
        result=result,
        failure=failure,
    )


def _form_text(value) -> str:
    """A typical value as the form shows it: true/false for a boolean, as-is otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
