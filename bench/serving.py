"""How fast formcast serves, against the cost of HTTP itself and against MLflow: one command.

    .venv/bin/python bench/serving.py            # about 3 minutes (first run: plus MLflow's install)

It starts, each on a free loopback port and one after another:

- formcast (``gunicorn app:app``, the Procfile's command with gunicorn.conf.py) on model/;
- a plain Flask JSON echo app (bench/echo_app.py) under the same gunicorn settings:
  the cost of HTTP, JSON and Flask with no model at all;
- MLflow's scoring server (``mlflow models serve --env-manager local``) on the same fitted
  Pipeline, saved as an MLflow model. MLflow is installed into its own virtual environment,
  bench/.venv-mlflow (first run only), with the scikit-learn, numpy, scipy, pandas and joblib
  that requirements.txt pins, so the Pipeline loads there unchanged.

Each is driven by the same load generator (Debian's wrk, with bench/post.lua) for the same
bounded time, with one penguin record per request, and the script prints Markdown tables:
throughput and latency with ratios, time for batches of 1, 100 and 10,000 records, start-up
time (process start to the first answered /predict), memory (PSS) of 1 and 4 workers, and
where the time of one request goes inside the app. Nothing leaves 127.0.0.1. Timings are
noisy on a shared machine: this is not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.error
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from formcast.bundle import PICKLED_DISTRIBUTIONS, read_metadata  # noqa: E402

MLFLOW_VERSION = "3.17.2"
MLFLOW_VENV = PROJECT / "bench" / ".venv-mlflow"
VENV_BIN = Path(sys.executable).parent
RECORD = {"island": "Torgersen", "sex": "male", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
          "flipper_length_mm": 181, "body_mass_g": 3750, "year": 2007}
BATCHES = (1, 100, 10_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server and round (default: 10)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of load on each server; the median counts (default: 3)")
    parser.add_argument("--connections", type=int, default=4, help="wrk's open connections (default: 4)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (no install, no comparison)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="formcast-bench-"))
    try:
        return run(args, wrk, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, wrk: str, work: Path) -> int:
    model_dir = PROJECT / "model"
    metadata = read_metadata(model_dir)
    print(f"formcast bench: model {metadata['model_sha256'][:12]} ({metadata['estimator']}, "
          f"fast path {'used' if metadata.get('fast_path', {}).get('used') else 'not used'}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    one = work / "one.json"
    one.write_text(json.dumps(RECORD))
    mlflow_one = work / "mlflow-one.json"
    mlflow_one.write_text(json.dumps({"dataframe_records": [RECORD]}))

    servers = {
        "formcast": Server([str(VENV_BIN / "gunicorn"), "app:app"], one),
        "Flask echo": Server([str(VENV_BIN / "gunicorn"), "bench.echo_app:app"], one),
    }
    if not args.no_mlflow:
        mlflow_model = export_to_mlflow(model_dir, metadata, work / "mlflow-model")
        workers = os.environ.get("WEB_CONCURRENCY", "2")
        servers["MLflow"] = Server([str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(mlflow_model),
                                    "--env-manager", "local", "-w", workers], mlflow_one, mlflow=True,
                                   # MLflow starts uvicorn from its own environment's bin/
                                   env={"PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"})

    # Start each server alone (start-up is timed without the others starting beside it),
    # keep them all up, then load them in turns, round after round: the machine's other work
    # changes from minute to minute, and turns spread that over every server alike.
    startup, runs = {}, {name: [] for name in servers}
    with contextlib.ExitStack() as stack:
        for name, server in servers.items():
            print(f"… {name}: starting", flush=True)
            startup[name] = stack.enter_context(server).started_in
        for turn in range(args.rounds):
            for name, server in servers.items():
                runs[name].append(drive(wrk, server, args.duration, args.connections))
                print(f"  round {turn + 1}, {name}: {runs[name][-1]['rps']:.0f} requests/s", flush=True)
        batches = {name: {n: time_batch(server, n) for n in BATCHES} for name, server in servers.items()}
    # Each server's median round by throughput, with that round's latencies.
    load = {name: sorted(results, key=lambda r: r["rps"])[len(results) // 2] for name, results in runs.items()}

    memory = {n: measure_memory(n, one) for n in (1, 4)}
    parts = request_parts(model_dir)

    print()
    print(f"Load: wrk, 1 thread, {args.connections} connections, one record per POST, {args.rounds} rounds of "
          f"{args.duration} s per server in turns (the median round shown), "
          f"gunicorn.conf.py as committed (WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '2')}); "
          f"load average {os.getloadavg()[0]:.2f} at the end.")
    print()
    print("| server | requests/s | p50 | p99 | errors | vs echo | vs MLflow | server CPU per request "
          "| start to first /predict |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, result in load.items():
        echo = result["rps"] / load["Flask echo"]["rps"]
        mlflow = f"{result['rps'] / load['MLflow']['rps']:.2f}x" if "MLflow" in load else "n/a"
        print(f"| {name} | {result['rps']:.0f} | {result['p50']:.2f} ms | {result['p99']:.2f} ms | {result['errors']} | "
              f"{echo:.2f}x | {mlflow} | {result['cpu_us']:.0f} µs | {startup[name]:.2f} s |")
    print()
    print("| records in one request | " + " | ".join(servers) + " |")
    print("|---:|" + "---:|" * len(servers))
    for n in BATCHES:
        print(f"| {n:,} | " + " | ".join(_batch_cell(batches[name][n]) for name in servers) + " |")
    print()
    print("| formcast workers | total PSS (master + workers) | per worker beyond the first |")
    print("|---:|---:|---:|")
    for n, pss in memory.items():
        extra = f"{(pss - memory[1]) / (n - 1):.1f} MiB" if n > 1 else "n/a"
        print(f"| {n} | {pss:.1f} MiB | {extra} |")
    print(f"\n4 workers take {memory[4] / memory[1]:.2f}x the memory of 1.")
    print()
    print("| one record inside formcast (in process, best of 3) | µs |")
    print("|---|---:|")
    for name, micros in parts.items():
        print(f"| {name} | {micros:.1f} |")
    return 0


class Server:
    """One server process on a free loopback port, stopped (with its workers) on exit."""

    def __init__(self, command: list[str], body: Path, mlflow: bool = False, env: dict | None = None):
        self.port = free_port()
        self.body = body
        self.path = "/invocations" if mlflow else "/predict"
        self.url = f"http://127.0.0.1:{self.port}{self.path}"
        binding = ["-h", "127.0.0.1", "-p", str(self.port)] if mlflow else ["--bind", f"127.0.0.1:{self.port}"]
        self.command = command + binding
        self.env = {**os.environ, **(env or {})}
        self.env.pop("PORT", None)
        self.process = None
        self.started_in = None

    def __enter__(self) -> Server:
        self.log = tempfile.TemporaryFile()
        started = time.perf_counter()
        # stdout (where gunicorn's and uvicorn's access logs go, when on) is discarded, as a fast
        # log pipe would take it; stderr is kept to show why a server did not start.
        self.process = subprocess.Popen(self.command, cwd=PROJECT, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=self.log, start_new_session=True)
        deadline = started + 120
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"{self.command[0]} exited: {self.log.read().decode()[-2000:]}")
            try:
                if post(self.url, self.body.read_bytes(), timeout=5)[0] == 200:
                    self.started_in = time.perf_counter() - started
                    return self
            except OSError:
                pass
            time.sleep(0.01)
        raise SystemExit(f"{self.command} did not answer within 120 s")

    def __exit__(self, *exc) -> None:
        # The server runs in its own session: stop its whole process group (master and workers).
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and its workers so far, including workers that
        max_requests has retired (their time is in the master's cutime and cstime once reaped)."""
        ticks = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def pids(self) -> list[int]:
        """The master and its children (the workers)."""
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                children = (task / "children").read_text().split() if (task / "children").exists() else []
                queue += [int(child) for child in children]
        return found


