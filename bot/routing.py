"""The router: an ordered table of routes with composable predicates and one fallback.

Each webhook event is normalised once into an :class:`Incoming`; predicates look only at
that. Routes are tried by group, then in registration order; the first match wins. Feature
modules register their routes with ``register(router)``. Registering the same predicate or
route name twice is an error at start-up (the SDK's ``WebhookHandler`` silently overwrites).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.postback import PostbackData

if TYPE_CHECKING:
    from bot.context import EventContext

Handler = Callable[["EventContext"], None]


def normalise_text(text: str) -> str:
    """Fold a typed word for matching: full-width to half-width, spaces trimmed, case folded."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


@dataclass(frozen=True)
class Incoming:
    """What a predicate may look at: one event, normalised.

    ``kind`` is the event type (``message``, ``postback``, ``follow``, ...); for messages,
    ``message_type`` is ``text``, ``image``, ... and ``text`` the text as typed.
    """

    kind: str
    message_type: str | None = None
    text: str | None = None
    #: Decoded postback data; ``None`` when absent or not produced by this bot.
    postback: PostbackData | None = None
    #: Raw postback ``data`` (only for diagnostics; never routed on).
    postback_raw: str | None = None
    #: Datetime-picker result (``date``, ``time`` or ``datetime``) or rich-menu switch result.
    postback_params: dict[str, str] = field(default_factory=dict)

    @property
    def folded_text(self) -> str | None:
        """The text folded for keyword matching."""
        return None if self.text is None else normalise_text(self.text)


class Predicate:
    """Something that matches an :class:`Incoming`; combine with ``&``, ``|`` and ``~``."""

    def __call__(self, incoming: Incoming) -> bool:
        raise NotImplementedError

    def __and__(self, other: Predicate) -> Predicate:
        return All((self, other))

    def __or__(self, other: Predicate) -> Predicate:
        return Any_((self, other))

    def __invert__(self) -> Predicate:
        return Not(self)


@dataclass(frozen=True)
class Kind(Predicate):
    """Matches an event type (``follow``, ``unfollow``, ``message``, ...)."""

    kind: str

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.kind == self.kind


@dataclass(frozen=True)
class MessageType(Predicate):
    """Matches a message event of one content type (``text``, ``image``, ``sticker``, ...)."""

    message_type: str

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.kind == "message" and incoming.message_type == self.message_type


@dataclass(frozen=True, init=False)
class Text(Predicate):
    """Matches a text message equal to one of the words (after :func:`normalise_text`)."""

    words: frozenset[str]

    def __init__(self, *words: str) -> None:
        if not words:
            raise ValueError("Text() needs at least one word")
        object.__setattr__(self, "words", frozenset(normalise_text(w) for w in words))

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.kind == "message" and incoming.folded_text in self.words


@dataclass(frozen=True)
class AnyText(Predicate):
    """Matches any text message."""

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.kind == "message" and incoming.text is not None


@dataclass(frozen=True)
class Action(Predicate):
    """Matches a postback with the given action (data this bot produced and could parse)."""

    action: str

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.postback is not None and incoming.postback.action == self.action


@dataclass(frozen=True)
class All(Predicate):
    """Matches when every part matches."""

    parts: tuple[Predicate, ...]

    def __call__(self, incoming: Incoming) -> bool:
        return all(part(incoming) for part in self.parts)


@dataclass(frozen=True)
class Any_(Predicate):
    """Matches when any part matches."""

    parts: tuple[Predicate, ...]

    def __call__(self, incoming: Incoming) -> bool:
        return any(part(incoming) for part in self.parts)


@dataclass(frozen=True)
class Not(Predicate):
    """Matches when the part does not."""

    part: Predicate

    def __call__(self, incoming: Incoming) -> bool:
        return not self.part(incoming)


class RouteConflict(ValueError):
    """Raised at start-up when two routes share a name or a predicate."""


@dataclass(frozen=True)
class Route:
    """One entry of the route table."""

    name: str
    predicate: Predicate
    handler: Handler
    group: int = 0


class Router:
    """Ordered routes, lower groups first, first match wins, one explicit fallback."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._fallback: Handler | None = None

    def add(self, name: str, predicate: Predicate, handler: Handler, *, group: int = 0) -> None:
        """Register a route.

        :raises RouteConflict: the name or an equal predicate is already registered.
        """
        for route in self._routes:
            if route.name == name:
                raise RouteConflict(f"route name {name!r} registered twice")
            if route.predicate == predicate:
                raise RouteConflict(
                    f"route {name!r} has the same predicate as {route.name!r}: {predicate!r}"
                )
        self._routes.append(Route(name, predicate, handler, group))
        self._routes.sort(key=lambda r: r.group)  # stable: keeps registration order per group

    def route(
        self, name: str, predicate: Predicate, *, group: int = 0
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def decorate(handler: Handler) -> Handler:
            self.add(name, predicate, handler, group=group)
            return handler

        return decorate

    def set_fallback(self, handler: Handler) -> None:
        """Set the one handler for events no route matches.

        :raises RouteConflict: a fallback is already set.
        """
        if self._fallback is not None:
            raise RouteConflict("the router already has a fallback")
        self._fallback = handler

    def match(self, incoming: Incoming) -> Route | None:
        """The first route whose predicate matches, or ``None``."""
        return next((r for r in self._routes if r.predicate(incoming)), None)

    def resolve(self, incoming: Incoming) -> tuple[str, Handler]:
        """The route name and handler for an event (the fallback when nothing matches)."""
        route = self.match(incoming)
        if route is not None:
            return route.name, route.handler
        if self._fallback is None:
            raise RouteConflict("the router has no fallback")
        return "fallback", self._fallback

    @property
    def routes(self) -> tuple[Route, ...]:
        """The route table, in matching order."""
        return tuple(self._routes)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Router {[r.name for r in self._routes]}>"
