"""Check records against the schema before they reach the model.

One validator, built from the bundle's schema with pydantic, serves the JSON
API and the HTML form alike. It reports every problem of every record at once,
each as a ``Problem`` that names the field, says what is wrong, what was
expected and, in a batch, the record's index.

The rules (the API answers 422 for any of them):

- every feature is required; a feature that had missing values in training
  (``nullable`` in the schema) may be ``null``, and the model fills it in;
- a number must be a finite JSON number: not a string, not ``true``, not NaN
  or Infinity, and within +-2**53 (or the training range, if wider): beyond
  that JSON clients disagree on the value, and a linear model can overflow;
- a category must be one of the training values (surrounding spaces are
  ignored, case is not);
- a boolean must be ``true`` or ``false``;
- a field the model does not know is an error, never silently dropped.

The form sends text, so ``RecordValidator.parse_form`` first turns each text
field into the JSON value it stands for, then hands the record to the same
validator.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

import pydantic
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from formcast.schema import BOOLEAN, CATEGORICAL, NUMERIC, Feature, Schema

# The largest magnitude every JSON client reads the same way (RFC 7493, I-JSON).
SAFE_MAGNITUDE = float(2**53)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one record: the unit of every validation error."""

    field: str | None
    message: str
    expected: str | None = None
    index: int | None = None

    def to_dict(self) -> dict:
        """The problem as JSON: index (in a batch) first, then field, message, expected."""
        ordered = {"index": self.index, "field": self.field, "message": self.message, "expected": self.expected}
        return {key: value for key, value in ordered.items() if value is not None}


class RecordValidator:
    """Validate records for one schema.

    Example
    -------
    >>> validator = RecordValidator(schema)                   # doctest: +SKIP
    >>> records, problems = validator.validate([{"x": 1.0}])  # doctest: +SKIP
    """

    def __init__(self, schema: Schema):
        self.schema = schema
        self._features = {feature.name: feature for feature in schema.features}
        record_type = TypedDict("Record", {f.name: _field_type(f) for f in schema.features})
        record_type.__pydantic_config__ = ConfigDict(extra="forbid")
        self._adapter = TypeAdapter(list[record_type])

    def validate(self, records: list) -> tuple[list[dict], list[Problem]]:
        """Return the cleaned records, or every problem found in them.

        Parameters
        ----------
        records : list
            Decoded JSON values, normally dicts of feature name to value.

        Returns
        -------
        records : list of dict
            Cleaned records (numbers as float, categories stripped), empty
            when there are problems.
        problems : list of Problem
            Empty when every record is valid.
        """
        try:
            return self._adapter.validate_python(records), []
        except pydantic.ValidationError as error:
            return [], [self._problem(detail) for detail in error.errors(include_url=False)]

    def parse_form(self, form: dict[str, str]) -> tuple[dict, list[Problem]]:
        """Turn the text of a submitted form into a record for ``validate``.

        An empty field becomes ``None`` where the feature is nullable and is
        an error otherwise. A number is read with a point as decimal
        separator; a comma is refused with a hint rather than guessed at,
        since ``1,234`` could mean either 1.234 or 1234.
        """
        record, problems = {}, []
        for feature in self.schema.features:
            text = form.get(feature.name)
            if text is None:
                problems.append(Problem(feature.name, "is missing from the submitted form",
                                        "a value for every field of the form"))
            elif text.strip() == "":
                if not feature.nullable:
                    problems.append(Problem(feature.name, "is required: every training row had a value here",
                                            self.expected(feature, form=True)))
                record[feature.name] = None
            elif feature.kind == NUMERIC:
                record[feature.name] = _parse_number(text.strip(), feature, problems)
            elif feature.kind == BOOLEAN:
                record[feature.name] = {"true": True, "false": False}.get(text.strip().lower(), text)
            else:
                record[feature.name] = text
        return record, problems

    def expected(self, feature: Feature, *, form: bool = False) -> str:
        """Describe in words what a valid value of this feature looks like.

        ``form=True`` words the missing-value rule for a person at the form
        ("leave empty") rather than for an API client ("null").
        """
        if feature.kind == NUMERIC:
            # Whole numbers in training are a hint, not a rule: 181.5 is a valid number.
            seen = "whole numbers from" if feature.integer else "from"
            text = f"a number (training data: {seen} {feature.minimum} to {feature.maximum})"
        elif feature.kind == CATEGORICAL:
            text = "one of " + ", ".join(repr(category) for category in feature.categories)
        else:
            text = "true or false"
        if feature.nullable:
            text += "; may be left empty for the model to fill in" if form else ", or null to let the model fill it in"
        return text

    def _problem(self, detail: dict) -> Problem:
        location = list(detail["loc"])
        index = location.pop(0) if location and isinstance(location[0], int) else None
        name = str(location[0]) if location else None
        kind, value = detail["type"], detail.get("input")
        feature = self._features.get(name)

        if kind == "missing":
            message = "is required but missing"
        elif kind == "extra_forbidden":
            known = ", ".join(self.schema.feature_names)
            return Problem(name, f"is not a feature of this model (features: {known})", None, index)
        elif feature is None:  # the record itself is not an object
            return Problem(None, f"must be a JSON object of feature names to values, got {_show(value)}",
                           "an object such as " + self.example_text(), index)
        elif value is None:
            message = "must not be null: this feature had no missing values in training"
        elif feature.kind == CATEGORICAL:
            message = f"is not a known category: got {_show(value)}"
        elif feature.kind == NUMERIC and isinstance(value, float) and not math.isfinite(value):
            message = f"must be a finite number, got {_show(value)}"
        elif kind in ("greater_than_equal", "less_than_equal"):
            message = f"must be within ±{magnitude_limit(feature):.4g} (a JSON-safe size), got {_show(value)}"
        else:
            message = f"must be {'true or false' if feature.kind == BOOLEAN else 'a number'}, got {_show(value)}"
        return Problem(name, message, self.expected(feature), index)

    def example_text(self) -> str:
        """A short valid record in JSON, built from the schema's typical values."""
        example = json.dumps({f.name: f.typical for f in self.schema.features[:3]}, ensure_ascii=False)
        return example[:-1] + ", ...}" if len(self.schema.features) > 3 else example


def _parse_number(text: str, feature: Feature, problems: list[Problem]) -> float | str:
    try:
        number = float(text)
    except ValueError:
        hint = " (use a point as the decimal separator)" if "," in text else ""
        problems.append(Problem(feature.name, f"must be a number{hint}, got {_show(text)}",
                                f"a number such as {_json_literal(feature.typical)}"))
        return text
    if not math.isfinite(number):
        problems.append(Problem(feature.name, f"must be a finite number, got {_show(text)}", "a finite number"))
    return number


def _field_type(feature: Feature):
    if feature.kind == NUMERIC:
        # strict: a JSON true or "3.5" is not a number; no NaN or Infinity.
        limit = magnitude_limit(feature)
        base = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-limit, le=limit)]
    elif feature.kind == BOOLEAN:
        base = Annotated[bool, Field(strict=True)]
    else:
        base = Annotated[Literal[tuple(feature.categories)], BeforeValidator(_strip)]
    return Optional[base] if feature.nullable else base


def magnitude_limit(feature: Feature) -> float:
    """The largest magnitude a numeric feature accepts: 2**53, or more if training saw more."""
    return max(SAFE_MAGNITUDE, abs(feature.minimum or 0.0), abs(feature.maximum or 0.0))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _show(value) -> str:
    """A value as the client wrote it, in JSON spelling (true, "5", NaN), cut to a readable length."""
    text = _json_literal(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_literal(value) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
