"""A fast prediction path: the fitted Pipeline's arithmetic on plain numpy arrays.

A scikit-learn Pipeline costs milliseconds on one record, almost all of it in
the ColumnTransformer and in building a pandas DataFrame, not in the model. For
the Pipeline that ``training.build_pipeline`` makes with a linear estimator, the
whole computation is small: fill in missing values, scale the numbers, one-hot
encode the categories, then one matrix product (and a softmax or logistic for
a classifier). ``FastModel`` holds exactly those fitted arrays and computes the
same answers straight from validated records, with no pandas and no
scikit-learn at prediction time.

It is used only where it is checked to agree:

- ``extract`` recognises the Pipeline exactly (step names, transformer types
  and settings, estimator type); anything else (another estimator, other
  preprocessing) gets no fast path, with the reason;
- ``check`` runs both on the held-out rows, and again on those rows with every
  nullable feature missing, at training time: the labels must be identical and
  every probability or regression value within ``RTOL``/``ATOL`` of the
  Pipeline's. The verdict, with the largest difference seen, goes into the
  bundle's ``metadata.json`` under ``fast_path``, with the arrays when it is used.

The arrays are plain JSON numbers (``repr`` of a float round-trips exactly), so
serving reads them without unpickling anything.
"""

from __future__ import annotations

import math
from operator import itemgetter

import numpy as np

from formcast.schema import BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC, Schema, records_to_frame

# Agreement required between the fast path and the Pipeline. Both do the same
# float64 operations; only the order of a few sums (and scipy's expit against
# numpy's) can differ, which moves the last bits, about 1e-16 relative.
RTOL = 1e-9
ATOL = 1e-12
FORMAT = 1
# Estimators whose prediction is a linear function of the preprocessed row.
_LINEAR = {"LogisticRegression": CLASSIFICATION, "RidgeCV": "regression", "Ridge": "regression",
           "LinearRegression": "regression"}


class NotRecognised(Exception):
    """The Pipeline is not one the fast path reproduces; the message says what differs."""


