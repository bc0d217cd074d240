"""Read a CSV, build one scikit-learn Pipeline, fit it and measure it honestly.

Everything the model needs to turn a record into a prediction (imputation,
scaling, one-hot encoding and the estimator) lives inside one Pipeline, so the
app runs exactly the code that was evaluated. The metrics come from rows held
out before fitting; the served model is the one those rows measured.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from formcast.schema import (
    BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC, DroppedColumn, Schema, SchemaError,
    infer_schema, label_value, prepare_frame,
)

# Values that mean "missing" in real CSVs, beyond pandas' defaults ("", NA, NaN, null...):
# UCI's datasets mark a missing value with "?".
EXTRA_MISSING_MARKERS = ["?"]
MIN_ROWS = 10


class TrainingError(Exception):
    """Training cannot go on; the message is one line for the user."""


@dataclass
class TrainingResult:
    pipeline: Pipeline
    schema: Schema
    dropped_columns: list[DroppedColumn]
    metrics: dict[str, float]
    rows: dict[str, int]
    stratified: bool


def read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV with a header row, guessing the delimiter (, ; tab |).

    Raises
    ------
    TrainingError
        If the file is missing, empty, not text or not a table.
    """
    if not path.is_file():
        raise TrainingError(f"no such file: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(64 * 1024)
        if not sample.strip():
            raise TrainingError(f"{path} is empty: expected a CSV with a header row and data rows")
        frame = pd.read_csv(
            path, sep=_sniff_delimiter(sample), encoding="utf-8-sig",
            skipinitialspace=True, na_values=EXTRA_MISSING_MARKERS,
        )
    except UnicodeDecodeError:
        raise TrainingError(f"{path} is not UTF-8 text; save it as UTF-8 CSV and try again") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise TrainingError(f"{path} is not a readable CSV: {str(error).strip()}") from None
    if frame.empty:
        raise TrainingError(f"{path} has a header but no data rows")
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


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
    labelled = frame[frame[target].notna()]
    rows = {"in_file": len(frame), "missing_target": len(frame) - len(labelled)}
    if len(labelled) < MIN_ROWS:
        raise TrainingError(f"only {len(labelled)} rows have a value for {target!r}; at least {MIN_ROWS} are needed")
    try:
        schema, dropped = infer_schema(labelled, target, task)
    except SchemaError as error:
        raise TrainingError(str(error)) from None

    X = prepare_frame(labelled, schema)
    y = _prepare_target(labelled[target], schema)
    X_train, X_test, y_train, y_test, stratified = _split(X, y, schema, test_size, seed)
    if schema.task == CLASSIFICATION and y_train.nunique() < 2:
        raise TrainingError("the training rows hold a single class; add rows of the other classes")
    rows.update(train=len(X_train), test=len(X_test))

    pipeline = build_pipeline(schema, seed)
    pipeline.fit(X_train, y_train)
    metrics = evaluate(pipeline, X_test, y_test, schema.task)
    return TrainingResult(pipeline, schema, dropped, metrics, rows, stratified)


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
        steps.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            ("encode", OneHotEncoder(categories=[f.categories for f in categorical], handle_unknown="error")),
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


def evaluate(pipeline: Pipeline, X_test: pd.DataFrame, y_test: pd.Series, task: str) -> dict[str, float]:
    """Score the fitted pipeline on held-out rows.

    Classification: accuracy and macro-averaged F1 (every class counts the
    same, so a model that ignores a rare class is caught). Regression: R², MAE
    and RMSE, the last two in the target's own unit.
    """
    predicted = pipeline.predict(X_test)
    if task == CLASSIFICATION:
        metrics = {
            "accuracy": accuracy_score(y_test, predicted),
            "f1_macro": f1_score(y_test, predicted, average="macro"),
        }
    else:
        metrics = {
            "r2": r2_score(y_test, predicted),
            "mae": mean_absolute_error(y_test, predicted),
            "rmse": math.sqrt(mean_squared_error(y_test, predicted)),
        }
    return {name: round(float(value), 6) for name, value in metrics.items()}


def _prepare_target(y: pd.Series, schema: Schema) -> pd.Series:
    if schema.task == CLASSIFICATION:
        labels = y.map(label_value)
        # scikit-learn reads an object array of ints as an unknown target type.
        return labels.astype("int64" if all(isinstance(v, int) for v in schema.labels) else object)
    return pd.to_numeric(y).astype("float64")


def _split(X, y, schema, test_size, seed):
    """Hold out rows, stratified by class when every class has two rows or more."""
    stratify = None
    if schema.task == CLASSIFICATION and y.value_counts().min() >= 2:
        stratify = y
    try:
        parts = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError:
        # Too few rows for a stratified split of this size: a plain one still works.
        stratify = None
        parts = train_test_split(X, y, test_size=test_size, random_state=seed)
    return (*parts, stratify is not None)


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(sample.splitlines()[:20]), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","
