"""The fake LINE platform for the webhook benchmark, as its own OS process.

It serves :mod:`simulator`'s Messaging API (validation, reply tokens, rate limits, request
log) exactly as ``python -m simulator`` does, without the webhook sender (the benchmark's
load generator posts the webhooks itself), plus a small control API under ``/_bench/`` that
the simulator's own control API lacks:

* ``POST /_bench/users`` ``{"userIds": [...]}`` creates residents who are already friends;
* ``POST /_bench/reply-tokens`` ``{"userIds": [...]}`` issues one reply token per entry, in
  order, as the platform does when it sends an event;
* ``GET /_bench/report`` answers every reply that spent a token (token and request id), every
  reply refused by the state (spent, expired or unknown token), every delivery (method,
  recipient, request id, message count), the request log counted by endpoint and status, and
  the number of TCP connections accepted.

It prints ``READY <url>`` on stdout once listening and runs until SIGTERM or SIGINT.
Usage: ``python bench/platform_server.py --access-token T [--host H] [--port P]``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections import Counter
from types import FrameType
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.serving import make_server

from simulator.platform import create_platform_app
from simulator.server import QuietRequestHandler
from simulator.state import PlatformError, PlatformState


class RecordingState(PlatformState):
    """A platform state that also remembers which reply token each reply spent."""

    def __init__(self, *, channel_access_token: str) -> None:
        super().__init__(channel_access_token=channel_access_token)
        self._record_lock = threading.Lock()
        #: (reply token, request id) of every reply the platform accepted.
        self.spent: list[tuple[str, str]] = []
        #: (reply token, error) of every reply refused for its token.
        self.refused: list[tuple[str, str]] = []
        #: TCP connections accepted (werkzeug's server closes each after one request).
        self.connections = 0

    def count_connection(self) -> None:
        """Counts one accepted TCP connection."""
        with self._record_lock:
            self.connections += 1

    def reply(
        self, reply_token: str, messages: list[dict[str, Any]], *, request_id: str
    ) -> list[dict[str, str]]:
        """Spends the token like the simulator, recording the outcome."""
        try:
            sent = super().reply(reply_token, messages, request_id=request_id)
        except PlatformError as error:
            with self._record_lock:
                self.refused.append((reply_token, str(error)))
            raise
        with self._record_lock:
            self.spent.append((reply_token, request_id))
        return sent

    def report(self) -> dict[str, Any]:
        """Everything the benchmark checks after a run."""
        with self._record_lock:
            spent, refused, connections = list(self.spent), list(self.refused), self.connections
        requests = Counter(f"{r.endpoint} {r.status}" for r in self.requests())
        return {
            "spent": spent,
            "refused": refused,
            "deliveries": [
                {
                    "userId": d.user_id,
                    "method": d.method,
                    "requestId": d.request_id,
                    "messages": len(d.messages),
                }
                for d in self.deliveries()
            ],
            "requests": dict(sorted(requests.items())),
            "connections": connections,
        }


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def _user_ids() -> list[str]:
    body = request.get_json(force=True, silent=True) or {}
    ids = body.get("userIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise PlatformError(400, "userIds (a list of strings) is required")
    return ids


def bench_blueprint(state: RecordingState) -> Blueprint:
    """The ``/_bench/`` control API (see the module docstring)."""
    bench = Blueprint("bench", __name__, url_prefix="/_bench")

    @bench.errorhandler(PlatformError)
    def refused(error: PlatformError) -> Response:
        return _json(error.body, error.status)

    @bench.post("/users")
    def create_users() -> Response:
        """Creates residents who already follow the account (profiles answer 200)."""
        for number, user_id in enumerate(_user_ids()):
            state.add_user(f"住民{number}", "ja", user_id, is_friend=True)
        return _json({}, 201)

    @bench.post("/reply-tokens")
    def reply_tokens() -> Response:
        """Issues one reply token per user id given, in order."""
        return _json({"replyTokens": [state.issue_reply_token(u) for u in _user_ids()]})

    @bench.get("/report")
    def report() -> Response:
        """Answers the spent and refused tokens, the deliveries and the request counts."""
        return _json(state.report())

    return bench


def build_app(state: RecordingState) -> Flask:
    """The simulator's platform app with the benchmark's control API added."""
    app = create_platform_app(state)
    app.register_blueprint(bench_blueprint(state))
    return app


def counting_handler(state: RecordingState) -> type[QuietRequestHandler]:
    """The simulator's quiet request handler, counting connections."""

    class CountingHandler(QuietRequestHandler):
        def setup(self) -> None:
            super().setup()
            state.count_connection()

    return CountingHandler


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    """Serves the platform until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--access-token", required=True)
    args = parser.parse_args(argv)

    state = RecordingState(channel_access_token=args.access_token)
    server = make_server(
        args.host,
        args.port,
        build_app(state),
        threaded=True,
        request_handler=counting_handler(state),
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"READY http://{args.host}:{server.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
