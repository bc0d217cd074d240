"""Choosing the model: cross-validation on the training rows, the linear model on a tie,
a naive baseline beside every model, reproducible runs and a bounded comparison."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from conftest import DATASETS, train_bundle
from formcast.bundle import load_bundle
from formcast.dataset import read_csv
from formcast.progress import Progress
from formcast.schema import infer_schema, prepare_frame
from formcast.selection import CandidateScore, _choose, build_candidate
from formcast.training import train

# Better means higher for these metrics and lower for the errors.
LOWER_IS_BETTER = {"mae", "rmse"}


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_each_bundled_model_beats_the_naive_baseline_on_every_metric(bundles, dataset):
    evaluation = json.loads((bundles[dataset] / "metadata.json").read_text())["evaluation"]
    model, baseline = evaluation["metrics"], evaluation["baseline"]["metrics"]

    for name, value in model.items():
        if name in LOWER_IS_BETTER:
            assert value < baseline[name], name
        else:
            assert value > baseline[name], name
    assert evaluation["baseline"]["warning"] is None
    assert evaluation["baseline"]["error_reduction"] > 0.3


def test_the_same_data_and_seed_give_the_same_model_metrics_predictions_and_plots(tmp_path):
    csv, target = DATASETS["penguins"]

    first = json.loads((train_bundle(tmp_path / "a", csv, target) / "metadata.json").read_text())
    second = json.loads((train_bundle(tmp_path / "b", csv, target) / "metadata.json").read_text())

    assert first["model_sha256"] == second["model_sha256"]  # byte-identical pickled Pipeline
    assert first["files"] == second["files"]  # byte-identical plots
    for key in ("metrics", "schema", "rows"):
        assert first[key] == second[key]
    for card in (first["evaluation"], second["evaluation"]):
        card.pop("latency"), card.pop("refit_seconds")  # timings, the only things that vary
        for candidate in card["selection"]["candidates"]:
            candidate.pop("fit_seconds"), candidate.pop("mean_fit_seconds")
    assert first["evaluation"] == second["evaluation"]


@pytest.mark.parametrize("family", ["linear", "boosting", "forest"])
def test_the_same_seed_gives_the_same_predictions_for_every_family(family):
    frame = read_csv(DATASETS["tips"][0])
    schema, _ = infer_schema(frame, "tip")
    X, y = prepare_frame(frame, schema), frame["tip"]

    with threadpool_limits(limits=1):  # as train() fits them
        once, twice = (build_candidate(family, schema, seed=5, y=y).fit(X, y).predict(X) for _ in range(2))

    assert np.array_equal(once, twice)


def score(family, mean, spread, folds=5):
    """A candidate whose fold scores have this mean and population std."""
    return CandidateScore(family, family, [mean + spread * (-1) ** i for i in range(folds - 1)] + [mean], [0.1] * folds)


@pytest.mark.parametrize("linear_mean, chosen", [
    (0.91, "linear"),    # within one standard error (0.02) of the best (0.92): kept, being cheaper
    (0.80, "boosting"),  # clearly behind
    (0.95, "linear"),    # simply the best
])
def test_the_linear_model_wins_a_tie(linear_mean, chosen):
    candidates = [score("linear", linear_mean, 0.01), score("boosting", 0.92, 0.05), score("forest", 0.85, 0.01)]

    family, rule = _choose(candidates)

    assert family == chosen
    assert [c.family for c in candidates if c.chosen] == [chosen]
    assert ("standard error" in rule) == (chosen == "linear" and linear_mean < 0.92)


def xor_table(n=400, seed=0) -> pd.DataFrame:
    """A class no straight line separates: the sign of a product."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return pd.DataFrame({"a": a, "b": b, "y": np.where(a * b > 0, "same", "opposite")})


def test_a_tree_model_is_chosen_where_a_linear_one_cannot_learn():
    result = train(xor_table(), "y")

    assert result.selection.family in ("boosting", "forest")
    assert result.metrics["accuracy"] > 0.9
    linear = next(c for c in result.selection.candidates if c.family == "linear")
    assert linear.mean < 0.7


def test_a_forced_family_is_the_only_candidate_and_the_model_served():
    result = train(xor_table(), "y", model="forest")

    assert [c.family for c in result.selection.candidates] == ["forest"]
    assert type(result.pipeline.named_steps["model"]).__name__ == "RandomForestClassifier"
    assert list(result.pipeline.named_steps) == ["preprocess", "model"]


def test_the_linear_pipeline_keeps_the_shape_serving_relies_on(penguin_bundle):
    pipeline = load_bundle(penguin_bundle).pipeline  # chosen by cross-validation

    assert list(pipeline.named_steps) == ["preprocess", "model"]
    assert [name for name, _, _ in pipeline.named_steps["preprocess"].transformers] == ["numeric", "categorical"]
    assert type(pipeline.named_steps["model"]).__name__ == "LogisticRegression"
    assert pipeline.named_steps["model"].class_weight == "balanced"


def test_a_tiny_time_budget_stops_the_slower_candidates_after_one_fold():
    result = train(read_csv(DATASETS["tips"][0]), "tip", time_budget=0.001)

    linear, *others = result.selection.candidates
    assert len(linear.scores) == 5 and linear.skipped is None  # the linear model always completes
    for candidate in others:
        assert len(candidate.scores) == 1 and "budget" in candidate.skipped
    assert result.selection.family == "linear"


def test_a_model_that_cannot_beat_the_baseline_is_flagged():
    rng = np.random.default_rng(1)
    noise = pd.DataFrame({"x": rng.normal(size=300), "y": rng.choice(["a", "b"], size=300, p=[0.8, 0.2])})

    result = train(noise, "y", model="linear")

    assert "barely beats the naive baseline" in result.evaluation["baseline"]["warning"]


class Terminal(io.StringIO):
    """Output that says it is a terminal, as sys.stdout does in an interactive shell."""

    def isatty(self):
        return True


def test_progress_is_one_live_line_on_a_terminal_and_plain_lines_in_a_log():
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(stream)
        progress.fold("boosting", 1, 5)
        progress.fold("boosting", 2, 5)
        progress.candidate_done("boosting", 0.9, 0.01, None)

    assert "\r" not in log.getvalue() and len(log.getvalue().splitlines()) == 3
    assert "boosting: fold 2/5" in log.getvalue()
    assert terminal.getvalue().count("\r") == 3 and terminal.getvalue().count("\n") == 1
