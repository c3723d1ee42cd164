"""Serving the simulated LINE Platform over real HTTP, in a background thread.

This module owns the HTTP server lifecycle (for the platform, and for any app the tests serve
live): a threaded werkzeug server on a local port (0 picks a free one), started in a daemon
thread and stopped with ``shutdown()``.
Request lines are logged at DEBUG only, so tests and ``make run`` stay quiet.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from werkzeug.serving import WSGIRequestHandler, make_server

from simulator.platform import LOOPBACK_HOSTS, create_platform_app
from simulator.state import PlatformState
from simulator.webhooks import WebhookSender

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

logger = logging.getLogger(__name__)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with the per-request access log moved to DEBUG."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug('"%s" %s %s', self.requestline, code, size)


class ServedApp:
    """A WSGI app served over real HTTP in a daemon thread; ``url`` has no trailing slash."""

    def __init__(
        self, app: WSGIApplication, *, host: str = "127.0.0.1", port: int = 0, name: str = "wsgi"
    ) -> None:
        self._server = make_server(
            host, port, app, threaded=True, request_handler=QuietRequestHandler
        )
        self.port = self._server.port
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{name}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stops serving, closes the listening socket and waits for the thread."""
        self._server.shutdown()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


class RunningPlatform(ServedApp):
    """A platform being served; ``url`` is the SDK's ``Configuration(host=...)``."""

    def __init__(self, state: PlatformState, **options: Any) -> None:
        self.state = state
        super().__init__(**options)


def start_platform(
    state: PlatformState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    webhook: WebhookSender | None = None,
) -> RunningPlatform:
    """Serves the platform on ``host:port`` (0: any free port) until ``shutdown()``."""
    named = {host} - {"", "0.0.0.0", "::"}  # noqa: S104 - names, not a bind
    app = create_platform_app(state, webhook=webhook, hosts=LOOPBACK_HOSTS | named)
    running = RunningPlatform(state, app=app, host=host, port=port, name="line-simulator")
    logger.info("LINE platform simulator listening on %s", running.url)
    return running
