"""Command line: run the simulated LINE Platform on its own.

``python -m simulator --port 5001 --webhook-url http://127.0.0.1:5000/callback
--channel-secret S --access-token T`` serves the fake Messaging API and the control API
until interrupted. Point the bot's ``LINE_API_BASE_URL`` at the printed URL and give it the
same channel secret and access token.
"""

from __future__ import annotations

import argparse
import logging
import threading

from simulator.server import start_platform
from simulator.state import PlatformState
from simulator.webhooks import WebhookSender

logger = logging.getLogger(__name__)

# Well-known development values: the simulator guards nothing real.
DEFAULT_CHANNEL_SECRET = "simulator-channel-secret"  # noqa: S105
DEFAULT_ACCESS_TOKEN = "simulator-access-token"  # noqa: S105


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Reads the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Run a fake LINE Messaging API platform."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5001, help="port (default: %(default)s)")
    parser.add_argument(
        "--webhook-url",
        default="http://127.0.0.1:5000/callback",
        help="the bot's webhook URL (default: %(default)s)",
    )
    parser.add_argument(
        "--channel-secret",
        default=DEFAULT_CHANNEL_SECRET,
        help="secret used to sign webhooks (default: %(default)s)",
    )
    parser.add_argument(
        "--access-token",
        default=DEFAULT_ACCESS_TOKEN,
        help="bearer token the bot must send (default: %(default)s)",
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the bot's answer (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serves the simulator until Ctrl-C."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    state = PlatformState(channel_access_token=args.access_token)
    with (
        WebhookSender(
            state,
            webhook_url=args.webhook_url,
            channel_secret=args.channel_secret,
            timeout=args.webhook_timeout,
        ) as webhook,
        start_platform(state, host=args.host, port=args.port, webhook=webhook),
    ):
        logger.info("webhooks go to %s; control API under /_simulator/", args.webhook_url)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            logger.info("stopping")


if __name__ == "__main__":
    main()
