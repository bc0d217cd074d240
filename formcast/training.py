"""Build one scikit-learn Pipeline, choose it, fit it and measure it honestly.

Everything the model needs to turn a record into a prediction (imputation,
scaling, one-hot encoding and the estimator) lives inside one Pipeline, so the
app runs exactly the code that was evaluated. Rows are held out first; the
candidates are compared by cross-validation on the rest (``formcast.selection``),
the chosen one is refitted on the training part and measured once on the
held-out rows, beside a naive baseline (``formcast.evaluation``). The served
model is the one those rows measured.
"""

from __future__ import annotations

import math
import time
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
from threadpoolctl import threadpool_limits

from formcast import evaluation, fastpath, selection
from formcast.progress import Progress
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
    selection: object = None  # formcast.selection.Selection
    evaluation: dict = field(default_factory=dict)
    # The held-out rows' actual and predicted values, for the plots (not stored in the bundle).
    held_out: tuple = ()
    # The fast path's verdict (and arrays) for metadata.json: see formcast/fastpath.py.
    fast_path: dict = field(default_factory=dict)


def train(frame: pd.DataFrame, target: str, *, task: str = "auto", test_size: float = 0.2,
          seed: int = 42, model: str = "auto", time_budget: float | None = None,
          progress: Progress | None = None) -> TrainingResult:
    """Infer the schema, choose and fit the Pipeline on the training part, score it on the rest.

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
        Fixes the split, the folds and the estimator, so a rerun gives the same model.
    model : {"auto", "linear", "boosting", "forest"}, default="auto"
        ``auto`` compares the three by cross-validation; a family name uses that one.
    time_budget : float, optional
        Seconds the comparison may take (``selection.DEFAULT_TIME_BUDGET`` if not given).
    progress : Progress, optional
        Told of each candidate and fold as training goes.

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
    missing = {name: int(count) for name, count in X.isna().sum().items() if count}

    progress = progress or Progress(None)
    families = selection.FAMILIES if model == "auto" else (model,)
    # One BLAS/OpenMP thread: on small folds threads cost more than they save, and on
    # a busy machine OpenMP's spinning threads made a 0.2 s boosting fit take 10 s.
    with threadpool_limits(limits=1):
        return _select_fit_and_measure(X_train, X_test, y_train, y_test, schema, families, seed, time_budget,
                                       progress, TrainingResult(None, schema, dropped, {}, rows, stratified,
                                                                missing, notes))


def _select_fit_and_measure(X_train, X_test, y_train, y_test, schema, families, seed, time_budget, progress,
                            result: TrainingResult) -> TrainingResult:
    chosen = selection.select(X_train, y_train, schema, families=families, seed=seed,
                              time_budget=selection.DEFAULT_TIME_BUDGET if time_budget is None else time_budget,
                              progress=progress)
    pipeline = selection.build_candidate(chosen.family, schema, seed, y_train)
    progress.step(f"refitting {chosen.family} on {len(X_train)} rows")
    started = time.perf_counter()
    pipeline.fit(X_train, y_train)
    refit_seconds = time.perf_counter() - started
    progress.step("measuring on held-out rows")
    metrics = evaluate(pipeline, X_test, y_test, schema.task)
    rows_word = "row" if len(X_test) == 1 else "rows"
    result.notes += [f"{name} is undefined on {len(X_test)} held-out {rows_word}"
                     for name, v in metrics.items() if v is None]
    card = _evaluate_for_the_card(pipeline, X_train, y_train, X_test, y_test, schema, metrics, seed, progress)
    card.update(selection=chosen.to_dict(), refit_seconds=round(refit_seconds, 4))
    progress.step("checking the fast path against the Pipeline")
    result.fast_path = fastpath.check(pipeline, X_test, schema)
    if result.fast_path["used"]:  # what a request costs in the app, beside the Pipeline's cost
        fast_model = fastpath.FastModel(result.fast_path["arrays"], schema)
        card["latency"]["fast_path"] = evaluation.fast_path_latency(
            fast_model, fastpath.records_from_frame(X_test, schema))
    progress.close()
    result.pipeline, result.metrics, result.selection, result.evaluation = pipeline, metrics, chosen, card
    result.held_out = (y_test, pipeline.predict(X_test))
    return result


def _evaluate_for_the_card(pipeline, X_train, y_train, X_test, y_test, schema, metrics, seed, progress) -> dict:
    """The baseline beside the model, per-class or residual results, importance and latency."""
    baseline_model = evaluation.baseline(schema.task, X_train, y_train)
    baseline_metrics = evaluate(baseline_model, X_test, y_test, schema.task)
    card = {
        "metrics": metrics,
        "baseline": {"strategy": baseline_model.strategy, "metrics": baseline_metrics},
    }
    if all(v is not None for v in (*metrics.values(), *baseline_metrics.values())):
        card["baseline"].update(evaluation.baseline_verdict(schema.task, metrics, baseline_metrics))
    if schema.task == CLASSIFICATION:
        card.update(evaluation.classification_report(pipeline, X_test, y_test, schema))
    else:
        card.update(evaluation.regression_report(pipeline, X_test, y_test))
    progress.step("permutation importance on held-out rows")
    card["importance"] = evaluation.feature_importance(pipeline, X_test, y_test, schema.task, seed)
    progress.step("timing single-record predictions")
    card["latency"] = evaluation.single_record_latency(pipeline, X_test, schema.task)
    return card


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
