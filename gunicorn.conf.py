"""gunicorn settings for the ``web`` process (Procfile). Tunable through the environment.

Each gunicorn worker process also runs the app's event workers (``EVENT_WORKERS`` threads,
bot/workers.py): they process what the webhook stored in the inbox.
"""

import os
import shutil
import tempfile
from typing import Any

#: Name prefix of the metrics folder the master creates (and removes at exit).
METRICS_PREFIX = "madoguchi-metrics-"

# prometheus_client chooses between in-process and multiprocess values when it is first
# imported, so the folder must be known before anything imports it: here, at the top of the
# configuration the master reads first, and inherited by every worker it forks.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_PREFIX)

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep a worker busy while it waits on the database or LINE; more than 4 only
# add contention for the interpreter lock (measured with bench/webhook.py on 2 cores).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# LINE waits 2 s for a webhook answer; a request still running after 30 s is stuck.
timeout = 30
graceful_timeout = 30
keepalive = 5
max_requests = 10000
max_requests_jitter = 1000
accesslog = None  # request lines carry no personal data, but the app logs what matters
errorlog = "-"
wsgi_app = "bot:create_app()"
# gunicorn's control socket lives in $HOME and is shared by every master of the same user;
# madoguchi does not use it, and two web processes on one host would replace each other's.
control_socket_disable = True


def _event_workers(worker: object) -> Any:
    """The app's event workers, or None (the benchmark's echo bot has none)."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    return extensions.get("workers")


def post_worker_init(worker: object) -> None:
    """Start the app's event workers in this gunicorn worker process."""
    workers = _event_workers(worker)
    if workers is not None:
        workers.start()


def worker_exit(server: object, worker: object) -> None:
    """Let the event workers finish their current event (its lease covers a hard stop)."""
    workers = _event_workers(worker)
    if workers is not None:
        workers.stop()


def on_exit(server: object) -> None:
    """Remove the metrics folder if this master created it (never an operator's own)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(folder).startswith(METRICS_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


def child_exit(server: object, worker: object) -> None:
    """Forget a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
