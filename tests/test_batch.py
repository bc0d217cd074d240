"""Scoring a CSV file: formcast.batch on its own, and POST /predict with Content-Type text/csv.

The upload's own values and extra columns come back unchanged, with prediction
columns added; a bad row gets its message in the error column; a file the
model cannot use at all is refused with a message naming what is wrong.
"""

import csv
import io

import pytest

from conftest import DATASETS, PENGUIN
from formcast.batch import BatchError, score_csv
from formcast.bundle import load_bundle
from formcast.predictor import Predictor
from formcast.web import create_app

FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]
PROBABILITIES = ["probability_Adelie", "probability_Chinstrap", "probability_Gentoo"]


@pytest.fixture(scope="module")
def predictor(penguin_bundle):
    return Predictor(load_bundle(penguin_bundle))


def penguin_csv(*rows: dict, extra: str | None = None, delimiter: str = ",") -> bytes:
    """A CSV of penguin records, with an optional extra column holding each row's number."""
    names = FEATURES + ([extra] if extra else [])
    lines = [delimiter.join(names)]
    for number, row in enumerate(rows):
        values = [str(row.get(name, "")) for name in FEATURES] + ([f"row-{number}"] if extra else [])
        lines.append(delimiter.join(values))
    return ("\n".join(lines) + "\n").encode()


def read(text: str, delimiter: str = ",") -> list[dict]:
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def test_each_row_gets_a_prediction_and_a_probability_per_class(predictor):
    scored = score_csv(penguin_csv(PENGUIN, {**PENGUIN, "island": "Biscoe", "bill_depth_mm": 14.2,
                                             "flipper_length_mm": 220, "body_mass_g": 5300}), predictor)

    assert scored.header == FEATURES + ["prediction", *PROBABILITIES, "warnings", "error"]
    rows = read(scored.to_csv())
    assert [row["prediction"] for row in rows] == ["Adelie", "Gentoo"]
    assert all(abs(sum(float(row[name]) for name in PROBABILITIES) - 1) < 1e-5 for row in rows)
    assert (scored.scored, scored.failed) == (2, 0)


def test_the_training_csv_itself_is_scored_with_its_extra_column_passed_through(predictor):
    path, target = DATASETS["penguins"]

    rows = read(score_csv(path.read_bytes(), predictor).to_csv())

    original = read(path.read_text())
    assert len(rows) == len(original)
    assert all(row[name] == before[name] for row, before in zip(rows, original) for name in before)  # as typed
    correct = sum(row["prediction"] == row[target] for row in rows)
    assert correct / len(rows) > 0.9


def test_a_bad_row_gets_its_message_in_the_error_column_and_the_others_are_scored(predictor):
    data = penguin_csv(PENGUIN, {**PENGUIN, "island": "Atlantis", "body_mass_g": "heavy"}, PENGUIN, extra="tag")

    scored = score_csv(data, predictor)

    rows = read(scored.to_csv())
    assert [row["tag"] for row in rows] == ["row-0", "row-1", "row-2"]
    assert rows[1]["prediction"] == "" and rows[1]["probability_Adelie"] == ""
    assert "island: is not a known category" in rows[1]["error"]
    assert 'body_mass_g: must be a number, got "heavy"' in rows[1]["error"]
    assert rows[1]["body_mass_g"] == "heavy"  # kept as typed
    assert [rows[0]["error"], rows[2]["prediction"]] == ["", "Adelie"]
    assert (scored.scored, scored.failed) == (2, 1)
    assert [number for number, _ in scored.errors(limit=5)] == [2]  # counted from 1, under the header


def test_missing_markers_are_filled_in_and_out_of_range_values_warned_about(predictor):
    data = penguin_csv({**PENGUIN, "sex": "NA", "bill_length_mm": ""}, {**PENGUIN, "body_mass_g": 9000})

    rows = read(score_csv(data, predictor).to_csv())

    assert rows[0]["sex"] == "NA" and rows[0]["error"] == ""
    assert "sex: missing" in rows[0]["warnings"] and "bill_length_mm: missing" in rows[0]["warnings"]
    assert "outside the training range" in rows[1]["warnings"]


