"""Postback data: the versioned query string protocol (STYLE.md 7)."""

from __future__ import annotations

import pytest

from bot.postback import MAX_LENGTH, PostbackData, PostbackError, decode


def test_round_trip_with_dialog_guard() -> None:
    data = PostbackData("survey.answer", {"o": "2"}, dialog_id=12, dialog_version=3)
    encoded = data.encode()
    assert encoded == "v=1&a=survey.answer&c=12&s=3&o=2"
    assert decode(encoded) == data


def test_round_trip_escapes_parameters() -> None:
    data = PostbackData("menu.surveys", {"q": "a&b=c 日本"})
    assert decode(data.encode()) == data


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "hello",
        "a=menu.surveys",  # no version
        "v=2&a=menu.surveys",  # unknown version
        "v=1",  # no action
        "v=1&a=Menu Surveys",  # not an action name
        "v=1&a=menu.surveys&a=menu.coupons",  # repeated key
        "v=1&a=menu.surveys&c=1",  # guard without version
        "v=1&a=menu.surveys&c=x&s=1",  # non-numeric guard
        "v=1&a=menu.surveys&c=-1&s=1",
        "v=1&a=menu.surveys&c=99999999999999999999&s=1",  # absurd id
        "v=1&&a=x",  # not strict query syntax
        "v=1&a=" + "x" * MAX_LENGTH,  # over LINE's limit
    ],
)
def test_tampered_or_foreign_data_decodes_to_none(raw: str | None) -> None:
    assert decode(raw) is None


def test_encode_refuses_what_line_would_reject() -> None:
    with pytest.raises(PostbackError):
        PostbackData("x", {"p": "y" * MAX_LENGTH}).encode()
    with pytest.raises(PostbackError):
        PostbackData("Bad Action").encode()
    with pytest.raises(PostbackError):
        PostbackData("x", {"c": "1"}).encode()


def test_get_int() -> None:
    data = PostbackData("x", {"n": "42", "bad": "4x", "neg": "-1"})
    assert data.get_int("n") == 42
    assert data.get_int("bad") is None
    assert data.get_int("neg") is None
    assert data.get_int("missing") is None
