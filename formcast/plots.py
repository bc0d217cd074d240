"""Draw the model card's plots at training time, as PNG bytes for the bundle.

matplotlib is a training-time dependency only (requirements-train.txt): the
app serves the PNG files from the bundle and never imports this module. It
uses the Agg backend, so no display is needed.

- classification: the confusion matrix of the held-out rows;
- regression: predicted against actual, and residuals against predicted;
- both: permutation importance of each input feature.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from formcast.schema import CLASSIFICATION  # noqa: E402

DPI = 100
# The same metadata on every run (matplotlib stamps its version and no date here), so
# the same training gives byte-identical PNG files.
PNG_METADATA = {"Software": None}


def draw_card_plots(task: str, evaluation: dict, actual, predicted) -> list[dict]:
    """Each plot as ``{"name", "title", "alt", "png"}``; ``name`` becomes part of its file name."""
    plots = []
    if task == CLASSIFICATION:
        plots.append(_confusion_matrix(evaluation["labels"], evaluation["confusion_matrix"]))
    else:
        plots += [_predicted_vs_actual(np.asarray(actual, float), np.asarray(predicted, float)),
                  _residuals(np.asarray(actual, float), np.asarray(predicted, float))]
    if evaluation["importance"]["features"]:
        plots.append(_importance(evaluation["importance"]))
    return plots


def _confusion_matrix(labels: list, matrix: list[list[int]]) -> dict:
    counts = np.asarray(matrix)
    size = max(3.6, 1.0 + 0.7 * len(labels))
    figure, axes = plt.subplots(figsize=(size + 1.2, size))
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    names = [_short(label) for label in labels]
    crowded = len(labels) > 4  # slant long rows of class names so they do not overlap
    axes.set_xticks(range(len(labels)), names, rotation=45 if crowded else 0, ha="right" if crowded else "center")
    axes.set_yticks(range(len(labels)), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("actual class")
    axes.set_title("Confusion matrix (held-out rows)")
    if len(labels) <= 12:  # a number in every cell while they stay readable
        threshold = counts.max() / 2 if counts.size else 0
        for (row, column), count in np.ndenumerate(counts):
            axes.text(column, row, str(count), ha="center", va="center",
                      color="white" if count > threshold else "black")
    return _finish(figure, "confusion-matrix", "Confusion matrix",
                   "Confusion matrix of the held-out rows: actual class by row, predicted class by column")


def _predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray) -> dict:
    figure, axes = plt.subplots(figsize=(4.4, 4.1))
    axes.scatter(actual, predicted, s=14, alpha=0.7, color="#2a6fb0", edgecolors="none")
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    axes.plot([low, high], [low, high], color="#888", linestyle="--", linewidth=1, label="perfect prediction")
    axes.set_xlabel("actual")
    axes.set_ylabel("predicted")
    axes.set_title("Predicted against actual (held-out rows)")
    axes.legend(loc="upper left", frameon=False)
    return _finish(figure, "predicted-vs-actual", "Predicted against actual",
                   "Scatter plot of predicted against actual values on the held-out rows, "
                   "with the diagonal of perfect prediction")


def _residuals(actual: np.ndarray, predicted: np.ndarray) -> dict:
    figure, axes = plt.subplots(figsize=(4.4, 4.1))
    axes.scatter(predicted, actual - predicted, s=14, alpha=0.7, color="#2a6fb0", edgecolors="none")
    axes.axhline(0, color="#888", linestyle="--", linewidth=1)
    axes.set_xlabel("predicted")
    axes.set_ylabel("residual (actual − predicted)")
    axes.set_title("Residuals (held-out rows)")
    return _finish(figure, "residuals", "Residuals",
                   "Scatter plot of residuals (actual minus predicted) against predicted values on the held-out rows")


def _importance(importance: dict) -> dict:
    features = importance["features"][:20][::-1]  # the 20 most important, largest at the top
    figure, axes = plt.subplots(figsize=(6.4, 1.2 + 0.32 * len(features)))
    axes.barh([_short(f["feature"]) for f in features], [f["mean"] for f in features],
              xerr=[f["std"] for f in features], color="#2a6fb0", ecolor="#555", capsize=2)
    axes.axvline(0, color="#888", linewidth=1)
    axes.set_xlabel(f"drop in {importance['scoring']} when the feature is shuffled")
    axes.set_title("Permutation importance (held-out rows)")
    return _finish(figure, "importance", "Feature importance",
                   "Bar chart of each input feature's permutation importance on the held-out rows")


def _finish(figure, name: str, title: str, alt: str) -> dict:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    plt.close(figure)
    return {"name": name, "title": title, "alt": alt, "png": buffer.getvalue()}


def _short(label, width: int = 24) -> str:
    text = str(label)
    return text if len(text) <= width else text[: width - 1] + "…"
