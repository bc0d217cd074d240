"""The model card's numbers: the model beside a naive baseline, per-class results,
feature importance and what one prediction costs.

Everything here is measured on the held-out rows, once, after the model was
chosen and refitted on the training part. The numbers are plain JSON values,
stored under ``metadata.json``'s ``"evaluation"`` key; plots are drawn from the
same numbers by ``formcast.plots``.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from threadpoolctl import threadpool_limits

from formcast.schema import CLASSIFICATION, Schema, json_value

# The model "barely beats" the baseline when it removes less than this share of
# the baseline's error: classification error (1 - accuracy), or mean absolute error.
BARELY_BEATS = 0.10
# Permutation importance: enough rows and repeats to rank the features, bounded
# so that a wide 50,000-row file costs seconds, not minutes.
IMPORTANCE_MAX_ROWS = 1000
IMPORTANCE_REPEATS = 5
LATENCY_CALLS = 200


def baseline(task: str, X_train: pd.DataFrame, y_train: pd.Series):
    """The naive model the real one must beat: the most frequent class, or the mean."""
    dummy = DummyClassifier(strategy="most_frequent") if task == CLASSIFICATION else DummyRegressor(strategy="mean")
    return dummy.fit(X_train, y_train)


def baseline_verdict(task: str, metrics: dict, baseline_metrics: dict) -> dict:
    """How much of the baseline's error the model removes, and a warning when it is too little."""
    if task == CLASSIFICATION:
        name = "classification error"
        model_error, baseline_error = 1 - metrics["accuracy"], 1 - baseline_metrics["accuracy"]
    else:
        name = "mean absolute error"
        model_error, baseline_error = metrics["mae"], baseline_metrics["mae"]
    reduction = 1 - model_error / baseline_error if baseline_error > 0 else 0.0
    warning = None
    if reduction < BARELY_BEATS:
        warning = (f"the model barely beats the naive baseline: it removes {reduction:.0%} of the baseline's "
                   f"{name} (less than {BARELY_BEATS:.0%}); it may not be worth deploying")
    return {"error_measure": name, "error_reduction": round(reduction, 6), "threshold": BARELY_BEATS,
            "warning": warning}


def classification_report(pipeline, X_test: pd.DataFrame, y_test: pd.Series, schema: Schema) -> dict:
    """Confusion matrix (rows: actual, columns: predicted) and precision, recall, F1 per class."""
    labels = list(pipeline.classes_)
    predicted = pipeline.predict(X_test)
    matrix = confusion_matrix(y_test, predicted, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(y_test, predicted, labels=labels,
                                                                     zero_division=0)
    return {
        "labels": [json_value(label) for label in labels],
        "confusion_matrix": matrix.tolist(),
        "per_class": [
            {"label": json_value(label), "precision": round(float(p), 6), "recall": round(float(r), 6),
             "f1": round(float(f), 6), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        ],
    }


def regression_report(pipeline, X_test: pd.DataFrame, y_test: pd.Series) -> dict:
    """A summary of the residuals (actual minus predicted) on held-out rows."""
    residuals = np.asarray(y_test, dtype=float) - pipeline.predict(X_test)
    return {"residuals": {"mean": round(float(residuals.mean()), 6),
                          "std": round(float(residuals.std()), 6),
                          "p5": round(float(np.percentile(residuals, 5)), 6),
                          "p95": round(float(np.percentile(residuals, 95)), 6)}}


def feature_importance(pipeline, X_test: pd.DataFrame, y_test: pd.Series, task: str, seed: int) -> dict:
    """Permutation importance of each input feature on (at most IMPORTANCE_MAX_ROWS) held-out rows.

    Shuffling one input column and measuring how much the score drops works for
    any model and speaks in the user's own columns, not in one-hot codes.
    """
    if len(X_test) > IMPORTANCE_MAX_ROWS:
        X_test = X_test.sample(IMPORTANCE_MAX_ROWS, random_state=seed)
        y_test = y_test.loc[X_test.index]
    scoring = "f1_macro" if task == CLASSIFICATION else "r2"
    if len(X_test) < 2:
        return {"scoring": scoring, "rows": len(X_test), "repeats": 0, "features": []}
    result = permutation_importance(pipeline, X_test, y_test, scoring=scoring, n_repeats=IMPORTANCE_REPEATS,
                                    random_state=seed, n_jobs=1)
    features = [{"feature": name, "mean": round(float(mean), 6), "std": round(float(std), 6)}
                for name, mean, std in zip(X_test.columns, result.importances_mean, result.importances_std)]
    features.sort(key=lambda f: -f["mean"])
    return {"scoring": scoring, "rows": len(X_test), "repeats": IMPORTANCE_REPEATS, "features": features}


def single_record_latency(pipeline, X_test: pd.DataFrame, task: str, calls: int = LATENCY_CALLS) -> dict:
    """Median and 90th percentile time of one single-row prediction by the Pipeline.

    BLAS and OpenMP are held to one thread, as in each gunicorn worker; a few
    calls first warm the caches up.
    """
    predict = pipeline.predict_proba if task == CLASSIFICATION else pipeline.predict
    return _latency(predict, [X_test.iloc[[i % len(X_test)]] for i in range(calls)])


def fast_path_latency(fast_model, records: list[dict], calls: int = LATENCY_CALLS) -> dict:
    """The same measure for the fast path (``formcast.fastpath``), which the app uses where it agrees."""
    return _latency(fast_model.predict_one, [records[i % len(records)] for i in range(calls)])


def _latency(predict, rows: list) -> dict:
    calls = len(rows)
    timings = []
    with threadpool_limits(limits=1):
        for row in rows[:10]:
            predict(row)
        for row in rows:
            started = time.perf_counter()
            predict(row)
            timings.append(time.perf_counter() - started)
    timings.sort()
    return {"calls": calls, "threads": 1,
            "median_ms": round(statistics.median(timings) * 1000, 4),
            "p90_ms": round(timings[math.ceil(0.9 * len(timings)) - 1] * 1000, 4)}
