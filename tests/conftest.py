"""Fixtures: real bundles trained on real CSVs, the app around them, and a live gunicorn.

Nothing is mocked: each bundle is trained by the same code as ``python train.py``,
and ``live_server`` runs the Procfile's own web command on a free loopback port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from formcast.cli import main as train_main
from formcast.web import create_app

PROJECT = Path(__file__).resolve().parent.parent
DATASETS = {
    # name: (CSV, target)
    "penguins": (PROJECT / "data" / "penguins.csv", "species"),
    "tips": (PROJECT / "tests" / "data" / "tips.csv", "tip"),
    "breast_cancer": (PROJECT / "tests" / "data" / "breast_cancer.csv", "target"),
}

# The default model's valid record from tests/bad_inputs.md.
PENGUIN = {"island": "Torgersen", "sex": "male", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
           "flipper_length_mm": 181, "body_mass_g": 3750, "year": 2007}


def train_bundle(directory: Path, csv: Path, target: str, *extra: str) -> Path:
    """Train like `python train.py --data CSV --target COLUMN --out DIRECTORY`, in-process."""
    code = train_main(["--data", str(csv), "--target", target, "--out", str(directory), *extra])
    assert code == 0, f"training on {csv.name} failed with exit code {code}"
    return directory


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """One bundle per dataset, trained once for the whole run."""
    return {
        name: train_bundle(tmp_path_factory.mktemp(f"bundle-{name}"), csv, target)
        for name, (csv, target) in DATASETS.items()
    }


@pytest.fixture(scope="session")
def penguin_bundle(bundles) -> Path:
    return bundles["penguins"]


@pytest.fixture
def app(penguin_bundle):
    return create_app({"TESTING": True, "MODEL_DIR": str(penguin_bundle)})


@pytest.fixture
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_web_command() -> list[str]:
    """The `web:` line of the Procfile, as a platform would run it."""
    for line in (PROJECT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.removeprefix("web:"))
    raise AssertionError("the Procfile has no web: line")


class LiveServer:
    """A real gunicorn serving a bundle; ``url`` is its loopback address.

    Its output is read as it comes (``output()``), so a full pipe can never
    stall the server.
    """

    def __init__(self, model_dir: Path, extra_env: dict | None = None):
        self.env = {**os.environ, "WEB_CONCURRENCY": "2", "FORMCAST_MODEL_DIR": str(model_dir),
                    **(extra_env or {})}
        # The venv's bin first, as on a platform where requirements.txt is installed.
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self._start()

    def _start(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(procfile_web_command(), cwd=PROJECT, env={**self.env, "PORT": str(self.port)},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self._lines.append(line)

    def wait_until_ready(self, timeout: float = 60, attempts: int = 3) -> None:
        """Wait until this gunicorn has bound its port and answers /health.

        A port found free can be taken by another process before gunicorn binds
        it; then gunicorn gives up and the server starts again on another port.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if attempts > 1 and "Connection in use" in self.output():
                    attempts -= 1
                    self._start()
                    continue
                raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            if f"Listening at: http://0.0.0.0:{self.port}" in "".join(self._lines) and self._healthy():
                return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not answer /health within {timeout} s:\n{self.output()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        """Everything the server printed; stops it first."""
        self.stop()
        self._reader.join(timeout=10)
        return "".join(self._lines)


@contextlib.contextmanager
def serving(model_dir: Path, extra_env: dict | None = None):
    """A LiveServer on ``model_dir``, ready to answer, stopped afterwards."""
    server = LiveServer(model_dir, extra_env)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(penguin_bundle):
    """A gunicorn started by the Procfile's web command, serving the penguin bundle."""
    with serving(penguin_bundle) as server:
        yield server


@pytest.fixture
def bundle_copy(penguin_bundle, tmp_path):
    """A private copy of the penguin bundle that a test may damage."""
    return shutil.copytree(penguin_bundle, tmp_path / "model")


def edit_metadata(directory: Path, change) -> None:
    """Apply ``change`` to the bundle's metadata.json, as a hand edit would."""
    path = directory / "metadata.json"
    metadata = json.loads(path.read_text())
    change(metadata)
    path.write_text(json.dumps(metadata))
