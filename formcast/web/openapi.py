"""The API described as an OpenAPI 3.1 document, generated from the bundle's schema.

Nothing here is written per dataset: each feature becomes a property of the
``Record`` schema with its JSON type, its categories as an ``enum`` and
``null`` allowed exactly where the validator allows it, so the document and
``formcast.validation`` state the same contract. ``tests/test_openapi.py``
holds them to it, and schemathesis checks a running server against it.
"""

from __future__ import annotations

from formcast.schema import BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC, Feature, Schema
from formcast.validation import RecordValidator, magnitude_limit

PROBLEM_JSON = "application/problem+json"

# Statuses the API can answer with a problem document, and when.
ERROR_STATUSES = {
    "400": "The body is not valid JSON, or is not a record or a non-empty list of records; or the CSV cannot be read.",
    "401": "This server requires an API key (FORMCAST_API_KEY) and the request lacks it or has another; "
           "send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    "413": "The body is larger than the size limit, or holds more records (or CSV rows) than the limit.",
    "415": "The body is declared as neither application/json nor text/csv.",
    "422": ("Some records are not valid for this model: `errors` lists every problem of every record. "
            "(A CSV gets 422 only when it lacks feature columns; a bad row gets its message in the `error` column.)"),
}


def build_openapi(schema: Schema, model: dict, *, max_records: int, max_body_bytes: int | None) -> dict:
    """The OpenAPI 3.1 document for a model's API.

    Parameters
    ----------
    schema : Schema
        The bundle's schema: features, target, task and labels.
    model : dict
        The model's identity, as ``bundle.bundle_summary`` gives it.
    max_records, max_body_bytes : int
        The limits the app enforces (``MAX_RECORDS``, ``MAX_CONTENT_LENGTH``).
    """
    validator = RecordValidator(schema)
    limits = f"At most {max_records} records per request"
    if max_body_bytes:
        limits += f" and {max_body_bytes} bytes per body"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"formcast: predict {schema.target}",
            "version": model["id"],
            "description": (
                f"A {schema.task} model ({model.get('estimator')}) that predicts `{schema.target}` "
                f"from {len(schema.features)} features. Every feature is required and unknown fields "
                f"are refused. Numbers must be finite JSON numbers (not strings, not booleans) "
                f"within ±2^53. "
                f"Categories must be one of the training values; surrounding spaces are ignored, "
                f"case is not. `null` is accepted only for features that had missing values in "
                f"training, and the model fills them in (median, most frequent value, or a "
                f"'missing' category), saying so in `warnings`. A number outside the training range "
                f"is answered and flagged in `warnings`. {limits}."
            ),
        },
        "paths": {
            "/predict": {"post": _predict_operation(max_records)},
            "/health": {"get": _simple_get("Liveness: the app is up, and the model it serves.", "Health")},
            "/metadata": {"get": _with_key(_simple_get("The schema, the model's identity, metrics and training "
                                                       "summary, for clients.", "Metadata"))},
            "/livez": {"get": _simple_get("Liveness: the process answers (the model is not consulted).", "Liveness")},
            "/readyz": {"get": _readiness_operation()},
            "/metrics": {"get": _with_key(_metrics_operation())},
        },
        "components": {
            "schemas": {
                "Record": _record_schema(schema, validator),
                "Result": _result_schema(schema),
                "Predictions": {
                    "type": "object",
                    "properties": {"predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}}},
                    "required": ["predictions"],
                    "additionalProperties": False,
                },
                "Liveness": {
                    "type": "object",
                    "properties": {"status": {"const": "alive"}},
                    "required": ["status"],
                },
                "Readiness": {
                    "type": "object",
                    "properties": {"status": {"const": "ready"}, "model": {"type": "string"}},
                    "required": ["status", "model"],
                },
                "Warning": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["field", "message"],
                    "additionalProperties": False,
                },
                "Problem": _problem_schema(),
                "Health": {
                    "type": "object",
                    "properties": {"status": {"const": "ok"}, "model": {"$ref": "#/components/schemas/Model"}},
                    "required": ["status", "model"],
                },
                "Model": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "The first 12 hex digits of the model file's SHA-256."},
                        "task": {"enum": ["classification", "regression"]},
                        "target": {"type": "string"},
                        "estimator": {"type": ["string", "null"]},
                        "trained_at": {"type": ["string", "null"]},
                        "metrics": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                    },
                    "required": ["id", "task", "target"],
                },
                "Metadata": {
                    "type": "object",
                    "properties": {
                        "model": {"$ref": "#/components/schemas/Model"},
                        "schema": {"type": "object"},
                        "metrics": {"type": "object"},
                        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "required": ["model", "schema", "metrics", "versions"],
                },
            },
        },
    }


