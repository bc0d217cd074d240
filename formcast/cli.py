"""The ``python train.py`` command: train on a CSV and write the bundle.

Bad use fails with one line on stderr and exit code 2, and leaves the existing
bundle exactly as it was: the new bundle is only committed once complete.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from formcast.bundle import BundleError, sha256_of, write_bundle
from formcast.dataset import DatasetError, read_csv
from formcast.paths import DEFAULT_DATA, DEFAULT_TARGET, PROJECT_ROOT, default_model_dir
from formcast.progress import Progress
from formcast.schema import CLASSIFICATION
from formcast.selection import CV_MAX_ROWS, DEFAULT_TIME_BUDGET, FAMILIES
from formcast.training import TrainingError, train

USAGE_ERROR = 2


class _OneLineParser(argparse.ArgumentParser):
    """An argument error is one line pointing at --help, not argparse's usage block."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="train.py",
        description="Train a model on a CSV and write the bundle that app.py serves.",
        epilog="With no arguments: the bundled penguins data, predicting 'species'.",
    )
    parser.add_argument("--data", type=Path, help=f"the CSV to train on (default: {_shown(DEFAULT_DATA)})")
    parser.add_argument("--target", help=f"the column to predict (default with the bundled data: {DEFAULT_TARGET})")
    parser.add_argument("--out", type=Path, default=None,
                        help="the bundle directory to write (default: $FORMCAST_MODEL_DIR or model/)")
    parser.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                        help="auto: text or few whole-number values are classes, other numbers a regression")
    parser.add_argument("--test-size", type=_fraction, default=0.2,
                        help="share of rows held out to measure the model (default: 0.2)")
    parser.add_argument("--seed", type=_seed, default=42,
                        help="fixes the split, the folds and the model (default: 42)")
    parser.add_argument("--model", choices=["auto", *FAMILIES], default="auto",
                        help="auto: compare linear, boosting (histogram gradient boosting) and forest (random "
                             "forest) by 5-fold cross-validation on the training rows and keep the best, the "
                             "linear model when it is within one standard error; a family name: use that one")
    parser.add_argument("--time-budget", type=_seconds, default=DEFAULT_TIME_BUDGET, metavar="SECONDS",
                        help=f"bound the model comparison (default: {DEFAULT_TIME_BUDGET:g}). It always uses at "
                             f"most {CV_MAX_ROWS:,} training rows (a seeded sample); a candidate whose first fold "
                             f"shows it would end the comparison past SECONDS is stopped and left out (the linear "
                             f"model, and a family asked for alone, always complete). The refit of the chosen "
                             f"model on all training rows and the card's measurements come after and are not "
                             f"counted")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data is None:
        args.data = DEFAULT_DATA
        args.target = args.target or DEFAULT_TARGET
    elif args.target is None:
        parser.error("--target is required with --data: name the column to predict")
    out = args.out or default_model_dir()
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; give a directory for the bundle")
    try:
        return _train_and_write(args, out)
    except (DatasetError, TrainingError, BundleError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:
        print(f"train.py: error: cannot write the bundle to {out}: {error.strerror or error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"\ntrain.py: interrupted; the bundle in {out} is unchanged", file=sys.stderr)
        return 130


def _train_and_write(args, out: Path) -> int:
    started = time.perf_counter()
    frame = read_csv(args.data)
    print(f"Read {_shown(args.data)}: {len(frame)} rows, {len(frame.columns)} columns", flush=True)
    result = train(frame, args.target, task=args.task, test_size=args.test_size, seed=args.seed,
                   model=args.model, time_budget=args.time_budget, progress=Progress(sys.stdout))
    del frame  # the training rows are in the result; the file's copy is no longer needed

    if result.rows["missing_target"]:
        print(f"Dropped {result.rows['missing_target']} rows with no value for {args.target!r}")
    for dropped in result.dropped_columns:
        print(f"Dropped column {dropped.column!r}: {dropped.reason}")
    if result.missing_values:
        counts = ", ".join(f"{name} {count}" for name, count in result.missing_values.items())
        print(f"Missing values (the model fills them in): {counts}")
    schema = result.schema
    kinds = ", ".join(f"{f.name} ({f.kind})" for f in schema.features)
    print(f"Task: {schema.task} of {schema.target!r}" + (f" into {schema.labels}" if schema.labels else ""))
    print(f"Features: {kinds}")
    _print_selection(result.selection)
    held_out = "stratified by class" if result.stratified else "random"
    estimator = type(result.pipeline[-1]).__name__
    card = result.evaluation
    baseline = card["baseline"]
    print(f"Trained {estimator} on {result.rows['train']} rows; "
          f"held out {result.rows['test']} rows ({held_out}):")
    print(f"  {'':<9} {'model':>9} {'baseline':>9}   (baseline: {baseline['strategy'].replace('_', ' ')})")
    for name, value in result.metrics.items():
        print(f"  {name:<9} {_metric(value):>9} {_metric(baseline['metrics'][name]):>9}")
    if baseline.get("warning"):
        print(f"Warning: {baseline['warning']}")
    latency = card["latency"]
    fast_latency = f"; {latency['fast_path']['median_ms']:.3f} ms by the fast path" if "fast_path" in latency else ""
    print(f"One-record prediction: {latency['median_ms']:.2f} ms median by the Pipeline{fast_latency} "
          f"({latency['calls']} calls, one thread)")
    for note in result.notes:
        print(f"Note: {note}")
    plots = _draw_plots(result)
    fast = result.fast_path
    difference = "" if fast["max_abs_difference"] is None else f"; largest difference {fast['max_abs_difference']:.2g}"
    print(f"Fast path: {'used' if fast['used'] else 'not used'} ({fast['reason']}{difference})")

    metadata = {
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "estimator": estimator,
        "schema": schema.to_dict(),
        "dropped_columns": [{"column": d.column, "reason": d.reason} for d in result.dropped_columns],
        "metrics": result.metrics,
        "rows": result.rows,
        "missing_values": result.missing_values,
        "evaluation": {**card, "plots": [{key: p[key] for key in ("name", "title", "alt")} for p in plots],
                       "plotting": _plotting_versions()},
        "fast_path": result.fast_path,
        "training": {
            "data_file": args.data.name,
            "data_sha256": sha256_of(args.data),
            "test_size": args.test_size,
            "seed": args.seed,
            "stratified": result.stratified,
            "model": args.model,
            "time_budget": args.time_budget,
            "seconds": round(time.perf_counter() - started, 3),
        },
    }
    written = write_bundle(out, result.pipeline, metadata, {p["name"]: p["png"] for p in plots})
    print(f"Wrote {_shown(out / written['model_file'])} and metadata.json "
          f"(model {written['model_sha256'][:12]}) in {time.perf_counter() - started:.1f} s")
    if schema.task == CLASSIFICATION and len(schema.labels) > 20:
        print(f"Note: {len(schema.labels)} classes; if {args.target!r} is a quantity, use --task regression")
    return 0


def _print_selection(selection) -> None:
    """The comparison as a table: candidate, cross-validation score ± std, time per fit, chosen."""
    print(f"Model selection: {selection.metric} by {selection.folds}-fold cross-validation "
          f"on {selection.cv_rows} training rows")
    print(f"  {'candidate':<10} {'estimator':<31} {'CV score':>17} {'fit time':>9}  chosen")
    for candidate in selection.candidates:
        score = (f"{candidate.mean:.4f} ± {candidate.std:.4f}" if candidate.mean is not None
                 else "skipped")
        fit = f"{sum(candidate.fit_seconds) / len(candidate.fit_seconds):.2f} s" if candidate.fit_seconds else "-"
        print(f"  {candidate.family:<10} {candidate.estimator:<31} {score:>17} {fit:>9}  "
              f"{'yes' if candidate.chosen else ''}")
        if candidate.skipped:
            print(f"    {candidate.family}: {candidate.skipped}")
    print(f"  chosen: {selection.family} ({selection.rule})")


def _draw_plots(result) -> list[dict]:
    """The card's plots; without matplotlib (requirements.txt alone) the card has none, and says so."""
    try:
        from formcast.plots import draw_card_plots
    except ImportError:
        print("Note: matplotlib is not installed, so the model card has no plots "
              "(pip install -r requirements-train.txt, then retrain)")
        return []
    return draw_card_plots(result.schema.task, result.evaluation, *result.held_out)


def _plotting_versions() -> dict:
    try:
        from importlib.metadata import version
        return {"matplotlib": version("matplotlib")}
    except Exception:  # not installed: no plots were drawn
        return {}


def _metric(value) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _number_type(convert, accept, expected: str):
    """An argparse type: ``convert`` the text, keep it only if ``accept`` holds, else say what is ``expected``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value
    return parse


_seconds = _number_type(float, lambda value: 0 < value < math.inf, "a number of seconds above 0")
_fraction = _number_type(float, lambda value: 0 < value < 1, "a number between 0 and 1")
_seed = _number_type(int, lambda value: 0 <= value < 2**32, f"a whole number from 0 to {2**32 - 1}")


def _shown(path: Path) -> str:
    """A path relative to the project when it is inside it: shorter, and the same on every machine."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
