"""The feature schema: what a model expects, inferred once from the training CSV.

This module owns three things, so that training and serving can never disagree:

- ``infer_schema`` reads a DataFrame and decides the task, each feature's kind
  (numeric, categorical, boolean) and which columns cannot help (and why);
- ``prepare_frame`` turns a CSV's DataFrame, or a list of validated records,
  into the typed frame the Pipeline is fitted on and predicts from, with the
  columns in the schema's order (never by position in the input);
- the ``Schema`` round-trips through ``metadata.json`` in the bundle.

Rules a user can rely on (stated once here, tested in tests/test_schema.py):

- A category is matched exactly, after surrounding white space is stripped:
  ``" male "`` is ``"male"``, but ``"Male"`` is not.
- A feature that had missing values in the training data is ``nullable``: a
  record may give it as null, and the Pipeline takes it as it learned to (the
  median for a number, the most frequent value for a boolean, "missing" as a
  category of its own for a category). Any other feature is required.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from formcast.lazy import lazy_import

# Needed to read training data and to feed the Pipeline, not to serve through the fast path:
# imported on first use, it is no part of a server's start-up (formcast/lazy.py).
pd = lazy_import("pandas")

NUMERIC, CATEGORICAL, BOOLEAN = "numeric", "categorical", "boolean"
CLASSIFICATION, REGRESSION = "classification", "regression"

# A column of text with more distinct values than this is treated as free text
# or an identifier, not a category: a select with hundreds of options helps no one.
MAX_CATEGORIES = 50
# A numeric target with at most this many distinct whole-number values (0/1,
# ratings 1-5, ...) is a class label, not a quantity.
MAX_CLASSES_FOR_INTEGER_TARGET = 20

_TRUE_WORDS, _FALSE_WORDS = {"true"}, {"false"}
_ID_NAME = re.compile(r"(^|[\s_.-])(id|uuid|guid|key|index)$|^(id|unnamed: ?\d+)$", re.IGNORECASE)


class SchemaError(ValueError):
    """The data cannot be turned into a schema; the message says why."""


@dataclass(frozen=True)
class Feature:
    """One input column of the model, as learned from the training data.

    Parameters
    ----------
    name : str
        The column name, exactly as in the CSV header.
    kind : {"numeric", "categorical", "boolean"}
    nullable : bool
        Whether the training data had missing values here; if so, a record
        may leave it empty and the Pipeline imputes it.
    categories : list of str
        The allowed values of a categorical feature, sorted.
    minimum, maximum : float or None
        The range of a numeric feature seen in training.
    integer : bool
        Whether every training value of a numeric feature was a whole number.
    typical : float, str, bool or None
        The median (numeric) or most frequent value, a sensible starting value
        for a form.
    """

    name: str
    kind: str
    nullable: bool
    categories: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    typical: float | str | bool | None = None


@dataclass(frozen=True)
class Schema:
    """The features in model order, the target and the task.

    ``labels`` are the classes of a classifier (ints or strings, as in the
    CSV) and are empty for a regressor.
    """

    features: list[Feature]
    target: str
    task: str
    labels: list = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        return cls(
            features=[Feature(**feature) for feature in data["features"]],
            target=data["target"],
            task=data["task"],
            labels=list(data.get("labels", [])),
        )


@dataclass(frozen=True)
class DroppedColumn:
    column: str
    reason: str


def infer_schema(frame: pd.DataFrame, target: str, task: str = "auto") -> tuple[Schema, list[DroppedColumn]]:
    """Infer the task and a feature schema from a training DataFrame.

    Parameters
    ----------
    frame : DataFrame
        The training data, rows with a missing target already removed.
    target : str
        The column to predict.
    task : {"auto", "classification", "regression"}, default="auto"
        "auto" makes text, boolean and few-valued whole-number targets a
        classification, and any other numeric target a regression.

    Returns
    -------
    schema : Schema
    dropped : list of DroppedColumn
        The columns left out, each with the reason in plain words.

    Raises
    ------
    SchemaError
        If the target cannot be learned (a single value, text for a
        regression) or no column is left to learn from.
    """
    y = frame[target]
    task = _infer_task(y) if task == "auto" else task
    labels = _labels(y) if task == CLASSIFICATION else []
    if task == CLASSIFICATION and len(labels) < 2:
        raise SchemaError(f"target {target!r} has a single value ({labels[0]!r}): there is nothing to predict")
    if task == REGRESSION and not pd.api.types.is_numeric_dtype(y):
        raise SchemaError(f"target {target!r} is not numeric, so it cannot be a regression; use --task classification")

    features, dropped = [], []
    for name in frame.columns:
        if name == target:
            continue
        feature_or_reason = _infer_feature(name, frame[name])
        if isinstance(feature_or_reason, str):
            dropped.append(DroppedColumn(name, feature_or_reason))
        else:
            features.append(feature_or_reason)
    if not features:
        reasons = "; ".join(f"{d.column}: {d.reason}" for d in dropped) or "the CSV has no other column"
        raise SchemaError(f"no column is left to learn from ({reasons})")
    return Schema(features=features, target=target, task=task, labels=labels), dropped


def prepare_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Return the typed feature frame the Pipeline expects, columns in schema order.

    Numbers become float64, categories stripped strings, booleans 0.0/1.0;
    a missing value is NaN in every kind. Extra columns are ignored, so this
    reads a training CSV as well as a frame of validated records.
    """
    columns = {}
    for feature in schema.features:
        values = frame[feature.name]
        if feature.kind == NUMERIC:
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            columns[feature.name] = numbers.where(np.isfinite(numbers))  # inf is no measurement
        elif feature.kind == BOOLEAN:
            columns[feature.name] = values.map(_to_boolean_number, na_action="ignore").astype("float64")
        else:
            columns[feature.name] = values.map(lambda v: str(v).strip(), na_action="ignore").astype(object)
    prepared = pd.DataFrame(columns, index=frame.index)
    # One missing-value marker for every kind: the imputers look for np.nan.
    return prepared.where(prepared.notna(), np.nan)


