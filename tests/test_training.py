"""Fitting and measuring: the split keeps every class learnable, and the model is the measured one."""

import pandas as pd
import pytest

from formcast.bundle import write_bundle, load_bundle
from formcast.training import TrainingError, train


def table(n: int, labels) -> pd.DataFrame:
    return pd.DataFrame({"x": [i % 10 * 1.0 for i in range(n)], "c": [("red", "blue")[i % 2] for i in range(n)],
                         "y": [labels[i % len(labels)] for i in range(n)]})


def test_a_class_with_one_row_is_learned_and_the_bundle_loads(tmp_path):
    data = table(40, ["yes", "no"])
    data.loc[3, "y"] = "rare"

    for seed in range(6):  # whichever rows the split holds out
        result = train(data, "y", seed=seed, model="linear")  # the split is the point, not the choice

        assert result.schema.labels == ["no", "rare", "yes"]
        assert any("single row" in note for note in result.notes)
        assert result.stratified  # one rare class does not turn stratification off for the others
        write_bundle(tmp_path, result.pipeline, {"schema": result.schema.to_dict()})
        assert load_bundle(tmp_path).schema.labels == ["no", "rare", "yes"]


def test_a_class_the_split_held_out_entirely_is_moved_back_to_training():
    data = table(20, [f"k{i}" for i in range(8)])  # 8 classes of 2-3 rows, 4 held-out rows

    result = train(data, "y", seed=3)

    assert list(result.pipeline.classes_) == result.schema.labels


def test_every_class_with_a_single_row_is_refused():
    with pytest.raises(TrainingError, match="every class has a single row"):
        train(table(15, [f"k{i}" for i in range(15)]), "y")


def test_a_metric_undefined_on_the_held_out_rows_is_none_not_nan():
    data = pd.DataFrame({"x": [float(i) for i in range(12)], "y": [2.0 * i + 0.5 for i in range(12)]})

    result = train(data, "y", test_size=0.05)  # a single held-out row: R² is undefined

    assert result.metrics["r2"] is None and result.metrics["mae"] is not None
    assert any("r2 is undefined" in note for note in result.notes)


def test_rows_with_an_infinite_target_are_dropped_like_missing_ones():
    data = pd.DataFrame({"x": [float(i) for i in range(30)], "y": [i * 1.5 for i in range(30)]})
    data.loc[0, "y"] = float("inf")

    result = train(data, "y")

    assert result.rows["missing_target"] == 1


def test_the_same_data_and_seed_give_the_same_model():
    data = table(60, ["yes", "no", "maybe"])

    first, second = train(data, "y", seed=7), train(data, "y", seed=7)

    assert first.metrics == second.metrics
    probe = first.pipeline[:-1].transform(pd.DataFrame({"x": [3.0], "c": ["red"]}))
    assert (first.pipeline[-1].predict_proba(probe) == second.pipeline[-1].predict_proba(probe)).all()
