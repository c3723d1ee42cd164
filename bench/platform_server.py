"""The fake LINE platform for the webhook benchmark, as its own OS process.

It serves :mod:`simulator`'s Messaging API (validation, reply tokens, rate limits, request
log) exactly as ``python -m simulator`` does, without the webhook sender (the benchmark's
load generator posts the webhooks itself), plus a small control API under ``/_bench/`` that
the simulator's own control API lacks:

* ``POST /_bench/users`` ``{"userIds": [...]}`` creates residents who are already friends;
* ``POST /_bench/reply-tokens`` ``{"userIds": [...]}`` issues one reply token per entry, in
  order, as the platform does when it sends an event;
* ``POST /_bench/conditions`` ``{"latencyMs": 100, "faultRate": 0.05}`` sets how the
  Messaging API behaves from now on: every call waits ``latencyMs`` first, and that fraction
  of calls fails with a 500, half of them before anything happens and half after the call
  took effect (the reply delivered, its token spent: the caller cannot tell the two apart);
* ``GET /_bench/progress`` answers how many replies spent a token and how many pushes were
  delivered so far, and the time of the last one (cheap enough to poll);
* ``GET /_bench/report`` answers every reply that spent a token (token, request id, time),
  every reply refused by the state (spent, expired or unknown token), every delivery (method,
  recipient, request id, retry key, message count, time), the faults injected, the request
  log counted by endpoint and status, and the number of TCP connections accepted.

It prints ``READY <url>`` on stdout once listening and runs until SIGTERM or SIGINT.
Usage: ``python bench/platform_server.py --access-token T [--host H] [--port P]``.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from collections import Counter
from types import FrameType
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.serving import make_server

from simulator.platform import create_platform_app
from simulator.server import QuietRequestHandler
from simulator.state import Fault, PlatformError, PlatformState


class RecordingState(PlatformState):
    """A platform state that also remembers which reply token each reply spent."""

    def __init__(self, *, channel_access_token: str, seed: int = 0) -> None:
        super().__init__(channel_access_token=channel_access_token)
        self._record_lock = threading.Lock()
        self._random = random.Random(seed)
        #: Seconds every Messaging API call waits, and the fraction of calls that fail.
        self.latency = 0.0
        self.fault_rate = 0.0
        #: Faults injected by ``fault_rate``: before and after the call took effect.
        self.faults = {"before": 0, "after": 0}
        #: (reply token, request id, time) of every reply the platform accepted.
        self.spent: list[tuple[str, str, float]] = []
        #: (reply token, error) of every reply refused for its token.
        self.refused: list[tuple[str, str]] = []
        #: TCP connections accepted (werkzeug's server closes each after one request).
        self.connections = 0

    def take_fault(self, endpoint: str) -> Fault | None:
        """Every Messaging API call passes here once: the latency, then a random fault.

        Faults injected through the simulator's own API come first, as in the simulator.
        """
        if self.latency:
            time.sleep(self.latency)
        fault = super().take_fault(endpoint)
        if fault is not None or not self.fault_rate:
            return fault
        with self._record_lock:
            if self._random.random() >= self.fault_rate:
                return None
            after = self._random.random() < 0.5
            self.faults["after" if after else "before"] += 1
        return Fault(500, 1, after_delivery=after, delay=0.0, body=None)

    def progress(self) -> dict[str, Any]:
        """Replies and pushes so far, and when the last one arrived."""
        deliveries = self.deliveries()
        with self._record_lock:
            spent = len(self.spent)
        return {
            "spent": spent,
            "pushes": sum(1 for d in deliveries if d.method == "push"),
            "lastAt": max((d.at for d in deliveries), default=0.0),
        }

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
            self.spent.append((reply_token, request_id, time.time()))
        return sent

    def report(self) -> dict[str, Any]:
        """Everything the benchmark checks after a run."""
        with self._record_lock:
            spent, refused, connections = list(self.spent), list(self.refused), self.connections
            faults = dict(self.faults)
        requests = Counter(f"{r.endpoint} {r.status}" for r in self.requests())
        return {
            "spent": spent,
            "refused": refused,
            "deliveries": [
                {
                    "userId": d.user_id,
                    "method": d.method,
                    "requestId": d.request_id,
                    "retryKey": d.retry_key,
                    "messages": len(d.messages),
                    "at": d.at,
                }
                for d in self.deliveries()
            ],
            "faults": faults,
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

    @bench.post("/conditions")
    def conditions() -> Response:
        """Sets the latency (ms) and the fault rate of the Messaging API from now on."""
        body = request.get_json(force=True, silent=True) or {}
        latency, rate = body.get("latencyMs", 0), body.get("faultRate", 0.0)
        if not isinstance(latency, int | float) or not 0 <= latency <= 10_000:
            raise PlatformError(400, "latencyMs must be 0 to 10000")
        if not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise PlatformError(400, "faultRate must be at least 0 and below 1")
        state.latency, state.fault_rate = latency / 1000, float(rate)
        return _json({})

    @bench.get("/progress")
    def progress() -> Response:
        """Answers how many replies and pushes arrived, and when the last one did."""
        return _json(state.progress())

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
