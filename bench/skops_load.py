"""Load cost of a bundle's model: joblib (pickle, today) against skops (a format that runs no code).

    .venv/bin/python bench/skops_load.py

For the project's model/, a model trained on tests/data/breast_cancer.csv and a random
forest of 200 trees on the penguins:
saves the same fitted Pipeline with skops, checks that skops loads it only with
an explicit list of trusted types and that both give the same predictions, and
prints the file sizes and the median load time over repeated loads.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from formcast.bundle import load_bundle  # noqa: E402
from formcast.cli import main as train  # noqa: E402

REPEATS = 30


def median_seconds(load) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        load()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(name: str, pipeline, features, scratch: Path) -> None:
    joblib_file = scratch / f"{name}.joblib"
    joblib.dump(pipeline, joblib_file)
    skops_file = scratch / f"{name}.skops"
    sio.dump(pipeline, skops_file)
    # skops refuses any type not in this list: it is the whole of what the file may build.
    trusted = sio.get_untrusted_types(file=skops_file)
    try:
        sio.load(skops_file)
        raise AssertionError("skops loaded a file with untrusted types without being told to trust them")
    except sio.exceptions.UntrustedTypesFoundException:
        pass

    records = pd.DataFrame([{f.name: f.typical for f in features}] * 50)
    from_skops = sio.load(skops_file, trusted=trusted)
    assert np.array_equal(pipeline.predict(records), from_skops.predict(records))

    joblib_seconds = median_seconds(lambda: joblib.load(joblib_file))
    skops_seconds = median_seconds(lambda: sio.load(skops_file, trusted=trusted))
    print(f"{name:22} joblib {joblib_file.stat().st_size / 1024:7.1f} KiB {joblib_seconds * 1000:7.1f} ms | "
          f"skops {skops_file.stat().st_size / 1024:7.1f} KiB {skops_seconds * 1000:7.1f} ms "
          f"({skops_seconds / joblib_seconds:.1f}x) | trusted types beyond skops' defaults: {trusted}")


def main() -> None:
    print(f"median of {REPEATS} loads each, this machine; same predictions from both files")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        penguins = load_bundle(PROJECT / "model")
        measure("penguins", penguins.pipeline, penguins.schema.features, scratch)
        cancer = scratch / "breast_cancer"
        with contextlib.redirect_stdout(io.StringIO()):  # training's report is not the point here
            assert train(["--data", str(PROJECT / "tests/data/breast_cancer.csv"), "--target", "target",
                          "--out", str(cancer)]) == 0
        cancer_bundle = load_bundle(cancer)
        measure("breast_cancer", cancer_bundle.pipeline, cancer_bundle.schema.features, scratch)
        # A larger model, as model selection may choose: the same preprocessing, 200 trees.
        forest = clone(penguins.pipeline).set_params(**{penguins.pipeline.steps[-1][0]: RandomForestClassifier(
            n_estimators=200, random_state=0)})
        data = pd.read_csv(PROJECT / "data" / "penguins.csv").dropna(subset=[penguins.schema.target])
        forest.fit(data[penguins.schema.feature_names], data[penguins.schema.target])
        measure("penguins, 200 trees", forest, penguins.schema.features, scratch)


if __name__ == "__main__":
    main()