def drive(wrk: str, server: Server, duration: int, connections: int) -> dict:
    """Load the server with wrk: requests/s, p50 and p99 in ms, non-2xx answers or socket errors,
    and the server's CPU time per request (its processes' user + system time, which other work
    on the machine does not inflate the way it does wall-clock figures)."""
    cpu_before = server.cpu_seconds()
    output = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                             str(PROJECT / "bench" / "post.lua"), server.url],
                            env={**os.environ, "BENCH_BODY_FILE": str(server.body)},
                            capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    latency = {p: _ms(v, unit) for p, v, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", output, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "cpu_us": (server.cpu_seconds() - cpu_before) / max(requests, 1) * 1e6,
            "p50": latency["50"], "p99": latency["99"],
            "errors": f"{errors}" + (f" ({socket_errors.group(1)})" if socket_errors else "")}


def time_batch(server: Server, count: int) -> float | None:
    """Median seconds, over 5 requests, to answer `count` records in one request (None: refused)."""
    records = [RECORD] * count
    body = json.dumps({"dataframe_records": records} if server.path == "/invocations" else records).encode()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        status, _ = post(server.url, body, timeout=60)
        if status != 200:
            return None
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_memory(workers: int, body: Path) -> float:
    """Total PSS in MiB of formcast's master and `workers` workers, after each has answered requests."""
    server = Server([str(VENV_BIN / "gunicorn"), "app:app"], body, env={"WEB_CONCURRENCY": str(workers)})
    with server:
        for _ in range(50 * workers):  # connections are not kept alive: requests spread over the workers
            post(server.url, body.read_bytes(), timeout=10)
        time.sleep(0.5)
        total_kib = 0
        for pid in server.pids():
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            total_kib += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
    return total_kib / 1024


