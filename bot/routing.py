"""The router: an ordered table of routes with composable predicates and one fallback.

Predicates look only at the normalised :class:`~bot.incoming.Incoming`. Routes are tried by
group, then in registration order; the first match wins. Registering a route whose name is
taken, or whose predicate can match the same literal input (a word, a postback action) as
another route's, is an error at start-up: the SDK's ``WebhookHandler`` silently overwrites.
The same check runs between routes and dialog entry points (:func:`find_overlaps`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.incoming import Incoming, normalise_text

if TYPE_CHECKING:
    from bot.context import EventContext

Handler = Callable[["EventContext"], None]
#: A literal input a predicate matches exactly: ``("text", "menu")``, ``("postback", "a.b")``.
Literal = tuple[str, str]


class Predicate:
    """Something that matches an :class:`Incoming`; combine with ``&``, ``|`` and ``~``."""

    def __call__(self, incoming: Incoming) -> bool:
        raise NotImplementedError

    def literals(self) -> frozenset[Literal]:
        """Literal inputs this predicate certainly matches (it may match others too).

        Used only to find two registrations that claim the same input at start-up.
        """
        return frozenset()

    def __and__(self, other: Predicate) -> Predicate:
        return AllOf((self, other))

    def __or__(self, other: Predicate) -> Predicate:
        return AnyOf((self, other))

    def __invert__(self) -> Predicate:
        return Not(self)


@dataclass(frozen=True)
class Kind(Predicate):
    """Matches an event type (``follow``, ``unfollow``, ``message``, ...)."""

    kind: str

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.kind == self.kind

    def literals(self) -> frozenset[Literal]:
        return frozenset({("kind", self.kind)})


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

    def literals(self) -> frozenset[Literal]:
        return frozenset(("text", word) for word in self.words)


@dataclass(frozen=True)
class AnyText(Predicate):
    """Matches any text message."""

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.kind == "message" and incoming.text is not None


@dataclass(frozen=True)
class Postback(Predicate):
    """Matches a postback with the given action (data this bot produced and could parse)."""

    action: str

    def __call__(self, incoming: Incoming) -> bool:
        return incoming.postback is not None and incoming.postback.action == self.action

    def literals(self) -> frozenset[Literal]:
        return frozenset({("postback", self.action)})


@dataclass(frozen=True)
class AllOf(Predicate):
    """Matches when every part matches."""

    parts: tuple[Predicate, ...]

    def __call__(self, incoming: Incoming) -> bool:
        return all(part(incoming) for part in self.parts)


@dataclass(frozen=True)
class AnyOf(Predicate):
    """Matches when any part matches."""

    parts: tuple[Predicate, ...]

    def __call__(self, incoming: Incoming) -> bool:
        return any(part(incoming) for part in self.parts)

    def literals(self) -> frozenset[Literal]:
        return frozenset().union(*(part.literals() for part in self.parts))


@dataclass(frozen=True)
class Not(Predicate):
    """Matches when the part does not."""

    part: Predicate

    def __call__(self, incoming: Incoming) -> bool:
        return not self.part(incoming)


class RouteConflict(ValueError):
    """Raised at start-up when two registrations share a name or claim the same input."""


def shared_input(first: Predicate, second: Predicate) -> frozenset[Literal] | None:
    """The literal inputs two predicates both claim; ``None`` when they cannot collide.

    Equal predicates collide even when their inputs are not a finite set (an empty result).
    """
    shared = first.literals() & second.literals()
    return shared if shared or first == second else None


def find_overlaps(
    named: Iterable[tuple[str, Predicate]],
) -> list[tuple[str, str, frozenset[Literal]]]:
    """Pairs of registrations whose predicates are equal or match a common literal input.

    :param named: ``(name, predicate)`` of every route and entry point.
    :return: ``(first name, second name, the shared literals)`` for each overlapping pair.
    """
    seen: list[tuple[str, Predicate]] = []
    overlaps = []
    for name, predicate in named:
        for other_name, other in seen:
            shared = shared_input(other, predicate)
            if shared is not None:
                overlaps.append((other_name, name, shared))
        seen.append((name, predicate))
    return overlaps


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

        :raises RouteConflict: the name is taken, or another route claims the same input.
        """
        for route in self._routes:
            if route.name == name:
                raise RouteConflict(f"route name {name!r} registered twice")
            shared = shared_input(route.predicate, predicate)
            if shared is not None:
                raise RouteConflict(
                    f"route {name!r} claims the same input as {route.name!r}: "
                    f"{sorted(shared) or predicate!r}"
                )
        self._routes.append(Route(name, predicate, handler, group))
        self._routes.sort(key=lambda r: r.group)  # stable: keeps registration order per group

    def set_fallback(self, handler: Handler) -> None:
        """Set the one handler for events no route matches.

        :raises RouteConflict: a fallback is already set.
        """
        if self._fallback is not None:
            raise RouteConflict("the router already has a fallback")
        self._fallback = handler

    def named_predicates(self) -> list[tuple[str, Predicate]]:
        """``(route name, predicate)`` of every route, for the start-up overlap check."""
        return [(f"route {r.name}", r.predicate) for r in self._routes]

    def resolve(self, incoming: Incoming) -> tuple[str, Handler]:
        """The route name and handler for an event (the fallback when nothing matches).

        :raises RouteConflict: nothing matches and no fallback is set.
        """
        route = next((r for r in self._routes if r.predicate(incoming)), None)
        if route is not None:
            return route.name, route.handler
        if self._fallback is None:
            raise RouteConflict("the router has no fallback")
        return "fallback", self._fallback
