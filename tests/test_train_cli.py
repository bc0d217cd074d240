"""`python train.py` as a user runs it: real processes, real files, real exit codes."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import DATASETS, PROJECT
from formcast.bundle import load_bundle, write_bundle


def run_train(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=120, env=env)


def snapshot(directory) -> dict[str, bytes]:
    """Every file of a bundle, by name, to prove a failed run changed nothing."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def existing_bundle(tmp_path_factory):
    """A good bundle that every failing run below must leave byte-for-byte alone."""
    out = tmp_path_factory.mktemp("existing")
    csv, target = DATASETS["penguins"]
    assert run_train("--data", str(csv), "--target", target, "--out", str(out), "--model", "linear").returncode == 0
    return out


def test_no_arguments_trains_the_bundled_penguins(tmp_path):
    out = tmp_path / "model"
    env = {"FORMCAST_MODEL_DIR": str(out), "PATH": ""}

    result = run_train(env=env)

    assert result.returncode == 0, result.stderr
    assert "Task: classification of 'species'" in result.stdout
    assert "accuracy" in result.stdout and "f1_macro" in result.stdout
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["schema"]["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert metadata["rows"] == {"in_file": 344, "missing_target": 0, "train": 275, "test": 69}
    assert set(metadata["versions"]) >= {"python", "scikit-learn", "numpy", "pandas", "joblib"}
    assert len(metadata["training"]["data_sha256"]) == 64 and len(metadata["model_sha256"]) == 64
    assert metadata["metrics"]["accuracy"] > 0.9


def test_regression_on_tips_reports_r2_mae_rmse(tmp_path):
    csv, target = DATASETS["tips"]

    result = run_train("--data", str(csv), "--target", target, "--out", str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "Task: regression of 'tip'" in result.stdout
    assert set(json.loads((tmp_path / "metadata.json").read_text())["metrics"]) == {"r2", "mae", "rmse"}


def test_rows_without_a_target_are_dropped_and_counted(tmp_path):
    csv, target = DATASETS["penguins"]
    lines = csv.read_text().splitlines()
    # Blank out the species of three rows.
    for i in (1, 2, 3):
        lines[i] = "," + lines[i].split(",", 1)[1]
    holed = tmp_path / "holed.csv"
    holed.write_text("\n".join(lines) + "\n")

    result = run_train("--data", str(holed), "--target", target, "--out", str(tmp_path / "model"), "--model", "linear")

    assert result.returncode == 0, result.stderr
    assert "Dropped 3 rows with no value for 'species'" in result.stdout


def test_dropped_columns_are_printed_with_the_reason(tmp_path):
    csv = tmp_path / "with_id.csv"
    body = DATASETS["penguins"][0].read_text().splitlines()
    csv.write_text("\n".join([f"id,{body[0]}"] + [f"{i},{line}" for i, line in enumerate(body[1:])]) + "\n")

    result = run_train("--data", str(csv), "--target", "species", "--out", str(tmp_path / "model"), "--model", "linear")

    assert result.returncode == 0, result.stderr
    assert "Dropped column 'id': it looks like a row identifier" in result.stdout


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


BAD_USES = [
    # (id, how to build the arguments, words of the one-line error)
    ("missing file", lambda tmp: ["--data", str(tmp / "nope.csv"), "--target", "y"], "no such file"),
    ("unknown target", lambda tmp: ["--data", str(DATASETS["penguins"][0]), "--target", "specie"],
     "no column named 'specie'; the columns are: 'species', 'island'"),
    ("empty file", lambda tmp: ["--data", str(_write(tmp, "e.csv", "")), "--target", "y"], "is empty"),
    ("header only", lambda tmp: ["--data", str(_write(tmp, "h.csv", "x,y\n")), "--target", "y"], "no data rows"),
    ("single-valued target",
     lambda tmp: ["--data", str(_write(tmp, "s.csv", "x,y\n" + "".join(f"{i},a\n" for i in range(20)))),
                  "--target", "y"], "single value"),
    ("too few rows", lambda tmp: ["--data", str(_write(tmp, "t.csv", "x,y\n1,a\n2,b\n")), "--target", "y"],
     "at least 10 are needed"),
    ("a directory as data", lambda tmp: ["--data", str(tmp), "--target", "y"], "is not a regular file"),
    ("not text", lambda tmp: ["--data", str(_write_bytes(tmp)), "--target", "y"], "not UTF-8 text"),
    ("--data without --target", lambda tmp: ["--data", str(DATASETS["tips"][0])], "--target is required"),
    ("test size out of range", lambda tmp: ["--test-size", "1.5"], "must be a number between 0 and 1"),
    ("negative seed", lambda tmp: ["--seed", "-1"], "must be a whole number from 0"),
    ("--out is a file", lambda tmp: ["--out", str(_write(tmp, "f", "x"))], "is a file"),
]


def _write_bytes(tmp):
    path = tmp / "binary.csv"
    path.write_bytes(bytes(range(256)) * 4)
    return path


@pytest.mark.parametrize("case, arguments, words", BAD_USES, ids=[row[0] for row in BAD_USES])
def test_bad_use_is_one_clear_line_and_leaves_the_bundle_untouched(tmp_path, existing_bundle, case, arguments,
                                                                  words):
    before = snapshot(existing_bundle)

    args = arguments(tmp_path)
    if "--out" not in args:
        args += ["--out", str(existing_bundle)]

    result = run_train(*args)

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("train.py: error: ") and words in line
    assert snapshot(existing_bundle) == before
    load_bundle(existing_bundle)  # and it still loads


def test_a_write_that_fails_half_way_leaves_the_old_bundle_loadable(tmp_path, existing_bundle):
    old = load_bundle(existing_bundle)
    before = snapshot(existing_bundle)
    # A real fitted pipeline that cannot be pickled: joblib.dump fails half way through the file.
    pipeline = old.pipeline
    pipeline.callback = lambda: None

    with pytest.raises(Exception, match="pickle"):
        write_bundle(existing_bundle, pipeline, {"schema": old.metadata["schema"]})

    assert snapshot(existing_bundle) == before  # no stray staged file either
    assert load_bundle(existing_bundle).model_id == old.model_id


def test_training_killed_with_sigkill_while_writing_leaves_the_old_bundle(tmp_path, existing_bundle):
    """A real `kill -9` of train.py while it writes its new model file beside the old bundle."""
    bundle = shutil.copytree(existing_bundle, tmp_path / "model")
    old = load_bundle(bundle)
    csv, target = DATASETS["penguins"]
    training = subprocess.Popen([sys.executable, "train.py", "--data", str(csv), "--target", target,
                                 "--out", str(bundle), "--seed", "7"], cwd=PROJECT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        staged = None
        while staged is None and training.poll() is None:
            staged = next((entry.name for entry in os.scandir(bundle) if entry.name.startswith(".staged-")
                           and entry.name.endswith(".joblib") and _size(entry)), None)
        if staged:
            os.kill(training.pid, signal.SIGKILL)
    finally:
        training.kill()
        training.wait(timeout=60)

    assert staged, "training finished before its write could be caught; the kill was not tested"
    assert training.returncode == -signal.SIGKILL
    # Killed mid-write, before metadata.json (the commit point) changed: the old model, whole.
    assert load_bundle(bundle).model_id == old.model_id
    # Files of the killed run stay aside, unused, until the next run removes them.
    assert run_train("--data", str(csv), "--target", target, "--out", str(bundle)).returncode == 0
    metadata = load_bundle(bundle).metadata
    kept = ["metadata.json", metadata["model_file"], *(listed["name"] for listed in metadata["files"])]
    assert sorted(p.name for p in bundle.iterdir()) == sorted(kept)


def test_retraining_replaces_the_bundle_and_removes_the_old_model_file(tmp_path):
    csv, target = DATASETS["penguins"]
    assert run_train("--data", str(csv), "--target", target, "--out", str(tmp_path), "--seed", "1",
                     "--model", "linear").returncode == 0
    first = json.loads((tmp_path / "metadata.json").read_text())["model_file"]

    assert run_train("--data", str(csv), "--target", target, "--out", str(tmp_path), "--seed", "2",
                     "--model", "linear").returncode == 0

    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["model_file"] != first
    plots = [entry["name"] for entry in metadata["files"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["metadata.json", metadata["model_file"], *plots])


def test_help_lists_the_options():
    result = run_train("--help")

    assert result.returncode == 0
    for option in ("--data", "--target", "--out", "--task", "--test-size", "--seed", "--model", "--time-budget"):
        assert option in result.stdout


def _size(entry) -> int:
    try:
        return entry.stat().st_size
    except FileNotFoundError:  # moved into place or removed between listing and stat
        return 0
