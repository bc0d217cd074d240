"""Score a whole CSV file: the bytes of an upload in, the same table with predictions out.

The batch page (``POST /batch``) and the API (``POST /predict`` with
``Content-Type: text/csv``) both call ``score_csv``. A file is read with the
training rules of ``formcast.dataset`` where they fit (delimiter among
``, ; tab |``, a UTF-8 byte order mark, the ``MISSING_MARKERS``, a decimal comma
in a file not separated by commas), and every row goes through the same
validator and predictor as one record of the JSON API.

What a user gets back:

- every column and value of the upload exactly as typed, extra columns included
  (an ID, the true answer, a note), in the same order and with the same delimiter;
- then ``prediction``, one ``probability_<class>`` column per class for a
  classifier, ``warnings`` (values outside the training range, values the model
  filled in) and ``error``;
- a row that cannot be scored keeps its values, gets its problems in ``error``
  and leaves the prediction columns empty: one bad row never fails the file.

The file as a whole is refused (``BatchError``, with an HTTP status) only when
it cannot be read as a table, lacks a feature column, or has too many rows.

Example
-------
>>> scored = score_csv(Path("new_penguins.csv").read_bytes(), predictor)  # doctest: +SKIP
>>> scored.header[-5:]                                                    # doctest: +SKIP
['prediction', 'probability_Adelie', 'probability_Chinstrap', 'probability_Gentoo', 'warnings', 'error']
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass

from formcast.dataset import MISSING_MARKERS, sniff_dialect
from formcast.predictor import PredictionError, Predictor
from formcast.schema import BOOLEAN, NUMERIC, Feature
from formcast.validation import Problem

_SAMPLE_CHARS = 64 * 1024
_MISSING = set(MISSING_MARKERS)
# "1,234" or "12,345.5" in a comma-separated file: a thousands separator, as training reads it.
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d*)?$")


class BatchError(ValueError):
    """The file cannot be scored at all; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ScoredTable:
    """The upload's table with the prediction columns added.

    ``header`` and ``rows`` hold text, ready to write; ``added`` names the
    columns this module appended; ``failed`` counts rows with an error.
    """

    header: list[str]
    rows: list[list[str]]
    added: list[str]
    failed: int
    delimiter: str = ","

    @property
    def scored(self) -> int:
        return len(self.rows) - self.failed

    def errors(self, limit: int) -> list[tuple[int, str]]:
        """The first ``limit`` failed rows as (row number counting from 1 under the header, message)."""
        found = [(number, row[-1]) for number, row in enumerate(self.rows, start=1) if row[-1]]
        return found[:limit]

    def to_csv(self) -> str:
        """The table as CSV text, with the upload's delimiter."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return out.getvalue()


def score_csv(data: bytes, predictor: Predictor, max_rows: int | None = None) -> ScoredTable:
    """Read a CSV upload and predict for each of its rows.

    Parameters
    ----------
    data : bytes
        The file as uploaded: UTF-8 text with a header row.
    predictor : Predictor
        The served model; its schema names the columns the file must have.
    max_rows : int, optional
        Refuse a file with more data rows than this (status 413).

    Returns
    -------
    ScoredTable

    Raises
    ------
    BatchError
        400 if the file is not a readable CSV (not UTF-8, empty, no data rows,
        two columns of one name), 422 if a feature column is missing (the
        message names them all), 413 if it has more than ``max_rows`` rows.
    """
    text = _decode(data)
    delimiter, decimal = sniff_dialect(text[:_SAMPLE_CHARS])
    lines = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                                       skipinitialspace=True) if row]  # a blank line is no row
    if not lines:
        raise BatchError(400, "the file is empty: expected a CSV with a header row and data rows")
    header, rows = _header(lines[0]), lines[1:]
    missing = [name for name in predictor.schema.feature_names if name not in header]
    if missing:
        needed = ", ".join(map(repr, predictor.schema.feature_names))
        raise BatchError(422, f"the file lacks the column{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(map(repr, missing))}; the model needs each of {needed} "
                              f"(other columns are kept as they are)")
    if not rows:
        raise BatchError(400, "the file has a header but no data rows")
    if max_rows is not None and len(rows) > max_rows:
        raise BatchError(413, f"the file has {len(rows)} rows; at most {max_rows} are scored at once, "
                              f"so split it into several files")
    return _Scorer(predictor, header, delimiter, decimal).score(rows)


class _Scorer:
    """Score the rows of one file; keeps the column positions and the number format."""

    def __init__(self, predictor: Predictor, header: list[str], delimiter: str, decimal: str):
        self.predictor, self.header, self.delimiter, self.decimal = predictor, header, delimiter, decimal
        self.position = {name: header.index(name) for name in predictor.schema.feature_names}
        labels = predictor.schema.labels if predictor.is_classifier else []
        self.added = _unique(["prediction", *[f"probability_{label}" for label in labels], "warnings", "error"],
                             header)

    def score(self, rows: list[list[str]]) -> ScoredTable:
        width = len(self.header)
        errors: dict[int, list[str]] = {}
        records: dict[int, dict] = {}
        for number, row in enumerate(rows):
            if len(row) > width and not any(value.strip() for value in row[width:]):
                row = row[:width]  # a trailing delimiter on each row is no extra column
            if len(row) != width:
                errors[number] = [f"the row has {len(row)} values; the header has {width} columns"]
                continue
            records[number], problems = self._record(row)
            if problems:
                errors[number] = problems

        results = self._predict({n: r for n, r in records.items() if n not in errors}, errors)
        added_width = len(self.added)
        table_rows = []
        for number, row in enumerate(rows):
            row = (row + [""] * width)[:width]  # a short or long row still fits the columns
            if number in errors:
                cells = [""] * (added_width - 1) + ["; ".join(errors[number])]
            else:
                cells = self._cells(results[number])
            table_rows.append(row + cells)
        return ScoredTable(self.header + self.added, table_rows, self.added, len(errors), self.delimiter)

    def _record(self, row: list[str]) -> tuple[dict, list[str]]:
        """The row's features as JSON-like values, and what is wrong with them (empty if valid)."""
        record = {}
        for feature in self.predictor.schema.features:
            record[feature.name] = self._value(row[self.position[feature.name]], feature)
        _, problems = self.predictor.validator.validate([record])
        return record, [_describe(problem) for problem in problems]

    def _value(self, text: str, feature: Feature):
        text = text.strip()
        if text in _MISSING:
            return None
        if feature.kind == NUMERIC:
            number = text.replace(",", ".") if self.decimal == "," else text
            if self.decimal == "." and _THOUSANDS.match(text):
                number = text.replace(",", "")
            try:
                return float(number)
            except ValueError:
                return text  # the validator names it: must be a number, got "heavy"
        if feature.kind == BOOLEAN:
            return {"true": True, "false": False}.get(text.lower(), text)
        return text

    def _predict(self, records: dict[int, dict], errors: dict[int, list[str]]) -> dict[int, dict]:
        """Predict for the valid rows; a row the model cannot answer gets an error instead."""
        numbers = list(records)
        while numbers:
            clean, _ = self.predictor.validator.validate([records[n] for n in numbers])
            try:
                return dict(zip(numbers, self.predictor.predict(clean)))
            except PredictionError as error:
                for index in error.indices:
                    errors[numbers[index]] = [f"no prediction: {error}"]
                numbers = [n for n in numbers if n not in errors]
        return {}

    def _cells(self, result: dict) -> list[str]:
        prediction = result["prediction"]
        cells = [self._number(repr(prediction)) if isinstance(prediction, float) else str(prediction)]
        cells += [self._number(f"{p:.6f}") for p in result.get("probabilities", {}).values()]
        cells.append("; ".join(f"{w['field']}: {w['message']}" for w in result["warnings"]))
        return cells + [""]

    def _number(self, text: str) -> str:
        """A number written as the file writes its numbers (a decimal comma stays a comma)."""
        return text.replace(".", ",") if self.decimal == "," else text


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BatchError(400, "the file is not UTF-8 text; save it as UTF-8 CSV and upload it again") from None
    if "\x00" in text:
        raise BatchError(400, "the file is not a text file: expected a CSV with a header row and data rows")
    if not text.strip():
        raise BatchError(400, "the file is empty: expected a CSV with a header row and data rows")
    return text


def _header(names: list[str]) -> list[str]:
    """The trimmed column names; two columns of one name are refused, as in training."""
    names = [name.strip() or f"column {i + 1}" for i, name in enumerate(names)]
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise BatchError(400, f"the file has more than one column named {', '.join(map(repr, repeated))}; "
                              "rename them so each column has its own name")
    return names


def _unique(names: list[str], taken: list[str]) -> list[str]:
    """Our column names, suffixed where the upload already has one (a file scored before)."""
    used, result = set(taken), []
    for name in names:
        candidate, n = name, 2
        while candidate in used:
            candidate, n = f"{name}_{n}", n + 1
        used.add(candidate)
        result.append(candidate)
    return result


def _describe(problem: Problem) -> str:
    """A validation problem in one line for the error column: field, what is wrong, what is expected."""
    text = f"{problem.field}: {problem.message}" if problem.field else problem.message
    return f"{text} (expected {problem.expected})" if problem.expected else text
