"""What the validator costs on the request path, measured beside the rest of a request.

    .venv/bin/python bench/validation_cost.py [MODEL_DIR]

Times, in one process and one run (medians of many repeats): pydantic validation
of one record and of 10,000, the prediction for the same records, and a whole
single-record POST /predict through Flask's test client. The share of validation
in a request is the figure that matters: this machine is noisy, ratios are not.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from formcast.bundle import load_bundle  # noqa: E402
from formcast.paths import default_model_dir  # noqa: E402
from formcast.predictor import Predictor  # noqa: E402
from formcast.web import create_app  # noqa: E402


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default_model_dir()
    predictor = Predictor(load_bundle(model_dir))
    record = {f.name: f.typical for f in predictor.schema.features}
    many = [record] * 10_000
    client = create_app({"TESTING": True, "MODEL_DIR": str(model_dir)}).test_client()
    [clean], _ = predictor.validator.validate([record])
    clean_many, _ = predictor.validator.validate(many)

    with threadpool_limits(1):  # as in a gunicorn worker
        rows = [
            ("validate 1 record", median_seconds(lambda: predictor.validator.validate([record]), 2000)),
            ("predict 1 record", median_seconds(lambda: predictor.predict([clean]), 500)),
            ("POST /predict, 1 record (test client)", median_seconds(lambda: client.post("/predict", json=record), 500)),
            ("validate 10,000 records", median_seconds(lambda: predictor.validator.validate(many), 10)),
            ("predict 10,000 records", median_seconds(lambda: predictor.predict(clean_many), 10)),
        ]
    request = rows[2][1]
    print(f"model {predictor.summary['id']} ({predictor.summary['estimator']}), "
          f"{len(predictor.schema.features)} features\n")
    print(f"| step | median | share of a 1-record request |\n|---|---|---|")
    for name, seconds in rows:
        share = f"{seconds / request:.0%}" if "1 record" in name else ""
        print(f"| {name} | {seconds * 1e3:.3f} ms | {share} |")


if __name__ == "__main__":
    main()
