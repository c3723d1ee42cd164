"""gunicorn settings for the ``web`` process (Procfile). Tunable through the environment."""

import os
import shutil
import tempfile

from prometheus_client import multiprocess

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

#: Name prefix of the metrics folder the master creates (and removes at exit).
METRICS_PREFIX = "madoguchi-metrics-"


def on_starting(server: object) -> None:
    """Give the workers a shared folder for Prometheus metrics (``/metrics`` sums them)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_PREFIX)


def on_exit(server: object) -> None:
    """Remove the metrics folder if this master created it (never an operator's own)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(folder).startswith(METRICS_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


def child_exit(server: object, worker: object) -> None:
    """Forget a dead worker's live gauges."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
