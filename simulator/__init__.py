"""A fake LINE Messaging API platform for development and tests.

The package owns everything that pretends to be LINE: webhook event builders
(:mod:`simulator.events`), the platform's memory (:mod:`simulator.state`), the HTTP API the
bot calls (:mod:`simulator.platform`), webhooks sent to the bot (:mod:`simulator.webhooks`)
and serving it all on a local port (:mod:`simulator.server`). See docs/simulator.md.

Beside it, :mod:`simulator.oidc` is a local OpenID Connect provider standing in for a My
Number card identity provider (docs/coupons.md, Development).
"""

from simulator.platform import create_platform_app
from simulator.server import RunningPlatform, start_platform
from simulator.state import Delivery, PlatformError, PlatformState, SimUser
from simulator.webhooks import WebhookSender

__all__ = [
    "Delivery",
    "PlatformError",
    "PlatformState",
    "RunningPlatform",
    "SimUser",
    "WebhookSender",
    "create_platform_app",
    "start_platform",
]