class FastModel:
    """Predict from validated records with the fitted Pipeline's arrays.

    Parameters
    ----------
    arrays : dict
        What ``extract`` returns (and ``metadata.json`` stores under
        ``fast_path.arrays``).
    schema : Schema
        The bundle's schema; the arrays must describe exactly its features.

    Example
    -------
    >>> fast = FastModel(metadata["fast_path"]["arrays"], schema)    # doctest: +SKIP
    >>> fast.predict([{"island": "Dream", ...}])                       # doctest: +SKIP
    array([[0.0312, 0.9671, 0.0017]])
    """

    def __init__(self, arrays: dict, schema: Schema):
        if arrays.get("format") != FORMAT:
            raise ValueError(f"fast path format {arrays.get('format')!r}, this formcast reads {FORMAT}")
        self.task = arrays["task"]
        self.width = int(arrays["width"])
        self.coef = np.asarray(arrays["coef"], dtype=np.float64)          # (outputs, width) or (width,)
        self.intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        if self.coef.shape[-1] != self.width:
            raise ValueError(f"coef has {self.coef.shape[-1]} columns, the row has {self.width}")
        # Per feature, in schema order: where its value goes and how it is transformed.
        self.numeric = [(name, int(column), float(fill), float(mean), float(scale))
                        for name, column, fill, mean, scale in arrays["numeric"]]
        self.boolean = [(name, int(column), float(fill)) for name, column, fill in arrays["boolean"]]
        self.categorical = [(name, {category: int(column) for category, column in columns.items()}, missing)
                            for name, columns, missing in arrays["categorical"]]
        covered = {entry[0] for entry in self.numeric + self.boolean + self.categorical}
        if covered != set(schema.feature_names):
            raise ValueError(f"the fast path covers {sorted(covered)}, the schema lists {schema.feature_names}")
        if (self.task == CLASSIFICATION) != (schema.task == CLASSIFICATION):
            raise ValueError(f"the fast path is a {self.task}, the schema a {schema.task}")
        # Numbers go through one vectorised step: fill, subtract the mean, divide by the scale.
        self._numeric_columns = np.array([entry[1] for entry in self.numeric], dtype=np.intp)
        self._numeric_fill = np.array([entry[2] for entry in self.numeric])
        self._numeric_mean = np.array([entry[3] for entry in self.numeric])
        self._numeric_scale = np.array([entry[4] for entry in self.numeric])
        self._coef_t = np.ascontiguousarray(self.coef.T)
        # For one record, plain Python floats beat numpy, whose every call costs about a
        # microsecond: per feature, its coefficient for each output (one per class, or one).
        weights = self._coef_t.reshape(self.width, -1).tolist()
        self._one_intercept = np.atleast_1d(self.intercept).tolist()
        self._one_numeric = [(name, fill, mean, scale, weights[column])
                             for name, column, fill, mean, scale in self.numeric]
        self._one_boolean = [(name, fill, weights[column]) for name, column, fill in self.boolean]
        self._one_categorical = [(name, {category: weights[column] for category, column in columns.items()}, missing)
                                 for name, columns, missing in self.categorical]

    def transform(self, records: list[dict]) -> np.ndarray:
        """The preprocessed rows, as the Pipeline's ``preprocess`` step would give them (dense)."""
        rows = np.zeros((len(records), self.width))
        # Column by column: map(itemgetter) walks the records at C speed.
        if self.numeric:
            # None becomes NaN in a float array; NaN is then the training median.
            values = np.column_stack([np.array(list(map(itemgetter(name), records)), dtype=np.float64)
                                      for name, *_ in self.numeric])
            values = np.where(np.isnan(values), self._numeric_fill, values)
            rows[:, self._numeric_columns] = (values - self._numeric_mean) / self._numeric_scale
        for name, column, fill in self.boolean:
            rows[:, column] = [fill if value is None else float(value) for value in map(itemgetter(name), records)]
        if self.categorical:
            at = np.arange(len(records))
            for name, columns, missing in self.categorical:
                # A validated record holds a known category, or None where the feature is nullable.
                hot = [columns[missing if value is None else value] for value in map(itemgetter(name), records)]
                rows[at, hot] = 1.0
        return rows

    def predict(self, records: list[dict]) -> np.ndarray:
        """Class probabilities (rows sum to 1) or regression values, one row per record.

        Values far outside the training data can overflow: such a row comes
        back non-finite, as the caller checks.
        """
        with np.errstate(all="ignore"):
            scores = self.transform(records) @ self._coef_t + self.intercept
            if self.task != CLASSIFICATION:
                return scores
            if scores.ndim == 1 or scores.shape[1] == 1:  # binary: the logistic of one score
                positive = 1.0 / (1.0 + np.exp(-scores.reshape(-1)))
                return np.stack([1.0 - positive, positive], axis=1)
            scores -= scores.max(axis=1, keepdims=True)  # softmax, as scikit-learn computes it
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1, keepdims=True)
            return scores


    def predict_one(self, record: dict) -> list[float]:
        """``predict`` for a single record, in plain Python: the same answer, several times sooner.

        Only the order of additions differs from the matrix product, which can
        move the last bit; ``check`` compares both ways with the Pipeline.
        """
        scores = list(self._one_intercept)
        outputs = range(len(scores))
        for name, fill, mean, scale, weights in self._one_numeric:
            value = record[name]
            scaled = ((fill if value is None else value) - mean) / scale
            for k in outputs:
                scores[k] += weights[k] * scaled
        for name, fill, weights in self._one_boolean:
            value = record[name]
            value = fill if value is None else float(value)
            for k in outputs:
                scores[k] += weights[k] * value
        for name, columns, missing in self._one_categorical:
            value = record[name]
            weights = columns[missing if value is None else value]
            for k in outputs:
                scores[k] += weights[k]  # times a one-hot 1.0
        if self.task != CLASSIFICATION:
            return scores
        if len(scores) == 1:  # binary: the logistic of one score (exp overflows to 0 where numpy gives inf)
            positive = 0.0 if -scores[0] > 709 else 1.0 / (1.0 + math.exp(-scores[0]))
            return [1.0 - positive, positive]
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]  # never overflows: every exponent is <= 0
        total = sum(exps)
        return [e / total for e in exps]


