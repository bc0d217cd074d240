"""How training time and memory grow with rows: time `python train.py` on CSVs of growing size.

The CSVs are derived from the bundled penguins data by resampling rows with
noise (numbers jittered by 10% of their spread, 3% of every feature's values
blanked), so they keep its mix of numeric and categorical columns and missing
values; they are written to a temporary directory and removed afterwards.

    .venv/bin/python bench/scale_training.py                 # 5k, 10k, 25k, 50k rows
    .venv/bin/python bench/scale_training.py --rows 2000 5000

Each run is a child process with the default options; its peak RSS comes from
the kernel's accounting of that child (os.wait4), not from sampling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parent.parent
SOURCE, TARGET = PROJECT / "data" / "penguins.csv", "species"


def make_csv(rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` rows resampled from the penguins, with noise and missing values."""
    rng = np.random.default_rng(seed)
    source = pd.read_csv(SOURCE)
    frame = source.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    for column in frame.columns.drop(TARGET):
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] += rng.normal(0, 0.1 * source[column].std(), rows)
        frame.loc[rng.random(rows) < 0.03, column] = np.nan
    frame.to_csv(path, index=False)


def time_training(csv: Path, out: Path) -> dict:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "train.py", "--data", str(csv), "--target", TARGET, "--out", str(out)],
                             cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"train.py failed on {csv.name}: {child.stderr.read().decode()}")
    metadata = json.loads((out / "metadata.json").read_text())
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024,  # ru_maxrss is in KiB on Linux
            "chosen": metadata["evaluation"]["selection"]["chosen"], "accuracy": metadata["metrics"]["accuracy"],
            "bundle_mb": sum(p.stat().st_size for p in out.iterdir()) / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000, 10_000, 25_000, 50_000])
    args = parser.parse_args()
    print(f"{'rows':>7} {'seconds':>8} {'peak RSS':>9} {'bundle':>8}  chosen    accuracy")
    with tempfile.TemporaryDirectory(prefix="formcast-scale-") as scratch:
        for rows in args.rows:
            csv = Path(scratch) / f"penguins-{rows}.csv"
            make_csv(rows, csv)
            result = time_training(csv, Path(scratch) / f"model-{rows}")
            print(f"{rows:>7} {result['seconds']:>8.1f} {result['peak_rss_mb']:>6.0f} MB {result['bundle_mb']:>5.1f} MB"
                  f"  {result['chosen']:<9} {result['accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main()
