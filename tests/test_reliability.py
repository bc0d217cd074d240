"""Reliability under load and faults, against the real gunicorn of the Procfile on 127.0.0.1.

Marked ``reliability`` (run alone with ``pytest -m reliability -s`` to see the
figures): a load test, a worker killed with SIGKILL under load, SIGTERM under
load, and a new model rolled out under load. Each is bounded in clients and
seconds; together they take about a minute on a 2-core machine.
The load test prints requests sent, errors, p50 and p99, and each worker's memory.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import DATASETS, PENGUIN, PROJECT, LiveServer, train_bundle

pytestmark = [pytest.mark.server, pytest.mark.reliability]

BATCH = [PENGUIN] * 20


# --- a bounded load generator --------------------------------------------------------------

@dataclass
class Outcome:
    started: float
    seconds: float
    status: int | None  # None: no HTTP answer at all (connection refused or reset)
    error: str = ""
    model: str | None = None


@dataclass
class Load:
    """``clients`` threads, each sending requests one after another on fresh connections until stopped."""

    port: int
    clients: int
    kinds: tuple[str, ...] = ("single", "batch")
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _client(self, number: int) -> None:
        turn = number
        while not self._stop.is_set():
            kind = self.kinds[turn % len(self.kinds)]
            turn += 1
            self.outcomes.append(self.send(kind))

    def send(self, kind: str) -> Outcome:
        path, body = {"single": ("/predict", PENGUIN), "batch": ("/predict", BATCH), "health": ("/health", None)}[kind]
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            if body is None:
                connection.request("GET", path)
            else:
                connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            response = connection.getresponse()
            data = json.loads(response.read())
            ok = response.status == 200 and (kind != "batch" or len(data["predictions"]) == len(BATCH))
            model = data["model"]["id"] if kind == "health" and ok else None
            return Outcome(started, time.monotonic() - started, response.status, "" if ok else str(data)[:200], model)
        except (OSError, http.client.HTTPException, ValueError) as error:
            return Outcome(started, time.monotonic() - started, None, f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.error]


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


# --- the processes behind a LiveServer ---------------------------------------------------------

def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def open_sockets(pid: int) -> int:
    return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if os.readlink(fd).startswith("socket:"))


def wait_for_workers(server: LiveServer, count: int = 2) -> set[int]:
    """The master's workers, once all have booted (/health answers as soon as one has)."""
    def booted():
        found = children(server.process.pid)
        return found if len(found) == count else None

    return wait_for(booted, 30, f"{count} workers run", server)


