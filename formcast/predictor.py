"""Turn valid records into predictions that JSON can carry.

The Predictor owns the loaded bundle and its validator. It builds the
Pipeline's input by feature name (so the order of keys in a record never
matters), runs the Pipeline, and returns plain Python values: numpy scalars
would not serialise, and NaN or Infinity are not JSON.
"""

from __future__ import annotations

import math

from formcast.bundle import Bundle, bundle_summary
from formcast.schema import CLASSIFICATION, records_to_frame
from formcast.validation import RecordValidator


class PredictionError(RuntimeError):
    """The model produced something that is not a usable answer (never a user's fault)."""


class Predictor:
    """Predict for records checked against the bundle's schema.

    Example
    -------
    >>> predictor = Predictor(load_bundle(Path("model")))   # doctest: +SKIP
    >>> records, problems = predictor.validator.validate([record])  # doctest: +SKIP
    >>> predictor.predict(records)[0]["prediction"]          # doctest: +SKIP
    'Adelie'
    """

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.schema = bundle.schema
        self.validator = RecordValidator(bundle.schema)
        self.summary = bundle_summary(bundle.metadata)

    @property
    def is_classifier(self) -> bool:
        return self.schema.task == CLASSIFICATION

    def predict(self, records: list[dict]) -> list[dict]:
        """Predict for validated records, one result per record, in order.

        Each result has ``prediction``; a classifier's also has
        ``probabilities`` (label to probability, summing to 1), and every
        result lists ``warnings`` such as values the model filled in.
        """
        frame = records_to_frame(records, self.schema)
        if self.is_classifier:
            probabilities = self.bundle.pipeline.predict_proba(frame)
            results = [self._classification(row) for row in probabilities]
        else:
            results = [{"prediction": _finite(value)} for value in self.bundle.pipeline.predict(frame)]
        for record, result in zip(records, results):
            result["warnings"] = self._warnings(record)
        return results

    def _classification(self, probabilities) -> dict:
        labels = self.schema.labels
        # The label is the most probable class, so label and probabilities always agree.
        best = int(probabilities.argmax())
        return {
            "prediction": labels[best],
            "probabilities": {str(label): _finite(p) for label, p in zip(labels, probabilities)},
        }

    def _warnings(self, record: dict) -> list[dict]:
        return [
            {"field": name, "message": "missing; the model filled in a typical value from training"}
            for name, value in record.items() if value is None
        ]


def _finite(value) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise PredictionError(f"the model returned {number}, which is not a finite number")
    return number
