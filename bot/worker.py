"""The ``worker`` process (``python -m bot.worker``): event workers without a web server.

For deployments that separate webhook intake from processing: run the web process with
``EVENT_WORKERS=0`` and as many of these as the load needs, on any machines that reach the
PostgreSQL database (they share one inbox). Stopped by SIGTERM or Ctrl-C after the current
events; a killed one's events are taken up again when their leases expire.
"""

from __future__ import annotations

import signal
import threading

from bot import create_app


def main() -> None:
    """Run ``EVENT_WORKERS`` worker threads (at least one) until stopped."""
    app = create_app()
    workers = app.extensions["workers"]
    stopping = threading.Event()
    for name in ("SIGTERM", "SIGINT"):
        signal.signal(getattr(signal, name), lambda *_: stopping.set())
    workers.start(max(1, app.config["EVENT_WORKERS"]))
    stopping.wait()
    workers.stop()


if __name__ == "__main__":
    main()