def records_to_frame(records: list[dict], schema: Schema) -> pd.DataFrame:
    """Build the Pipeline's input from validated records (dicts keyed by feature name)."""
    raw = pd.DataFrame.from_records(records, columns=schema.feature_names)
    return prepare_frame(raw, schema)


def json_value(value):
    """Turn a numpy or pandas scalar into the plain Python value JSON can carry."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value) if abs(value) < 2**53 else value
    return value


def _infer_task(y: pd.Series) -> str:
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return CLASSIFICATION
    values = y.dropna()
    whole = bool(np.all(np.mod(values, 1) == 0))
    if whole and values.nunique() <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return CLASSIFICATION
    return REGRESSION


def _labels(y: pd.Series) -> list:
    """The sorted class labels, as ``to_labels`` gives them."""
    return sorted(set(to_labels(y).dropna()))


def to_labels(y: pd.Series) -> pd.Series:
    """Class labels as they are stored and returned: ints when every value is a
    whole number (a 0/1 code stays a number), else strings; never a mix."""
    present = y.dropna()
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric and bool(np.all(np.mod(present, 1) == 0)):
        return y.map(int, na_action="ignore")
    return y.map(lambda v: str(json_value(v)).strip(), na_action="ignore")


def _infer_feature(name: str, values: pd.Series) -> Feature | str:
    """Return the Feature for a column, or the reason it cannot help."""
    if pd.api.types.is_bool_dtype(values.dropna()) or _is_boolean_text(values.dropna()):
        values = values.map(_to_boolean_number, na_action="ignore")
        kind = BOOLEAN
    elif pd.api.types.is_numeric_dtype(values):
        values = values.where(np.isfinite(values))  # an "inf" in a CSV is no measurement: missing
        kind = NUMERIC
    else:
        values = values.map(lambda v: str(v).strip(), na_action="ignore")
        kind = CATEGORICAL

    present = values.dropna()
    if present.empty:
        return "every value is missing"
    if present.nunique() == 1:
        return f"it has a single value ({json_value(present.iloc[0])!r}), so it cannot tell rows apart"
    nullable = bool(values.isna().any())
    if kind == BOOLEAN:
        return Feature(name, BOOLEAN, nullable, typical=bool(present.mode().iloc[0]))
    if kind == NUMERIC:
        return _numeric_feature(name, present, nullable)
    return _categorical_feature(name, present, nullable)


def _numeric_feature(name: str, present: pd.Series, nullable: bool) -> Feature | str:
    integer = bool(np.all(np.mod(present, 1) == 0))
    # Only an integer column (no missing value ever made it float) can be a row identifier.
    if (pd.api.types.is_integer_dtype(present) and present.is_unique
            and (_ID_NAME.search(str(name)) or _is_row_number(present))):
        return "it looks like a row identifier (a distinct whole number on every row)"
    return Feature(
        name, NUMERIC, nullable,
        minimum=json_value(present.min()), maximum=json_value(present.max()),
        integer=integer, typical=json_value(present.median()),
    )


def _categorical_feature(name: str, text: pd.Series, nullable: bool) -> Feature | str:
    distinct = text.nunique()
    if distinct == len(text) and len(text) > MAX_CATEGORIES // 5:
        return "it looks like an identifier or free text (a different value on every row)"
    if distinct > MAX_CATEGORIES:
        return f"it has {distinct} distinct text values (more than {MAX_CATEGORIES}), so it looks like free text"
    return Feature(
        name, CATEGORICAL, nullable,
        categories=sorted(text.unique().tolist()), typical=str(text.mode().iloc[0]),
    )


def _is_boolean_text(values: pd.Series) -> bool:
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return False
    words = {str(v).strip().lower() for v in values.unique()}
    return words == _TRUE_WORDS | _FALSE_WORDS


def _is_row_number(values: pd.Series) -> bool:
    """0, 1, 2, ... or 1, 2, 3, ... in any order: an exported row index."""
    return values.min() in (0, 1) and bool(values.max() - values.min() + 1 == len(values))


def _to_boolean_number(value) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.number)) and not math.isnan(value):
        return float(bool(value))
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return 1.0
    if word in _FALSE_WORDS:
        return 0.0
    return math.nan
