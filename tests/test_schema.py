"""How a CSV becomes a schema: the task, each feature's kind, and the columns left out."""

import math

import numpy as np
import pandas as pd
import pytest

from formcast.schema import (
    BOOLEAN, CATEGORICAL, CLASSIFICATION, NUMERIC, REGRESSION, SchemaError, infer_schema, prepare_frame,
    records_to_frame,
)


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def kinds(schema) -> dict[str, str]:
    return {feature.name: feature.kind for feature in schema.features}


N = 30  # rows in each small example: enough for the identifier rules to apply


@pytest.mark.parametrize("target, task, labels", [
    (["cat", "dog"] * (N // 2), CLASSIFICATION, ["cat", "dog"]),
    ([0, 1] * (N // 2), CLASSIFICATION, [0, 1]),                      # a 0/1 code is a class, not a number
    ([True, False] * (N // 2), CLASSIFICATION, ["False", "True"]),
    ([1.0, 2.0, 3.0] * (N // 3), CLASSIFICATION, [1, 2, 3]),          # whole numbers stored as float
    ([i * 1.5 for i in range(N)], REGRESSION, []),
    (list(range(N)), REGRESSION, []),                                  # too many values to be classes
])
def test_the_task_follows_the_target(target, task, labels):
    schema, _ = infer_schema(frame(x=np.arange(N) % 7 * 1.1, y=target), "y")

    assert schema.task == task
    assert schema.labels == labels


def test_each_column_gets_a_kind():
    data = frame(
        length=np.linspace(1, 2, N),
        colour=["red", "green", "blue"] * (N // 3),
        active=["true", "False"] * (N // 2),
        flag=[True, False, True] * (N // 3),
        y=[0, 1] * (N // 2),
    )

    schema, dropped = infer_schema(data, "y")

    assert kinds(schema) == {"length": NUMERIC, "colour": CATEGORICAL, "active": BOOLEAN, "flag": BOOLEAN}
    assert dropped == []
    colour = schema.features[1]
    assert colour.categories == ["blue", "green", "red"] and colour.typical in colour.categories


@pytest.mark.parametrize("column, values, reason", [
    ("id", list(range(100, 100 + N)), "row identifier"),
    ("row", list(range(N)), "row identifier"),
    ("name", [f"person {i}" for i in range(N)], "identifier or free text"),
    ("note", [f"note {i % 60}" for i in range(N * 4)][:N], "identifier or free text"),
    ("constant", [7] * N, "single value"),
    ("empty", [None] * N, "every value is missing"),
])
def test_columns_that_cannot_help_are_dropped_with_a_reason(column, values, reason):
    schema, dropped = infer_schema(frame(x=np.arange(N) % 5 * 1.0, **{column: values}, y=[0, 1] * (N // 2)), "y")

    assert column not in schema.feature_names
    [left_out] = dropped
    assert left_out.column == column and reason in left_out.reason


def test_text_with_too_many_distinct_values_is_free_text():
    many = [f"word{i % 80}" for i in range(160)]

    _, dropped = infer_schema(frame(text=many, x=np.arange(160) % 9, y=[0, 1] * 80), "y")

    assert [d.column for d in dropped] == ["text"] and "free text" in dropped[0].reason


def test_a_feature_with_missing_values_is_nullable_and_records_its_range():
    schema, _ = infer_schema(frame(x=[1.0, None, 3.0, 2.0] * 5, y=[0, 1] * 10), "y")

    [x] = schema.features
    assert x.nullable is True
    assert (x.minimum, x.maximum, x.typical) == (1, 3, 2)


@pytest.mark.parametrize("target, message", [
    (["same"] * N, "single value"),
])
def test_a_target_that_cannot_be_learned_is_refused(target, message):
    with pytest.raises(SchemaError, match=message):
        infer_schema(frame(x=np.arange(N) * 1.0, y=target), "y")


def test_a_text_target_cannot_be_a_regression():
    with pytest.raises(SchemaError, match="not numeric"):
        infer_schema(frame(x=np.arange(N) * 1.0, y=["a", "b"] * (N // 2)), "y", task=REGRESSION)


def test_nothing_left_to_learn_from_is_refused_with_the_reasons():
    with pytest.raises(SchemaError, match="no column is left.*id: it looks like a row identifier"):
        infer_schema(frame(id=range(N), y=[0, 1] * (N // 2)), "y")


def test_prepared_frame_follows_schema_order_and_types_not_input_order():
    schema, _ = infer_schema(frame(a=np.arange(N) * 1.0, b=["x", "y", "z"] * (N // 3),
                                   c=["true", "false"] * (N // 2), y=[0, 1] * (N // 2)), "y")

    prepared = records_to_frame([{"c": False, "b": " y ", "a": 2}], schema)

    assert list(prepared.columns) == ["a", "b", "c"]
    assert prepared.iloc[0].tolist() == [2.0, "y", 0.0]  # categories are stripped of surrounding spaces


def test_missing_values_become_nan_in_every_kind():
    schema, _ = infer_schema(frame(a=[1.0, None] * (N // 2), b=["x", None, "y"] * (N // 3),
                                   c=[True, None, False] * (N // 3), y=[0, 1] * (N // 2)), "y")

    prepared = prepare_frame(pd.DataFrame([{"a": None, "b": None, "c": None}]), schema)

    assert all(isinstance(v, float) and math.isnan(v) for v in prepared.iloc[0])


def test_schema_round_trips_through_a_dict():
    schema, _ = infer_schema(frame(a=np.arange(N) * 1.0, b=["x", "y"] * (N // 2), y=["p", "q"] * (N // 2)), "y")

    assert type(schema).from_dict(schema.to_dict()) == schema


def test_infinity_in_a_numeric_column_is_read_as_missing():
    schema, _ = infer_schema(frame(x=[1.0, np.inf, 3.0, 2.0] * 5, y=[0, 1] * 10), "y")

    [x] = schema.features
    assert (x.maximum, x.nullable) == (3, True)
    assert math.isnan(prepare_frame(pd.DataFrame({"x": [np.inf]}), schema)["x"].iloc[0])


def test_a_distinct_whole_number_column_is_kept_unless_it_counts_rows_or_is_named_like_an_id():
    years = list(range(2000, 2000 + N))

    schema, dropped = infer_schema(frame(year=years, y=[0, 1] * (N // 2)), "y")

    assert schema.feature_names == ["year"] and dropped == []


def test_labels_of_a_numeric_target_are_all_numbers_or_all_text():
    schema, _ = infer_schema(frame(x=np.arange(N) % 4 * 1.0, y=[1, 1.5, 2, 2.5, 3] * (N // 5)), "y",
                             task=CLASSIFICATION)

    assert schema.labels == ["1", "1.5", "2", "2.5", "3"]
