"""Build one scikit-learn Pipeline, fit it and measure it honestly.

Everything the model needs to turn a record into a prediction (imputation,
scaling, one-hot encoding and the estimator) lives inside one Pipeline, so the
app runs exactly the code that was evaluated. The metrics come from rows held
out before fitting; the served model is the one those rows measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from formcast import fastpath
from formcast.schema import (
    BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC, DroppedColumn, Schema, SchemaError,
    infer_schema, prepare_frame, to_labels,
)

MIN_ROWS = 10
# What a missing category becomes inside the Pipeline: a category of its own,
# so the model learns from rows with no value instead of pretending they had
# the most common one (in survey data, "not answered" often means something).
MISSING_CATEGORY = "__missing__"


class TrainingError(Exception):
    """Training cannot go on; the message is one line for the user."""


@dataclass
class TrainingResult:
    pipeline: Pipeline
    schema: Schema
    dropped_columns: list[DroppedColumn]
    metrics: dict[str, float | None]
    rows: dict[str, int]
    stratified: bool
    missing_values: dict[str, int]
    notes: list[str] = field(default_factory=list)
    # The fast path's verdict (and arrays) for metadata.json: see formcast/fastpath.py.
    fast_path: dict = field(default_factory=dict)


def train(frame: pd.DataFrame, target: str, *, task: str = "auto", test_size: float = 0.2,
          seed: int = 42) -> TrainingResult:
    """Infer the schema, fit the Pipeline on the training part and score it on the rest.

    Parameters
    ----------
    frame : DataFrame
        The whole CSV.
    target : str
        The column to predict; rows where it is missing are dropped.
    task : {"auto", "classification", "regression"}, default="auto"
    test_size : float, default=0.2
        The share of rows held out for the metrics.
    seed : int, default=42
        Fixes the split and the estimator, so a rerun gives the same model.

    Raises
    ------
    TrainingError
        If the target is unknown or cannot be learned, or too few rows remain.
    """
    if target not in frame.columns:
        raise TrainingError(f"no column named {target!r}; the columns are: {', '.join(map(repr, frame.columns))}")
    labelled = frame[_has_value(frame[target])]
    rows = {"in_file": len(frame), "missing_target": len(frame) - len(labelled)}
    if len(labelled) < MIN_ROWS:
        raise TrainingError(f"only {len(labelled)} rows have a value for {target!r}; at least {MIN_ROWS} are needed")
    try:
        schema, dropped = infer_schema(labelled, target, task)
    except SchemaError as error:
        raise TrainingError(str(error)) from None

    X = prepare_frame(labelled, schema)
    y = _prepare_target(labelled[target], schema)
    X_train, X_test, y_train, y_test, stratified, notes = _split(X, y, schema, test_size, seed)
    rows.update(train=len(X_train), test=len(X_test))

    pipeline = build_pipeline(schema, seed)
    pipeline.fit(X_train, y_train)
    metrics = evaluate(pipeline, X_test, y_test, schema.task)
    rows_word = "row" if len(X_test) == 1 else "rows"
    notes += [f"{name} is undefined on {len(X_test)} held-out {rows_word}" for name, v in metrics.items() if v is None]
    missing = {name: int(count) for name, count in X.isna().sum().items() if count}
    fast_path = fastpath.check(pipeline, X_test, schema)
    return TrainingResult(pipeline, schema, dropped, metrics, rows, stratified, missing, notes, fast_path)


def build_pipeline(schema: Schema, seed: int = 42) -> Pipeline:
    """One Pipeline: per-kind preprocessing in a ColumnTransformer, then the estimator.

    Categories are given to the encoder from the schema, so a category seen
    only in the held-out rows is still a known column, not an unknown value.
    """
    numeric = [f.name for f in schema.features if f.kind == NUMERIC]
    boolean = [f.name for f in schema.features if f.kind == BOOLEAN]
    categorical = [f for f in schema.features if f.kind == CATEGORICAL]
    steps = []
    if numeric:
        steps.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), numeric))
    if boolean:
        steps.append(("boolean", SimpleImputer(strategy="most_frequent", keep_empty_features=True), boolean))
    if categorical:
        known = [f.categories + ([MISSING_CATEGORY] if f.nullable else []) for f in categorical]
        steps.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True)),
            ("encode", OneHotEncoder(categories=known, handle_unknown="error")),
        ]), [f.name for f in categorical]))
    preprocess = ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", preprocess), ("model", make_estimator(schema.task, seed))])


def make_estimator(task: str, seed: int = 42):
    """A well-behaved default: fast to fit and to predict, hard to overfit on small data.

    Linear models answer one record in a few milliseconds and give calibrated-
    looking probabilities; balanced class weights keep a rare class visible.
    """
    if task == CLASSIFICATION:
        return LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    return RidgeCV(alphas=np.logspace(-3, 3, 13))


def evaluate(pipeline: Pipeline, X_test: pd.DataFrame, y_test: pd.Series, task: str) -> dict[str, float | None]:
    """Score the fitted pipeline on held-out rows.

    Classification: accuracy and macro-averaged F1 (every class counts the
    same, so a model that ignores a rare class is caught). Regression: R², MAE
    and RMSE, the last two in the target's own unit. A metric that is not
    defined on these rows (R² of a single row) is ``None``.
    """
    predicted = pipeline.predict(X_test)
    if task == CLASSIFICATION:
        metrics = {
            "accuracy": accuracy_score(y_test, predicted),
            "f1_macro": f1_score(y_test, predicted, average="macro"),
        }
    else:
        metrics = {
            "r2": r2_score(y_test, predicted) if len(y_test) > 1 else math.nan,
            "mae": mean_absolute_error(y_test, predicted),
            "rmse": math.sqrt(mean_squared_error(y_test, predicted)),
        }
    return {name: round(float(v), 6) if math.isfinite(v) else None for name, v in metrics.items()}


def _has_value(target: pd.Series) -> pd.Series:
    """Rows whose target is usable: present, and finite if a number."""
    present = target.notna()
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        present &= np.isfinite(target.astype("float64"))
    return present


def _prepare_target(y: pd.Series, schema: Schema) -> pd.Series:
    if schema.task == CLASSIFICATION:
        labels = to_labels(y)
        # scikit-learn reads an object array of ints as an unknown target type.
        return labels.astype("int64" if all(isinstance(v, int) for v in schema.labels) else object)
    return pd.to_numeric(y).astype("float64")


def _split(X, y, schema, test_size, seed):
    """Hold out rows for the metrics, keeping every class in the training part.

    A classification split is stratified by class. A class with a single row
    can be learned but not measured, so that row always trains; and a class
    the split left with no training row has its held-out rows moved back.
    """
    if schema.task != CLASSIFICATION:
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed)
        return X_train, X_test, y_train, y_test, False, []

    notes = []
    counts = y.value_counts()
    single = y.isin(counts.index[counts < 2])
    if single.any():
        count = int(single.sum())
        notes.append(f"{count} {'class has' if count == 1 else 'classes have'} a single row: "
                     "learned from, but not measured")
    rest_X, rest_y = X[~single], y[~single]
    if len(rest_y) < 2:
        raise TrainingError("every class has a single row: no row can be held out to measure the model")
    try:
        X_train, X_test, y_train, y_test = train_test_split(rest_X, rest_y, test_size=test_size,
                                                            random_state=seed, stratify=rest_y)
        stratified = True
    except ValueError:  # fewer held-out rows than classes: a plain split still works
        X_train, X_test, y_train, y_test = train_test_split(rest_X, rest_y, test_size=test_size, random_state=seed)
        stratified = False

    unseen = ~y_test.isin(set(y_train))
    X_train = pd.concat([X_train, X[single], X_test[unseen]])
    y_train = pd.concat([y_train, y[single], y_test[unseen]])
    X_test, y_test = X_test[~unseen], y_test[~unseen]
    if y_test.empty:
        raise TrainingError("too few rows per class to hold any out; add rows or lower --test-size")
    if y_train.nunique() < 2:
        raise TrainingError("the training rows hold a single class; add rows of the other classes")
    return X_train, X_test, y_train, y_test, stratified, notes
