"""The one dispatch table: ordered interceptors, then the router.

An interceptor sees every event of a one-to-one chat before the router, inside the event's
unit of work (it may read and write rows and queue messages). It either observes and lets
the event go on (returns False) or claims it (returns True: nothing after it runs). The
dialog engine is one interceptor among them (order :data:`DIALOGS`): an open consultation
case that takes every message sits before it, a consent check or an audit of every event
too; crisis words are checked first of all, at any time.

Start-up check: two routes, or a route and a dialog entry point, that claim the same input
(a word, a postback action) are refused before the app serves anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.context import EventContext
from bot.dialog import DialogEngine
from bot.routing import RouteConflict, Router, find_overlaps

#: Where the dialog engine sits; feature interceptors choose an order around it.
DIALOGS = 500

Intercept = Callable[[EventContext], bool]


@dataclass(frozen=True)
class Interceptor:
    """A named stage before the router: returns True when it claims the event."""

    name: str
    order: int
    handle: Intercept


class Dispatcher:
    """Interceptors by order, then the router's routes, then its fallback."""

    def __init__(self, router: Router, dialogs: DialogEngine) -> None:
        self.router = router
        self.dialogs = dialogs
        self._interceptors: list[Interceptor] = []
        self.add(Interceptor("dialog", DIALOGS, dialogs))

    def add(self, interceptor: Interceptor) -> None:
        """Add an interceptor (equal orders keep registration order).

        :raises RouteConflict: the name is taken.
        """
        if any(i.name == interceptor.name for i in self._interceptors):
            raise RouteConflict(f"interceptor {interceptor.name!r} registered twice")
        self._interceptors.append(interceptor)
        self._interceptors.sort(key=lambda i: i.order)

    @property
    def order(self) -> tuple[str, ...]:
        """The stages' names in dispatch order (for docs and tests)."""
        return (*(i.name for i in self._interceptors), "router")

    def dispatch(self, ctx: EventContext) -> str:
        """Run the event through the stages; return the name of what answered it."""
        for interceptor in self._interceptors:
            if interceptor.handle(ctx):
                return interceptor.name
        name, handler = self.router.resolve(ctx.incoming)
        handler(ctx)
        return name

    def check(self) -> None:
        """Refuse routes and dialog entry points that claim the same input.

        :raises RouteConflict: naming both registrations and the shared input.
        """
        overlaps = find_overlaps(
            [*self.dialogs.named_entry_predicates(), *self.router.named_predicates()]
        )
        if overlaps:
            raise RouteConflict(
                "; ".join(
                    f"{first} and {second} both claim {sorted(shared) or 'the same input'}"
                    for first, second, shared in overlaps
                )
            )
