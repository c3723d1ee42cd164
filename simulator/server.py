"""Serving the simulated LINE Platform over real HTTP, in a background thread.

This module owns the platform's HTTP server lifecycle: a threaded werkzeug server on a local
port (0 picks a free one), started in a daemon thread and stopped with ``shutdown()``.
Request lines are logged at DEBUG only, so tests and ``make run`` stay quiet.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from simulator.platform import create_platform_app
from simulator.state import PlatformState
from simulator.webhooks import WebhookSender

logger = logging.getLogger(__name__)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with the per-request access log moved to DEBUG."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug('"%s" %s %s', self.requestline, code, size)


class RunningPlatform:
    """A platform being served; ``url`` is the SDK's ``Configuration(host=...)``."""

    def __init__(
        self, state: PlatformState, server: BaseWSGIServer, thread: threading.Thread, url: str
    ) -> None:
        self.state = state
        self.url = url
        self.port = server.port
        self._server = server
        self._thread = thread

    def shutdown(self) -> None:
        """Stops serving, closes the listening socket and waits for the thread."""
        self._server.shutdown()
        self._thread.join()

    def __enter__(self) -> RunningPlatform:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<RunningPlatform {self.url}>"


def start_platform(
    state: PlatformState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    webhook: WebhookSender | None = None,
) -> RunningPlatform:
    """Serves the platform on ``host:port`` (0: any free port) until ``shutdown()``."""
    app = create_platform_app(state, webhook=webhook)
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"line-simulator:{server.port}",
        daemon=True,
    )
    thread.start()
    url_host = f"[{host}]" if ":" in host else host
    running = RunningPlatform(state, server, thread, f"http://{url_host}:{server.port}")
    logger.info("LINE platform simulator listening on %s", running.url)
    return running
