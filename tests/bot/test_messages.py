"""Message builders: LINE JSON within LINE's limits, accepted by the SDK's own models."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from linebot.v3.messaging import Message as SdkMessage
from linebot.v3.messaging import TextMessage

from bot.i18n import resident_locale
from bot.messages import (
    MAX_QUICK_REPLIES,
    cancel_word_action,
    message_button,
    postback_button,
    text,
    utf16_length,
    with_main_menu,
)
from bot.postback import PostbackData, decode


def round_trip(message: dict[str, object]) -> dict[str, object]:
    """What the SDK's models make of our JSON (they reject what LINE's schema does)."""
    parsed = SdkMessage.from_dict(json.loads(json.dumps(message)))
    assert isinstance(parsed, TextMessage)
    result: dict[str, object] = parsed.to_dict()
    return result


def test_main_menu_message_is_valid_line_json(app: Flask) -> None:
    with app.app_context(), resident_locale("ja"):
        message = with_main_menu("ご用件をお選びください。")
        english = None
        with resident_locale("en"):
            english = with_main_menu("Choose")
    assert round_trip(message) == message
    labels = [i["action"]["label"] for i in message["quickReply"]["items"]]
    assert labels == ["アンケート", "相談", "クーポン", "お知らせ"]
    assert english["quickReply"]["items"][0]["action"]["label"] == "Surveys"
    data = decode(message["quickReply"]["items"][0]["action"]["data"])
    assert data == PostbackData("menu.surveys")


def test_builders_keep_within_limits(app: Flask) -> None:
    long_label = postback_button(
        "とても長いボタンの名前ですがこれは二十文字を超えています", PostbackData("x.y")
    )
    assert len(long_label["label"]) == 20
    with app.app_context():
        message = text("本文", [long_label, message_button("送る", "送る"), cancel_word_action()])
    assert round_trip(message) == message
    with pytest.raises(ValueError, match="5,000"):
        text("🏯" * 2501)  # 5,002 UTF-16 units
    assert utf16_length(text("🏯" * 2500)["text"]) == 5000
    with pytest.raises(ValueError, match="quick replies"):
        text("x", [message_button("a", "a")] * (MAX_QUICK_REPLIES + 1))


def test_menu_messages_do_not_share_mutable_state(app: Flask) -> None:
    with app.app_context(), resident_locale("ja"):
        first = with_main_menu("a")
        first["quickReply"]["items"].append({"type": "action"})
        second = with_main_menu("b")
    assert len(second["quickReply"]["items"]) == 4
