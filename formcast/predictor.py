"""Turn valid records into predictions that JSON can carry.

The Predictor owns the loaded bundle and its validator. It builds the
Pipeline's input by feature name (so the order of keys in a record never
matters), runs the Pipeline, and returns plain Python values: numpy scalars
would not serialise, and NaN or Infinity are not JSON.
"""

from __future__ import annotations

import math

import numpy as np

from formcast import fastpath
from formcast.bundle import Bundle, BundleError, bundle_summary
from formcast.schema import BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC, records_to_frame
from formcast.validation import RecordValidator


class PredictionError(ValueError):
    """The model gave no usable answer for some records (far outside what it was trained on).

    ``indices`` are the positions of those records in the request.
    """

    def __init__(self, message: str, indices: list[int]):
        super().__init__(message)
        self.indices = indices


class Predictor:
    """Predict for records checked against the bundle's schema.

    Example
    -------
    >>> predictor = Predictor(load_bundle(Path("model")))           # doctest: +SKIP
    >>> records, problems = predictor.validator.validate([record])  # doctest: +SKIP
    >>> predictor.predict(records)[0]["prediction"]                 # doctest: +SKIP
    'Adelie'
    """

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.schema = bundle.schema
        self.validator = RecordValidator(bundle.schema)
        self.summary = bundle_summary(bundle.metadata)
        self._features = {feature.name: feature for feature in bundle.schema.features}
        self._label_keys = [str(label) for label in bundle.schema.labels]
        try:
            # The Pipeline's arithmetic on plain arrays, where training showed it agrees (fastpath.py).
            self.fast = fastpath.load(bundle.metadata, bundle.schema)
        except (KeyError, TypeError, ValueError) as error:
            raise BundleError(f"the fast path in metadata.json is damaged ({error}); "
                              "retrain with `python train.py`") from None

    @property
    def is_classifier(self) -> bool:
        return self.schema.task == CLASSIFICATION

    def predict(self, records: list[dict]) -> list[dict]:
        """Predict for validated records, one result per record, in order.

        Each result has ``prediction``; a classifier's also has
        ``probabilities`` (label to probability, summing to 1). ``warnings``
        lists values the model filled in and values outside the training range.

        Raises
        ------
        PredictionError
            If the model returns no finite answer for some records, which
            happens only for values far outside the training data.
        """
        # Rows of plain floats (probabilities, or one regression value): numpy scalars would
        # not serialise, and one tolist() per batch is far cheaper than a conversion per value.
        if self.fast is not None and len(records) == 1:  # the common case: no numpy call at all
            rows = [self.fast.predict_one(records[0])]
            finite = [all(map(math.isfinite, rows[0]))]
            best = [max(range(len(rows[0])), key=rows[0].__getitem__)]
        else:
            output = (self.fast.predict(records) if self.fast is not None
                      else self._run_pipeline(records_to_frame(records, self.schema))).reshape(len(records), -1)
            finite = np.isfinite(output).all(axis=1).tolist()
            best = output.argmax(axis=1).tolist()
            rows = output.tolist()
        bad = [i for i, ok in enumerate(finite) if not ok]
        if bad:
            raise PredictionError("the model gave no finite answer; values far outside the training data "
                                  "are the likely cause", bad)
        if self.is_classifier:
            labels, keys = self.schema.labels, self._label_keys
            # The label is the most probable class, so label and probabilities always agree.
            results = [{"prediction": labels[i], "probabilities": dict(zip(keys, row))} for i, row in zip(best, rows)]
        else:
            results = [{"prediction": row[0]} for row in rows]
        for record, result in zip(records, results):
            result["warnings"] = self.warnings(record)
        return results

    def warnings(self, record: dict) -> list[dict]:
        """What the user should know about a valid record: filled-in and out-of-range values."""
        found = []
        for name, value in record.items():
            feature = self._features[name]
            if value is None:
                found.append({"field": name, "message": _FILLED_IN[feature.kind]})
            elif feature.kind == NUMERIC and not feature.minimum <= value <= feature.maximum:
                found.append({"field": name, "message": f"{value:g} is outside the training range "
                              f"({feature.minimum} to {feature.maximum}): the model is extrapolating"})
        return found

    def _run_pipeline(self, frame) -> np.ndarray:
        try:
            return self._call_pipeline(frame)
        except ValueError:  # scikit-learn refuses the infinities that overflowing values produce
            # Rare: find which records the model cannot take, one at a time.
            bad = [i for i in range(len(frame)) if not self._answers(frame.iloc[[i]])]
            raise PredictionError("the model could not use some values; values far outside the training "
                                  "data are the likely cause", bad or list(range(len(frame)))) from None

    def _call_pipeline(self, frame) -> np.ndarray:
        pipeline = self.bundle.pipeline
        with np.errstate(all="ignore"):  # overflow shows up as a non-finite answer, checked by predict
            return pipeline.predict_proba(frame) if self.is_classifier else pipeline.predict(frame)

    def _answers(self, frame) -> bool:
        try:
            return bool(np.all(np.isfinite(self._call_pipeline(frame))))
        except ValueError:
            return False


_FILLED_IN = {
    NUMERIC: "missing: the model used the median of the training data",
    BOOLEAN: "missing: the model used the most frequent value of the training data",
    CATEGORICAL: "missing: the model treats it as unknown, as it learned from training rows with no value",
}