def request_parts(model_dir: Path) -> dict[str, float]:
    """Where the time of one single-record POST /predict goes, measured in this process."""
    from formcast.web import create_app
    from formcast.web.context import PREDICTOR_KEY

    app = create_app({"MODEL_DIR": str(model_dir)})
    predictor = app.extensions[PREDICTOR_KEY]
    body = json.dumps(RECORD).encode()
    clean, _ = predictor.validator.validate([RECORD])
    result = predictor.predict(clean)[0]
    client = app.test_client()
    from formcast.schema import records_to_frame

    def best(function, number=2000) -> float:
        return min(timeit.repeat(function, number=number, repeat=3)) / number * 1e6

    with app.app_context():
        parts = {
            "decode the JSON body": best(lambda: json.loads(body)),
            "validate (pydantic, from the schema)": best(lambda: predictor.validator.validate([RECORD])),
            "predict: fast path, with warnings": best(lambda: predictor.predict(clean)),
            "predict: the Pipeline on a DataFrame, for comparison": best(
                lambda: predictor.bundle.pipeline.predict_proba(records_to_frame(clean, predictor.schema)), 200),
            "encode the JSON answer": best(lambda: app.json.response(result)),
            "whole request through Flask (test client, no HTTP)": best(
                lambda: client.post("/predict", data=body, content_type="application/json"), 1000),
            "GET /health through Flask, for comparison": best(lambda: client.get("/health"), 1000),
        }
    return parts


def export_to_mlflow(model_dir: Path, metadata: dict, out: Path) -> Path:
    """Save the bundle's fitted Pipeline as an MLflow model that answers with predict_proba."""
    ensure_mlflow()
    script = (
        "import sys, joblib, mlflow.sklearn\n"
        "pipeline = joblib.load(sys.argv[1])\n"
        "mlflow.sklearn.save_model(pipeline, sys.argv[2], serialization_format='pickle',"
        " pyfunc_predict_fn='predict_proba')\n"
    )
    subprocess.run([str(MLFLOW_VENV / "bin" / "python"), "-c", script, str(model_dir / metadata["model_file"]),
                    str(out)], check=True, cwd=PROJECT)
    return out


def ensure_mlflow() -> None:
    """Install the pinned MLflow into bench/.venv-mlflow with the app's pinned model libraries (once)."""
    pins = [line.strip() for line in (PROJECT / "requirements.txt").read_text().splitlines()
            if line.split("==")[0].strip() in PICKLED_DISTRIBUTIONS]
    wanted = " ".join([f"mlflow=={MLFLOW_VERSION}", *pins])
    stamp = MLFLOW_VENV / ".formcast-bench"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"… installing {wanted} into {MLFLOW_VENV.relative_to(PROJECT)} (first run only)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    subprocess.run([str(MLFLOW_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", *wanted.split()], check=True)
    stamp.write_text(wanted)


def ensure_wrk() -> str:
    """Debian's wrk, installed with apt-get where it is missing and we are root."""
    found = shutil.which("wrk")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        print("… installing wrk (apt-get)", flush=True)
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
                       shell=True, check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is needed: apt-get install wrk (Debian/Ubuntu)")
    return found


def post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _batch_cell(seconds: float | None) -> str:
    return "refused" if seconds is None else f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
