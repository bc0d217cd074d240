"""How long batch scoring (formcast.batch.score_csv) takes for a file at the row limit.

Builds a CSV of MAX_RECORDS (10,000) rows from the default dataset (its 344 rows
repeated, extra column included), scores it in-process with the committed bundle
and prints the median of several runs. This is the work behind one POST /batch or
POST /predict with text/csv, without HTTP; Heroku's router cuts a request at 30 s.

    .venv/bin/python bench/batch_scoring.py [--rows 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# One thread, as each gunicorn worker runs (gunicorn.conf.py).
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from formcast.batch import score_csv  # noqa: E402
from formcast.bundle import load_bundle  # noqa: E402
from formcast.paths import default_model_dir  # noqa: E402
from formcast.predictor import Predictor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    predictor = Predictor(load_bundle(default_model_dir()))
    header, *rows = (PROJECT / "data" / "penguins.csv").read_text().splitlines()
    body = [rows[i % len(rows)] for i in range(args.rows)]
    data = ("\n".join([header, *body]) + "\n").encode()

    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        scored = score_csv(data, predictor)
        scored.to_csv()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"{args.rows} rows ({len(data) / 2**20:.2f} MiB), {scored.failed} failed: "
          f"median {median:.3f} s over {args.runs} runs, {args.rows / median:,.0f} rows/s")


if __name__ == "__main__":
    main()