def memory_mib(pid: int) -> float:
    """The worker's proportional set size (its share of pages shared with the master counted fairly)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no Pss for {pid}")


def wait_for(condition, timeout: float, what: str, server: LiveServer | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    log = "".join(line for line in server._lines if not line.startswith("{")) if server else ""
    raise AssertionError(f"timed out after {timeout} s waiting until {what}\n{log}")


def gunicorn_setting(name: str, default):
    """A setting as gunicorn.conf.py gives it (run in a child, so its side effects stay there)."""
    code = f"import runpy; print(repr(runpy.run_path('gunicorn.conf.py').get({name!r}, {default!r})))"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(PROJECT / ".pytest_cache" / "metrics-probe")}
    output = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True,
                            check=True, timeout=30).stdout
    shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    return eval(output)  # noqa: S307 -- repr of a literal from our own config file


@pytest.fixture
def server(penguin_bundle):
    # No recycling of workers during these short runs (max_requests is 2000 in production):
    # the memory measured at the end is the same processes' as at the start.
    server = LiveServer(penguin_bundle, {"WEB_CONCURRENCY": "2", "GUNICORN_CMD_ARGS": "--max-requests 0"})
    try:
        server.wait_until_ready()
        wait_for_workers(server)
        yield server
    finally:
        server.stop()


# --- the tests -----------------------------------------------------------------------------------

CLIENTS, SECONDS = 4, 10
MEMORY_GROWTH_BOUND_MIB = 10  # measured: +0.2 to +0.4 MiB over the run (gc.freeze in the master, see gunicorn.conf.py)


def test_load_single_and_batch_requests_without_errors_or_memory_growth(server):
    warm = Load(server.port, clients=2)
    for kind in ("single", "batch") * 50:  # first requests allocate caches; measure after them
        assert not warm.send(kind).error
    workers = children(server.process.pid)
    before = {pid: memory_mib(pid) for pid in workers}

    with Load(server.port, clients=CLIENTS) as load:
        time.sleep(SECONDS / 2)
        middle = {pid: memory_mib(pid) for pid in workers}
        time.sleep(SECONDS / 2)

    after = {pid: memory_mib(pid) for pid in workers}
    latencies = sorted(outcome.seconds * 1000 for outcome in load.outcomes)
    print(f"\nload: {CLIENTS} clients for {SECONDS} s, single and batch ({len(BATCH)} records) alternating: "
          f"{len(load.outcomes)} requests sent, {len(load.failures)} errors, "
          f"{len(load.outcomes) / SECONDS:.0f} requests/s, p50 {percentile(latencies, 0.50):.1f} ms, "
          f"p99 {percentile(latencies, 0.99):.1f} ms")
    for pid in workers:
        print(f"load: worker {pid} PSS {before[pid]:.1f} MiB at start, {middle[pid]:.1f} MiB half way, "
              f"{after[pid]:.1f} MiB at end")

    assert load.failures == []
    assert children(server.process.pid) == workers  # no worker died or was replaced
    for pid in workers:
        assert after[pid] - before[pid] < MEMORY_GROWTH_BOUND_MIB


def test_a_worker_killed_with_sigkill_under_load_is_replaced_and_few_requests_fail(server):
    # A worker holds at most `threads` requests at once (1 with sync workers): only those
    # can be lost when it dies; requests waiting on the shared socket go to the other worker.
    threads = gunicorn_setting("threads", 1)
    workers = children(server.process.pid)

    with Load(server.port, clients=CLIENTS) as load:
        time.sleep(1)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        replaced = wait_for(lambda: (children(server.process.pid) - workers) or None, 15, "a new worker runs")
        time.sleep(2)

    after_kill = [outcome for outcome in load.outcomes if outcome.started > killed_at + 1]
    print(f"\nkill -9: worker {victim} killed under load, replaced by {sorted(replaced)}; "
          f"{len(load.outcomes)} requests sent, {len(load.failures)} failed (bound {threads})")
    assert len(children(server.process.pid)) == 2
    assert len(load.failures) <= threads
    assert after_kill and not [outcome for outcome in after_kill if outcome.error]


def test_sigterm_under_load_finishes_in_flight_requests_and_exits_cleanly_within_30_s(server):
    # In flight by construction, however fast the model: each client sends half its body,
    # waits until SIGTERM has been sent, then sends the rest and reads the answer.
    slow_batch = [PENGUIN] * 8000
    body = json.dumps(slow_batch).encode()
    signal_sent = threading.Event()
    results, answered = {}, {}
    workers = children(server.process.pid)
    idle = {pid: open_sockets(pid) for pid in workers}

    def send(number):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.putrequest("POST", "/predict")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders()
            connection.send(body[: len(body) // 2])
            signal_sent.wait(timeout=30)
            time.sleep(0.5)  # the workers have had the signal passed on by the master
            connection.send(body[len(body) // 2:])
            response = connection.getresponse()
            results[number] = (response.status, len(json.loads(response.read())["predictions"]))
        except OSError as error:
            results[number] = (None, f"{type(error).__name__}: {error}")
        answered[number] = time.monotonic()

    senders = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for sender in senders:
        sender.start()
    # Each sync worker is reading one half-sent body (a socket more than when idle), so
    # neither connection waits in the listen queue, which is reset at shutdown.
    wait_for(lambda: all(open_sockets(pid) > idle[pid] for pid in workers), 10, "each worker holds a request")
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    signal_sent.set()
    code = server.process.wait(timeout=30)
    exited = time.monotonic() - signalled
    for sender in senders:
        sender.join(timeout=30)

    print(f"\nSIGTERM: 2 requests of {len(slow_batch)} records in flight; answers {results}; "
          f"exit code {code} after {exited:.1f} s")
    assert results == {0: (200, len(slow_batch)), 1: (200, len(slow_batch))}
    assert min(answered.values()) > signalled  # they were in flight when the signal came
    assert code == 0
    assert exited < 30  # Heroku sends SIGKILL 30 s after SIGTERM


def test_a_new_model_rolls_out_under_load_with_no_failed_request(tmp_path, penguin_bundle):
    """USR2 starts a new master (and workers) on the new bundle beside the old; then the old one stops.

    Both masters accept on the same inherited socket, so no connection is refused
    at any moment. The new model is trained into the served directory first
    (train.py's write is atomic), as a deploy would.
    """
    csv, target = DATASETS["penguins"]
    model_dir = shutil.copytree(penguin_bundle, tmp_path / "model")
    server = LiveServer(model_dir, {"WEB_CONCURRENCY": "2"})
    new_master = None
    try:
        server.wait_until_ready()
        old_master = server.process.pid
        old_workers = wait_for_workers(server)
        load = Load(server.port, clients=CLIENTS, kinds=("single", "health", "batch"))
        with load:
            old_id = wait_for(lambda: next((o.model for o in load.outcomes if o.model), None), 10, "a health answer")
            train_bundle(model_dir, csv, target, "--seed", "7")  # the new release's model
            os.kill(old_master, signal.SIGUSR2)
            new_master = wait_for(lambda: next(iter(children(old_master) - old_workers), None), 30,
                                  "the new master runs", server)
            wait_for(lambda: len(children(new_master)) == 2, 60, "the new master's workers run", server)
            switched = time.monotonic()
            wait_for(lambda: any(o.model not in (None, old_id) and o.started > switched for o in load.outcomes),
                     30, "the new model answers")
            os.kill(old_master, signal.SIGTERM)  # graceful: the old workers finish what they hold
            assert server.process.wait(timeout=30) == 0
            stopped = time.monotonic()
            time.sleep(1)

        models = {o.model for o in load.outcomes if o.model}
        after = {o.model for o in load.outcomes if o.model and o.started > stopped}
        print(f"\nrollout: {len(load.outcomes)} requests sent during the switch, {len(load.failures)} failed; "
              f"models answering: {sorted(models)}; after the old master stopped: {sorted(after)}")
        assert load.failures == []
        assert len(models) == 2 and old_id in models
        assert after and old_id not in after
    finally:
        if new_master:
            os.kill(new_master, signal.SIGTERM)
            wait_for(lambda: not Path(f"/proc/{new_master}").exists() or
                     "Z" in Path(f"/proc/{new_master}/stat").read_text().rpartition(")")[2].split()[0], 30,
                     "the new master stops")
        server.stop()
