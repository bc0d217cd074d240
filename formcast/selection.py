"""Choose the model: compare candidate Pipelines by cross-validation on the training part.

The candidates are three families, cheapest first:

- ``linear``: ``training.build_pipeline``, logistic regression (balanced class
  weights) or ridge regression; the default shape that serving is tuned for;
- ``boosting``: histogram gradient boosting on ordinal-encoded categories,
  missing values handled natively; balanced class weights when the classes are
  imbalanced (see ``IMBALANCED``);
- ``forest``: a random forest (balanced class weights) on imputed, ordinal-encoded
  features.

Each is scored by k-fold cross-validation on the training rows only (the held-out
rows are never seen here) with one metric: macro-averaged F1 for a classifier
(every class counts the same, so ignoring a rare class is punished), R² for a
regressor (scale-free, so the scores read the same on any target). The best mean
wins, except that the linear model is kept whenever its mean is within one
standard error of the best: a tie in accuracy is not worth a slower, larger model.

The comparison is bounded (``time_budget``): it uses at most ``CV_MAX_ROWS``
training rows, and a candidate whose first fold shows it would end past the
budget stops there and is left out. The linear model, and a family asked for
alone, always complete.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.metrics import f1_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from formcast.progress import Progress
from formcast.schema import BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC, Schema

FAMILIES = ("linear", "boosting", "forest")
FOLDS = 5
# Cross-validation beyond this many rows sharpens the comparison little and costs
# linearly more: the candidates are compared on a seeded sample, the chosen one is
# refitted on every training row.
CV_MAX_ROWS = 10_000
DEFAULT_TIME_BUDGET = 60.0
METRIC = {CLASSIFICATION: "f1_macro", "regression": "r2"}
# Boosting gets balanced class weights when the smallest class has fewer rows than this
# share of the largest. With near-equal classes the weights are all close to 1 and change
# little, while any sample weight makes scikit-learn 1.9 bin each feature by weighted
# percentiles: 10 times slower on the breast cancer data (25 s against 2.7 s for 5 folds).
IMBALANCED = 0.5


@dataclass
class CandidateScore:
    """How one candidate did in cross-validation; ``skipped`` says why it was left out."""

    family: str
    estimator: str
    scores: list[float]
    fit_seconds: list[float]
    skipped: str | None = None
    chosen: bool = False

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.scores)) if self.scores and not self.skipped else None

    @property
    def std(self) -> float | None:
        return float(np.std(self.scores)) if self.scores and not self.skipped else None

    @property
    def standard_error(self) -> float:
        return (self.std or 0.0) / math.sqrt(len(self.scores)) if self.scores else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(cv_mean=_rounded(self.mean), cv_std=_rounded(self.std),
                    scores=[_rounded(s) for s in self.scores],
                    fit_seconds=[round(s, 4) for s in self.fit_seconds],
                    mean_fit_seconds=round(float(np.mean(self.fit_seconds)), 4) if self.fit_seconds else None)
        return data


@dataclass
class Selection:
    family: str
    metric: str
    folds: int
    cv_rows: int
    candidates: list[CandidateScore]
    rule: str

    def to_dict(self) -> dict:
        return {"chosen": self.family, "metric": self.metric, "folds": self.folds, "cv_rows": self.cv_rows,
                "rule": self.rule, "candidates": [c.to_dict() for c in self.candidates]}


def build_candidate(family: str, schema: Schema, seed: int = 42, y: pd.Series | None = None) -> Pipeline:
    """The Pipeline of one family, with steps named ``preprocess`` and ``model``.

    ``y``, the training target, tells boosting whether the classes are imbalanced.
    """
    from formcast.training import build_pipeline  # training imports this module

    if family == "linear":
        return build_pipeline(schema, seed)
    classify = schema.task == CLASSIFICATION
    if family == "boosting":
        counts = y.value_counts() if classify and y is not None else None
        weights = "balanced" if counts is not None and counts.min() < IMBALANCED * counts.max() else None
        model = (HistGradientBoostingClassifier(class_weight=weights, random_state=seed) if classify
                 else HistGradientBoostingRegressor(random_state=seed))
        preprocess = _tree_preprocess(schema, impute=False)
        n_ordered = len([f for f in schema.features if f.kind != CATEGORICAL])
        n_categorical = len(schema.features) - n_ordered
        model.set_params(categorical_features=[False] * n_ordered + [True] * n_categorical)
    elif family == "forest":
        # 100 trees, leaves of at least 3 rows: close to a fully grown forest in
        # accuracy, a fraction of its size on disk and its time to predict.
        options = dict(n_estimators=100, min_samples_leaf=3, random_state=seed, n_jobs=1)
        model = (RandomForestClassifier(class_weight="balanced", **options) if classify
                 else RandomForestRegressor(max_features=0.5, **options))
        preprocess = _tree_preprocess(schema, impute=True)
    else:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    return Pipeline([("preprocess", preprocess), ("model", model)])


def select(X: pd.DataFrame, y: pd.Series, schema: Schema, *, families=FAMILIES, seed: int = 42,
           time_budget: float = DEFAULT_TIME_BUDGET, progress: Progress | None = None) -> Selection:
    """Score each family by cross-validation on (X, y) and choose one.

    Parameters
    ----------
    X, y : the training part only.
    families : the candidates, in order; one family means no comparison is needed
        but its cross-validation score is still reported.
    time_budget : float
        Seconds the comparison may take (see the module docstring).
    progress : Progress, optional
        Told of each candidate and fold.
    """
    progress = progress or Progress(None)
    metric = METRIC[schema.task]
    X_cv, y_cv = _sample(X, y, schema, seed)
    splitter = _splitter(y_cv, schema, seed)
    deadline = time.perf_counter() + time_budget
    results = []
    for family in families:
        pipeline = build_candidate(family, schema, seed, y)
        result = CandidateScore(family, type(pipeline[-1]).__name__, [], [])
        results.append(result)
        if splitter is None:
            result.skipped = "too few rows to cross-validate"
            continue
        for fold, (fit_rows, score_rows) in enumerate(splitter.split(X_cv, y_cv), start=1):
            progress.fold(family, fold, splitter.get_n_splits())
            started = time.perf_counter()
            try:
                fitted = clone(pipeline).fit(X_cv.iloc[fit_rows], y_cv.iloc[fit_rows])
            except ValueError as error:  # a fold with a single class, say
                result.skipped = f"failed on fold {fold}: {str(error).splitlines()[0]}"
                break
            result.fit_seconds.append(time.perf_counter() - started)
            result.scores.append(_score(metric, y_cv.iloc[score_rows], fitted.predict(X_cv.iloc[score_rows])))
            remaining = splitter.get_n_splits() - fold
            projected = time.perf_counter() + remaining * (time.perf_counter() - started)
            if family != "linear" and len(families) > 1 and remaining and projected > deadline:
                result.skipped = (f"stopped after fold {fold}: the comparison would take about "
                                  f"{projected - deadline + time_budget:.0f} s, over the {time_budget:g} s budget")
                break
        progress.candidate_done(family, result.mean, result.std, result.skipped)

    family, rule = _choose(results)
    return Selection(family, metric, splitter.get_n_splits() if splitter else 0, len(X_cv), results, rule)


def _choose(results: list[CandidateScore]) -> tuple[str, str]:
    """The best mean wins; the linear model wins a tie (within one standard error of the best)."""
    scored = [r for r in results if r.mean is not None]
    if not scored:
        chosen = next((r for r in results if r.family == "linear"), results[0])
        chosen.chosen = True
        return chosen.family, "no candidate could be cross-validated: the linear model (or the one asked for) is used"
    best = max(scored, key=lambda r: r.mean)
    linear = next((r for r in scored if r.family == "linear"), None)
    rule = "highest mean cross-validation score"
    if linear is not None and linear is not best and linear.mean >= best.mean - best.standard_error:
        best = linear
        rule = (f"linear is within one standard error ({linear.mean:.4f} >= "
                f"{max(r.mean for r in scored):.4f} - SE): kept, being cheaper to serve")
    best.chosen = True
    return best.family, rule


def _tree_preprocess(schema: Schema, impute: bool) -> ColumnTransformer:
    """Numbers and booleans as they are (or imputed), categories as ordinal codes from the schema.

    Ordered columns come first and categories last, so boosting can be told which
    columns are categorical by position.
    """
    ordered = [f.name for f in schema.features if f.kind in (NUMERIC, BOOLEAN)]
    categorical = [f for f in schema.features if f.kind == CATEGORICAL]
    steps = []
    if ordered:
        kinds = {f.name: f.kind for f in schema.features}
        if impute:
            numeric = [n for n in ordered if kinds[n] == NUMERIC]
            boolean = [n for n in ordered if kinds[n] == BOOLEAN]
            if numeric:
                steps.append(("numeric", SimpleImputer(strategy="median", keep_empty_features=True), numeric))
            if boolean:
                steps.append(("boolean", SimpleImputer(strategy="most_frequent", keep_empty_features=True), boolean))
        else:
            steps.append(("ordered", "passthrough", ordered))
    if categorical:
        # A missing category is its own code when imputing, and NaN (learned natively) in boosting.
        encode = OrdinalEncoder(categories=[f.categories for f in categorical], handle_unknown="use_encoded_value",
                                unknown_value=np.nan, encoded_missing_value=np.nan, dtype=np.float64)
        if impute:
            from formcast.training import MISSING_CATEGORY

            encode = Pipeline([
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True)),
                ("encode", OrdinalEncoder(categories=[f.categories + [MISSING_CATEGORY] for f in categorical],
                                          dtype=np.float64)),
            ])
        steps.append(("categorical", encode, [f.name for f in categorical]))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)


def _sample(X, y, schema, seed):
    """At most CV_MAX_ROWS rows, stratified by class where every class allows it."""
    if len(X) <= CV_MAX_ROWS:
        return X, y
    stratify = y if schema.task == CLASSIFICATION and y.value_counts().min() >= 2 else None
    X_cv, _, y_cv, _ = train_test_split(X, y, train_size=CV_MAX_ROWS, random_state=seed, stratify=stratify)
    return X_cv, y_cv


def _splitter(y: pd.Series, schema: Schema, seed: int):
    """Stratified folds for a classifier when every class has a row in each; plain shuffled folds otherwise."""
    if schema.task == CLASSIFICATION:
        smallest = int(y.value_counts().min())
        if smallest >= 2:
            return StratifiedKFold(n_splits=min(FOLDS, smallest), shuffle=True, random_state=seed)
    if len(y) < 4:  # two folds of two rows: the least that gives a score and its spread
        return None
    return KFold(n_splits=min(FOLDS, len(y) // 2), shuffle=True, random_state=seed)


def _score(metric: str, y_true, y_pred) -> float:
    if metric == "f1_macro":
        return float(f1_score(y_true, y_pred, average="macro"))
    return float(r2_score(y_true, y_pred)) if len(y_true) > 1 else math.nan


def _rounded(value: float | None) -> float | None:
    return round(value, 6) if value is not None and math.isfinite(value) else None
