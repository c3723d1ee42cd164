"""The router: ordered routes, composable predicates, one fallback, no duplicates."""

from __future__ import annotations

import pytest

from bot.context import EventContext
from bot.incoming import Incoming
from bot.postback import PostbackData
from bot.routing import (
    AnyText,
    Kind,
    MessageType,
    Not,
    Postback,
    RouteConflict,
    Router,
    Text,
    find_overlaps,
)


def _noop(ctx: EventContext) -> None:
    return None


def _other(ctx: EventContext) -> None:
    return None


def text(value: str) -> Incoming:
    return Incoming("message", message_type="text", text=value)


def test_text_matches_after_folding_width_case_and_spaces() -> None:
    predicate = Text("クーポン", "coupon")
    assert predicate(text(" ｸｰﾎﾟﾝ "))  # half-width katakana folds (NFKC)
    assert predicate(text("ＣＯＵＰＯＮ"))
    assert not predicate(text("クーポンを使う"))
    assert not predicate(Incoming("postback"))


def test_combinators() -> None:
    predicate = (Text("a") | Postback("x.y")) & ~Kind("follow")
    assert predicate(text("a"))
    assert predicate(Incoming("postback", postback=PostbackData("x.y")))
    assert not predicate(Incoming("postback", postback=PostbackData("x.z")))
    assert AnyText()(text("anything"))
    assert not AnyText()(Incoming("message", message_type="sticker"))
    assert MessageType("sticker")(Incoming("message", message_type="sticker"))


def test_first_match_wins_by_group_then_order() -> None:
    router = Router()
    router.add("late", AnyText(), _other, group=5)
    router.add("early", Text("hi"), _noop)
    router.set_fallback(_other)
    assert router.resolve(text("hi")) == ("early", _noop)
    assert router.resolve(text("other")) == ("late", _other)
    assert router.resolve(Incoming("follow")) == ("fallback", _other)


def test_duplicates_are_rejected_at_registration() -> None:
    router = Router()
    router.add("menu", Text("menu", "メニュー"), _noop)
    with pytest.raises(RouteConflict, match=r"same input as 'menu': \[\('text', 'menu'\)"):
        router.add("menu2", Text("ＭＥＮＵ", "一覧"), _other)  # one word in common, after folding
    with pytest.raises(RouteConflict, match="same input as 'menu'"):
        router.add("menu3", Not(Kind("follow")) | Text("メニュー"), _other)
    router.add("other", Not(Kind("follow")), _other)  # no literal input it surely matches
    with pytest.raises(RouteConflict, match="same input as 'other'"):
        router.add("other2", Not(Kind("follow")), _other)  # but an equal predicate is caught
    with pytest.raises(RouteConflict, match="registered twice"):
        router.add("menu", Text("other"), _other)
    router.set_fallback(_noop)
    with pytest.raises(RouteConflict):
        router.set_fallback(_other)


def test_router_without_fallback_is_an_error() -> None:
    with pytest.raises(RouteConflict):
        Router().resolve(text("x"))


def test_overlaps_name_both_registrations_and_the_shared_input() -> None:
    found = find_overlaps(
        [
            ("flow toy", Text("予約") | Postback("toy.start")),
            ("route menu", Text("メニュー")),
            ("route booking", Postback("toy.start")),
        ]
    )
    assert found == [("flow toy", "route booking", frozenset({("postback", "toy.start")}))]
