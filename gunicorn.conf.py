"""gunicorn settings, read by `gunicorn app:app` from this directory (Procfile, Dockerfile, scripts/run).

Every value reads the environment a platform sets, with a safe local fallback.
https://docs.gunicorn.org/en/stable/settings.html
"""

import gc
import os
import shutil
import tempfile

# One BLAS/OpenMP thread per worker. Workers are separate processes already, and
# thread pools started before a fork can hang the children. Set here, before
# the app (and numpy) is imported in the master.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# A platform (Heroku, Render, a container) gives the port in $PORT and expects the
# app on every interface; run locally, listen on loopback only.
if "PORT" in os.environ:
    bind = f"0.0.0.0:{os.environ['PORT']}"
else:
    bind = "127.0.0.1:8000"

# Heroku sets WEB_CONCURRENCY from the dyno's memory (2 on a 512 MB dyno).
# Prediction is CPU-bound, so more workers than cores only queue.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Sync workers: each request is short CPU work (a single record takes tens of
# microseconds of our code, see the README's "Fast serving"), with no slow I/O to
# overlap, so a thread or an event loop per worker would only add switching. One
# request at a time per process also keeps numpy's and OpenMP's pools at one thread.
# (A slow client holds a sync worker while it sends: gunicorn's docs advise a buffering
# proxy such as nginx in front where clients reach the app directly.)
worker_class = "sync"
# Read only by threaded worker classes; stated so that switching class is a conscious change.
threads = 1

# Load the model once in the master, before forking: the workers share its
# memory copy-on-write, and a broken bundle stops start-up with one clear line
# instead of a crash loop of workers. (A HUP then restarts workers without
# reloading the model: deploy a new model as a new release.)
preload_app = True


def pre_fork(server, worker):
    """Move every object the master has made (app, model arrays, schema) out of the
    garbage collector's reach before forking: a collection in a worker would otherwise
    write to their headers and copy the pages they share with the master."""
    gc.freeze()


# Heroku's router gives up on a request after 30 s; a worker stuck longer than
# this is killed and replaced, so the client gets an answer from someone.
timeout = 25

# Heroku gives a dyno 30 s between SIGTERM and SIGKILL: finish in-flight requests within that.
graceful_timeout = 20

# Restart each worker after this many requests (jittered so they do not all
# restart at once), bounding the effect of any slow leak. Not lower: a worker answers
# over 1,000 one-record requests a second here, and each restart is a fork and a
# warm-up (gc.freeze keeps the restarted worker's memory shared, see pre_fork).
max_requests = 10000
max_requests_jitter = 1000

# gunicorn 25+ opens a control socket under $HOME for `gunicornc`. We do not use it,
# a container's user may have no writable home, and two servers would share one path.
control_socket_disable = True

# Logs go to stdout/stderr, where platforms collect them. No gunicorn access log: the app
# writes one JSON line per request itself (formcast/web/observability.py), which
# FORMCAST_REQUEST_LOG=false turns off (the platform's router logs every request too).
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")


# --- formcast: metrics across workers and per-worker readiness (issue 7) ---------------
# prometheus_client keeps each worker's numbers in files in this directory and sums
# them on every scrape. It must be set before the app (and prometheus_client) is
# imported, and must start empty: a fresh temporary directory unless the platform
# gives one.
_created_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _created_metrics_dir = tempfile.mkdtemp(prefix="formcast-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_metrics_dir
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def post_worker_init(worker):
    """Warm the model up in the worker, after the fork: /readyz answers 200 only after this."""
    from formcast.web.observability import warm_up

    try:
        warm_up(worker.wsgi)
    except Exception:  # noqa: BLE001 -- /readyz retries and reports; the worker still serves
        worker.log.exception("formcast: the warm-up prediction failed")


def child_exit(server, worker):
    """A dead worker's gauges are dropped; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    # After a USR2 upgrade (server.reexec_pid set) the new master's workers still use it.
    if _created_metrics_dir and not server.reexec_pid:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
