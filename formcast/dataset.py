"""Read a user's CSV into a DataFrame the way its author meant it.

Real CSVs come from Excel, R, databases and scripts, so this reads them with
stated rules rather than pandas' defaults:

- the delimiter is guessed among ``,`` ``;`` tab and ``|``; a UTF-8 byte order
  mark and CRLF line ends are fine;
- in a comma-separated file, a quoted ``"1,234"`` is the number 1234; in a file
  separated by ``;``, tab or ``|`` whose numbers use a decimal comma (``3,5``),
  the comma is the decimal mark;
- an empty field, and only these words, mean "missing": ``MISSING_MARKERS``.
  R's ``NA`` is among them; ``None`` is not (it is a real category in many
  datasets, such as a severity of None/Low/High);
- column names are trimmed; two columns with the same name are an error, not
  silently renamed;
- a trailing delimiter at the end of each row does not shift the columns.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

from formcast.lazy import lazy_import

# Imported on first use: the app imports this module for its CSV rules (batch scoring),
# and a fast-path app starts without pandas.
pd = lazy_import("pandas")

MISSING_MARKERS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "#N/A", "<NA>", "?"]
DELIMITERS = ",;\t|"
_SAMPLE_BYTES = 64 * 1024
_DECIMAL_COMMA = re.compile(r"(?:^|[;\t|])\s*-?\d+,\d+\s*(?=[;\t|]|$)", re.MULTILINE)


class DatasetError(Exception):
    """The file cannot be read as a table; the message is one line for the user."""


def read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV with a header row.

    Raises
    ------
    DatasetError
        If the file is missing, not a regular file, empty, not UTF-8 text, not a
        table, or has two columns of the same name.
    """
    sample = _read_sample(path)
    delimiter, decimal = sniff_dialect(sample)
    names = _header_names(sample, delimiter, path)
    try:
        frame = pd.read_csv(
            path, sep=delimiter, encoding="utf-8-sig", skipinitialspace=True,
            keep_default_na=False, na_values=MISSING_MARKERS,
            decimal=decimal, thousands="," if delimiter == "," else None,
            index_col=False,  # a trailing delimiter on every row must not turn column 1 into an index
        )
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not UTF-8 text; save it as UTF-8 CSV and try again") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise DatasetError(f"{path} is not a readable CSV: {str(error).strip()}") from None
    if frame.empty:
        raise DatasetError(f"{path} has a header but no data rows")
    frame.columns = names[: len(frame.columns)]
    return frame


def _read_sample(path: Path) -> str:
    if not path.exists():
        raise DatasetError(f"no such file: {path}")
    if not path.is_file():
        raise DatasetError(f"{path} is not a regular file: give the path of a CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(_SAMPLE_BYTES)
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not UTF-8 text; save it as UTF-8 CSV and try again") from None
    if not sample.strip():
        raise DatasetError(f"{path} is empty: expected a CSV with a header row and data rows")
    if "\x00" in sample:
        raise DatasetError(f"{path} is not a text file: expected a CSV with a header row and data rows")
    return sample


def _header_names(sample: str, delimiter: str, path: Path) -> list[str]:
    """The trimmed column names, refusing repeats (pandas would rename them to x.1)."""
    header = next(csv.reader(io.StringIO(sample.lstrip("\r\n")), delimiter=delimiter))
    names = [name.strip() for name in header]
    repeated = [name for name, count in Counter(names).items() if count > 1 and name]
    if repeated:
        raise DatasetError(f"{path} has more than one column named {', '.join(map(repr, repeated))}; "
                           "rename them so each column has its own name")
    return [name or f"column {i + 1}" for i, name in enumerate(names)]


def sniff_dialect(sample: str) -> tuple[str, str]:
    """Return (delimiter, decimal mark) of a CSV from its first lines, by the rules above.

    Batch scoring (formcast.batch) reads uploads with the same rules as training.
    """
    delimiter = _sniff_delimiter(sample)
    decimal = "," if delimiter != "," and _DECIMAL_COMMA.search(sample) else "."
    return delimiter, decimal


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()[:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","
