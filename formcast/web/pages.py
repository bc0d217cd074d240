"""The HTML form, generated from the schema: ``GET /`` shows it, ``POST /`` predicts.

Nothing here knows any dataset: every field, label, option and hint comes from
the bundle's schema. The server is the authority on what is valid; an invalid
submission gets the page again (status 422) with the values as typed and a
message beside each field at fault.
"""

from __future__ import annotations

import math

from flask import Blueprint, render_template, request

from formcast.predictor import PredictionError
from formcast.web.context import current_predictor
from formcast.web.observability import count_predictions, count_problems

bp = Blueprint("pages", __name__)


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