def test_a_semicolon_file_with_decimal_commas_and_a_bom_is_answered_in_its_own_format(predictor):
    data = "\ufeff" + "island;bill_length_mm;bill_depth_mm;flipper_length_mm;body_mass_g;sex;year\n" \
                      "Torgersen;39,1;18,7;181;3750;male;2007\n"

    scored = score_csv(data.encode(), predictor)

    row = read(scored.to_csv(), delimiter=";")[0]
    assert row["bill_length_mm"] == "39,1" and row["prediction"] == "Adelie"
    assert "," in row["probability_Adelie"] and row["error"] == ""


def test_a_regression_row_gets_its_value(bundles):
    predictor = Predictor(load_bundle(bundles["tips"]))
    data = b"total_bill,sex,smoker,day,time,size\n24.5,Male,No,Sun,Dinner,3\n"

    scored = score_csv(data, predictor)

    assert scored.added == ["prediction", "warnings", "error"]
    assert float(read(scored.to_csv())[0]["prediction"]) > 0


def test_our_column_names_never_replace_a_column_of_the_upload(predictor):
    once = score_csv(penguin_csv(PENGUIN), predictor).to_csv()

    again = score_csv(once.encode(), predictor)

    assert again.added[0] == "prediction_2" and again.header.count("prediction") == 1


def test_a_row_with_too_many_or_too_few_values_gets_an_error(predictor):
    good = ",".join(str(PENGUIN[name]) for name in FEATURES)
    data = f"{','.join(FEATURES)}\n{good}\n{good},surprise\nTorgersen,39.1\n".encode()

    rows = read(score_csv(data, predictor).to_csv())

    assert rows[0]["error"] == ""
    assert "8 values; the header has 7 columns" in rows[1]["error"]
    assert "2 values; the header has 7 columns" in rows[2]["error"]


@pytest.mark.parametrize("data, status, words", [
    (b"", 400, "empty"),
    (b"\xff\xfe\x00a", 400, "not UTF-8"),
    (",".join(FEATURES).encode() + b"\n", 400, "no data rows"),
    (b"island,island,year\nDream,Dream,2008\n", 400, "more than one column named 'island'"),
    (b"island,year,note\nDream,2008,x\n", 422,
     "lacks the columns 'bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g', 'sex'"),
])
def test_a_file_that_cannot_be_scored_is_refused_with_the_reason(predictor, data, status, words):
    with pytest.raises(BatchError, match=words) as raised:
        score_csv(data, predictor)
    assert raised.value.status == status


def test_a_file_over_the_row_limit_is_refused(predictor):
    with pytest.raises(BatchError, match="3 rows; at most 2") as raised:
        score_csv(penguin_csv(PENGUIN, PENGUIN, PENGUIN), predictor, max_rows=2)
    assert raised.value.status == 413


# The same through the API: POST /predict with Content-Type text/csv.

def test_the_api_answers_a_csv_with_a_csv(client):
    response = client.post("/predict", data=penguin_csv(PENGUIN, {**PENGUIN, "year": "soon"}, extra="id"),
                           content_type="text/csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = read(response.get_data(as_text=True))
    assert [(row["id"], row["prediction"]) for row in rows] == [("row-0", "Adelie"), ("row-1", "")]
    assert 'year: must be a number, got "soon"' in rows[1]["error"]


def test_the_api_refuses_a_csv_without_the_feature_columns_as_problem_json(client):
    response = client.post("/predict", data=b"island,year\nDream,2008\n", content_type="text/csv; charset=utf-8")

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "'bill_length_mm'" in response.get_json()["detail"]


def test_the_api_applies_the_record_limit_to_csv_rows(penguin_bundle):
    client = create_app({"TESTING": True, "MODEL_DIR": str(penguin_bundle), "MAX_RECORDS": 2}).test_client()

    response = client.post("/predict", data=penguin_csv(PENGUIN, PENGUIN, PENGUIN), content_type="text/csv")

    assert response.status_code == 413
    assert "at most 2" in response.get_json()["detail"]


def test_the_415_message_lists_both_accepted_types(client):
    response = client.post("/predict", data="x", content_type="text/plain")

    assert response.status_code == 415
    assert "application/json or text/csv" in response.get_json()["detail"]