def extract(pipeline, schema: Schema) -> dict:
    """The fitted arrays of a Pipeline that ``training.build_pipeline`` made with a linear estimator.

    Raises
    ------
    NotRecognised
        If anything differs from that exact shape; the message names it.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if type(pipeline) is not Pipeline or [name for name, _ in pipeline.steps] != ["preprocess", "model"]:
        raise NotRecognised("the model is not a Pipeline of the steps 'preprocess' and 'model'")
    preprocess, model = pipeline.named_steps["preprocess"], pipeline.named_steps["model"]
    estimator = type(model).__name__
    if _LINEAR.get(estimator) != (CLASSIFICATION if schema.task == CLASSIFICATION else "regression"):
        raise NotRecognised(f"the estimator {estimator} has no fast path (only linear models have)")
    if type(preprocess) is not ColumnTransformer or preprocess.remainder != "drop":
        raise NotRecognised("the preprocessing is not a ColumnTransformer that drops other columns")
    width = int(sum(s.stop - s.start for s in preprocess.output_indices_.values()))
    if width != model.n_features_in_:
        raise NotRecognised(f"the preprocessing gives {width} columns, the estimator takes {model.n_features_in_}")

    arrays = {"format": FORMAT, "task": _LINEAR[estimator], "estimator": estimator, "width": width,
              "numeric": [], "boolean": [], "categorical": []}
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder":
            continue
        start = preprocess.output_indices_[name].start
        steps = transformer.steps if type(transformer) is Pipeline else [(None, transformer)]
        kinds = [type(step) for _, step in steps]
        if kinds == [SimpleImputer, StandardScaler] and steps[0][1].strategy == "median":
            imputer, scaler = steps[0][1], steps[1][1]
            means = scaler.mean_ if scaler.with_mean else np.zeros(len(columns))
            scales = scaler.scale_ if scaler.with_std else np.ones(len(columns))
            _require_kind(schema, columns, NUMERIC)
            arrays["numeric"] += [[str(c), start + i, float(imputer.statistics_[i]), float(means[i]), float(scales[i])]
                                  for i, c in enumerate(columns)]
        elif kinds == [SimpleImputer] and steps[0][1].strategy == "most_frequent":
            _require_kind(schema, columns, BOOLEAN)
            arrays["boolean"] += [[str(c), start + i, float(steps[0][1].statistics_[i])] for i, c in enumerate(columns)]
        elif kinds == [SimpleImputer, OneHotEncoder] and steps[0][1].strategy == "constant":
            fill, encoder = steps[0][1].fill_value, steps[1][1]
            if encoder.drop is not None or encoder.handle_unknown != "error":
                raise NotRecognised("the one-hot encoder drops a category or ignores unknown ones")
            _require_kind(schema, columns, CATEGORICAL)
            column = start
            for feature, categories in zip(columns, encoder.categories_):
                one_hot = {}
                for category in categories:
                    one_hot[str(category)] = column
                    column += 1
                arrays["categorical"].append([str(feature), one_hot, str(fill)])
        else:
            raise NotRecognised(f"the preprocessing step {name!r} is not one the fast path reproduces")

    coef = np.asarray(model.coef_, dtype=np.float64)
    arrays["coef"] = coef.tolist()
    arrays["intercept"] = np.asarray(model.intercept_, dtype=np.float64).tolist()
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(arrays["intercept"]))):
        raise NotRecognised("the estimator's coefficients are not all finite")
    return arrays


def check(pipeline, X_test, schema: Schema) -> dict:
    """Decide whether to serve with the fast path: extract it and compare it with the Pipeline.

    Parameters
    ----------
    pipeline : Pipeline
        The fitted model.
    X_test : DataFrame
        The held-out rows, as ``schema.prepare_frame`` gives them.
    schema : Schema

    Returns
    -------
    dict
        The verdict for ``metadata.json``: ``used``, ``reason``, the rows
        compared, the largest absolute difference, the tolerance and, when
        used, the ``arrays``.
    """
    verdict = {"used": False, "reason": "", "rows_checked": 0, "max_abs_difference": None,
               "tolerance": {"rtol": RTOL, "atol": ATOL}}
    try:
        arrays = extract(pipeline, schema)
    except NotRecognised as error:
        verdict["reason"] = str(error)
        return verdict

    records = records_from_frame(X_test, schema)
    nullable = [f.name for f in schema.features if f.nullable]
    if nullable:  # the held-out rows may have no missing values: try every fill-in too
        records += [{**record, **dict.fromkeys(nullable)} for record in records]
    model = FastModel(arrays, schema)
    # Both ways the app computes: a batch at once, and one record at a time.
    n = len(records)
    fast = np.concatenate([model.predict(records).reshape(n, -1),
                           np.array([model.predict_one(r) for r in records]).reshape(n, -1)])
    frame = records_to_frame(records, schema)  # exactly the Pipeline's serving input
    classifier = schema.task == CLASSIFICATION
    with np.errstate(all="ignore"):
        expected = pipeline.predict_proba(frame) if classifier else pipeline.predict(frame)
    expected = np.concatenate([expected, expected]).reshape(fast.shape)
    verdict["rows_checked"] = len(records)
    difference = float(np.max(np.abs(fast - expected))) if len(records) else 0.0
    verdict["max_abs_difference"] = difference if math.isfinite(difference) else None
    if not np.all(np.isfinite(fast)) or not np.all(np.isfinite(expected)):
        verdict["reason"] = "some held-out rows gave no finite answer, so agreement could not be shown"
    elif classifier and not np.array_equal(fast.argmax(axis=1), np.asarray(expected).argmax(axis=1)):
        verdict["reason"] = "the fast path predicted another class than the Pipeline for some held-out rows"
    elif not np.allclose(fast, expected, rtol=RTOL, atol=ATOL):
        verdict["reason"] = f"the fast path differs from the Pipeline by up to {difference:.3g}"
    else:
        rows = f"{len(X_test)} held-out rows" + (", again with their nullable features missing" if nullable else "")
        verdict.update(used=True, reason=f"{arrays['estimator']} with the standard preprocessing, "
                                         f"agrees with the Pipeline on {rows}", arrays=arrays)
    return verdict


def load(metadata: dict, schema: Schema) -> FastModel | None:
    """The bundle's fast path, or None where the verdict was to use the Pipeline (or there is none).

    Raises
    ------
    ValueError
        If the stored arrays are damaged or do not match the schema.
    """
    fast_path = metadata.get("fast_path") or {}
    if not fast_path.get("used"):
        return None
    return FastModel(fast_path["arrays"], schema)


def _require_kind(schema: Schema, columns, kind: str) -> None:
    kinds = {f.name: f.kind for f in schema.features}
    wrong = [str(c) for c in columns if kinds.get(str(c)) != kind]
    if wrong:
        raise NotRecognised(f"the {kind} preprocessing reads {wrong}, which the schema does not list as {kind}")


def records_from_frame(frame, schema: Schema) -> list[dict]:
    """Turn prepared rows back into records as the validator gives them (None for missing)."""
    records = []
    for row in frame[schema.feature_names].itertuples(index=False, name=None):
        record = {}
        for feature, value in zip(schema.features, row):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                record[feature.name] = None
            elif feature.kind == BOOLEAN:
                record[feature.name] = bool(value)
            elif feature.kind == NUMERIC:
                record[feature.name] = float(value)
            else:
                record[feature.name] = str(value)
        records.append(record)
    return records