def _predict_operation(max_records: int) -> dict:
    errors = {
        status: {"description": description, "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for status, description in ERROR_STATUSES.items()
    }
    return {
        "summary": "Predict for one record or a list of records",
        "description": ("Send one record (a JSON object) for one result, or a list of records for "
                        "`{\"predictions\": [...]}` in the same order. Or send a CSV file with the "
                        "training columns as `text/csv`: the answer is the same CSV with `prediction`, "
                        "one `probability_<class>` per class, `warnings` and `error` columns added."),
        "operationId": "predict",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [
                {"$ref": "#/components/schemas/Record"},
                {"type": "array", "items": {"$ref": "#/components/schemas/Record"},
                 "minItems": 1, "maxItems": max_records},
            ]}},
                "text/csv": {"schema": {"type": "string", "description": "A CSV file with a header row naming "
                                                                         "at least every feature."}}},
        },
        "responses": {
            "200": {"description": "One result for a record, or the list of results for a list.",
                    "content": {"application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/Result"},
                        {"$ref": "#/components/schemas/Predictions"},
                    ]}},
                    "text/csv": {"schema": {"type": "string", "description": "The CSV sent, with the added columns."}}}},
            **errors,
        },
    }


def _readiness_operation() -> dict:
    operation = _simple_get("Readiness: this worker's model has answered a warm-up prediction.", "Readiness")
    operation["responses"]["503"] = {"description": "Not ready yet: the warm-up prediction has not succeeded.",
                                     "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return operation


def _metrics_operation() -> dict:
    return {
        "summary": "Prometheus metrics, summed over every worker: requests, latency, predictions, validation errors.",
        "responses": {"200": {"description": "Prometheus text exposition format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}},
    }


def _with_key(operation: dict) -> dict:
    """Document the 401 an operation answers when the server has an API key and the request lacks it."""
    operation["responses"]["401"] = {"description": ERROR_STATUSES["401"],
                                     "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return operation


def _simple_get(description: str, schema_name: str) -> dict:
    return {
        "summary": description,
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}},
    }


def _record_schema(schema: Schema, validator: RecordValidator) -> dict:
    return {
        "type": "object",
        "properties": {feature.name: _feature_schema(feature, validator) for feature in schema.features},
        "required": schema.feature_names,
        "additionalProperties": False,
        "example": {feature.name: feature.typical for feature in schema.features},
    }


def _feature_schema(feature: Feature, validator: RecordValidator) -> dict:
    """One feature as JSON Schema, with exactly the rules ``RecordValidator`` enforces."""
    if feature.kind == NUMERIC:
        # The training range is only described: a value outside it is answered and flagged.
        limit = magnitude_limit(feature)
        types = ["number"]
        described = {"minimum": -limit, "maximum": limit,
                     "x-training-minimum": feature.minimum, "x-training-maximum": feature.maximum}
    elif feature.kind == BOOLEAN:
        types, described = ["boolean"], {}
    else:
        types, described = ["string"], {"enum": list(feature.categories)}
    if feature.nullable:
        types.append("null")
        if feature.kind == CATEGORICAL:
            described["enum"] = described["enum"] + [None]
    return {
        "type": types if len(types) > 1 else types[0],
        **described,
        "description": validator.expected(feature),
        "example": feature.typical,
    }


def _result_schema(schema: Schema) -> dict:
    warnings = {"type": "array", "items": {"$ref": "#/components/schemas/Warning"},
                "description": "Values the model filled in, and values outside the training range."}
    if schema.task != CLASSIFICATION:
        return {
            "type": "object",
            "properties": {"prediction": {"type": "number"}, "warnings": warnings},
            "required": ["prediction", "warnings"],
            "additionalProperties": False,
        }
    labels = list(schema.labels)
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "type": "object",
        "properties": {
            "prediction": {"enum": labels, "description": "The most probable class."},
            "probabilities": {
                "type": "object",
                "description": "The probability of each class, keyed by the class as a string; they sum to 1.",
                "properties": {str(label): probability for label in labels},
                "required": [str(label) for label in labels],
                "additionalProperties": False,
            },
            "warnings": warnings,
        },
        "required": ["prediction", "probabilities", "warnings"],
        "additionalProperties": False,
    }


def _problem_schema() -> dict:
    """RFC 9457 problem details, with ``errors`` for validation problems."""
    return {
        "type": "object",
        "description": "An error, as RFC 9457 problem details (application/problem+json).",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "One sentence on what is wrong and what to send."},
            "errors": {
                "type": "array",
                "description": "Every problem of every record (validation errors only).",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer", "description": "The record's position in a list (absent for one record)."},
                        "field": {"type": "string", "description": "The feature at fault (absent when the record itself is wrong)."},
                        "message": {"type": "string", "description": "What is wrong."},
                        "expected": {"type": "string", "description": "What a valid value looks like."},
                    },
                    "required": ["message"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["type", "title", "status", "detail"],
    }
