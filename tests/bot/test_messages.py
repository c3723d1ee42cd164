"""Message builders: LINE JSON within LINE's limits, accepted by the SDK's own models."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from linebot.v3.messaging import (
    Action as SdkAction,
)
from linebot.v3.messaging import (
    CameraAction,
    CameraRollAction,
    DatetimePickerAction,
    FlexBubble,
    FlexCarousel,
    FlexMessage,
    LocationAction,
    QuickReply,
    TextMessage,
    URIAction,
)
from linebot.v3.messaging import Message as SdkMessage

from bot.i18n import resident_locale
from bot.messages import (
    MAX_ALT_TEXT,
    MAX_BUBBLES,
    MAX_QUICK_REPLIES,
    bubble,
    camera_button,
    camera_roll_button,
    cancel_word_action,
    carousel,
    datetime_picker_button,
    flex,
    flex_image,
    flex_rows,
    flex_separator,
    flex_text,
    location_button,
    message_button,
    postback_button,
    text,
    uri_button,
    utf16_length,
    with_main_menu,
)
from bot.postback import PostbackData, PostbackError, decode

#: A button of a dialog: its data carries the dialog's stale-button guard.
GUARDED = PostbackData("survey.answer", {"o": "2"}, 12, 3)


def round_trip(message: dict[str, Any], kind: type[Any] = TextMessage) -> dict[str, Any]:
    """What the SDK's models make of our JSON (they reject what LINE's schema does)."""
    parsed = SdkMessage.from_dict(json.loads(json.dumps(message)))
    assert isinstance(parsed, kind)
    result: dict[str, Any] = parsed.to_dict()
    return result


def sdk_action(action: dict[str, Any], kind: type[Any]) -> dict[str, Any]:
    parsed = SdkAction.from_dict(json.loads(json.dumps(action)))
    assert isinstance(parsed, kind)
    result: dict[str, Any] = parsed.to_dict()
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
    with app.app_context():
        message = text("本文", [long_label, message_button("送る", "送る"), cancel_word_action()])
    assert round_trip(message) == message
    assert len(message["quickReply"]["items"][0]["action"]["label"]) == 20
    assert long_label["displayText"] == long_label["label"]  # the whole label is still said
    with pytest.raises(ValueError, match="5,000"):
        text("🏯" * 2501)  # 5,002 UTF-16 units
    assert utf16_length(text("🏯" * 2500)["text"]) == 5000
    with pytest.raises(ValueError, match="quick replies"):
        text("x", [message_button("a", "a")] * (MAX_QUICK_REPLIES + 1))
    with pytest.raises(ValueError, match="label"):
        postback_button("  ", PostbackData("x.y"))


def test_menu_messages_do_not_share_mutable_state(app: Flask) -> None:
    with app.app_context(), resident_locale("ja"):
        first = with_main_menu("a")
        first["quickReply"]["items"].append({"type": "action"})
        second = with_main_menu("b")
    assert len(second["quickReply"]["items"]) == 4


# Flex ---------------------------------------------------------------------------------------


def survey_page(page: int, options: list[str]) -> dict[str, Any]:
    """A page of a survey's options, as a feature would build it."""
    buttons = [
        postback_button(option, PostbackData("survey.answer", {"o": str(n)}, 12, 3))
        for n, option in enumerate(options)
    ]
    return bubble([flex_text(f"問1 ({page}/2)")], title="好きな施設は？", buttons=buttons)


def test_flex_messages_for_the_four_features_are_valid_line_json() -> None:
    surveys = flex(
        "アンケート: 好きな施設は？",
        carousel([survey_page(1, ["図書館", "美術館", "体育館"]), survey_page(2, ["公園"])]),
        [message_button("やめる", "やめる")],
    )
    summary = flex(
        "ご相談内容の確認",
        bubble(
            [
                flex_rows(
                    [("種類", "子育て"), ("内容", "保育園の空きについて"), ("連絡先", "電話")]
                ),
                flex_separator(),
                flex_text("この内容で送信しますか？"),
            ],
            title="ご相談内容",
            buttons=[
                postback_button("送信する", GUARDED),
                postback_button("修正する", PostbackData("consult.edit", {}, 12, 3)),
            ],
            button_style="primary",
        ),
    )
    coupon = flex(
        "県立施設の無料入館クーポン",
        bubble(
            [flex_rows([("施設", "県立美術館"), ("有効期限", "2026年3月31日")])],
            title="無料入館クーポン",
            hero=flex_image(
                "https://madoguchi.example.jp/coupons/qr/abc.png", aspect_ratio="1:1", fit=True
            ),
            buttons=[
                uri_button("QRコードを大きく表示", "https://madoguchi.example.jp/coupons/abc")
            ],
        ),
    )
    news = flex(
        "お知らせ: 防災訓練",
        bubble(
            [
                flex_text("防災訓練のお知らせ", size="md", bold=True),
                flex_text("9月1日に実施します。"),
            ],
            hero=flex_image("https://madoguchi.example.jp/media/drill.jpg"),
            buttons=[uri_button("詳しく見る", "https://www.pref.example.jp/drill")],
        ),
    )
    for message in (surveys, summary, coupon, news):
        assert round_trip(message, FlexMessage) == message
    assert decode(summary["contents"]["footer"]["contents"][0]["action"]["data"]) == GUARDED
    assert isinstance(FlexCarousel.from_dict(surveys["contents"]), FlexCarousel)
    assert isinstance(FlexBubble.from_dict(coupon["contents"]), FlexBubble)


def test_one_action_fits_a_flex_button_and_a_quick_reply() -> None:
    action = postback_button("あ" * 50, PostbackData("x.y"))
    card = bubble(buttons=[action])
    message = flex("選択", card, [action])
    assert round_trip(message, FlexMessage) == message
    assert len(card["footer"]["contents"][0]["action"]["label"]) == 40
    assert len(message["quickReply"]["items"][0]["action"]["label"]) == 20
    assert len(action["label"]) == 50  # the caller's action is left alone


def compact_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _bubble_of(size: int) -> dict[str, Any]:
    """A bubble whose JSON is exactly ``size`` bytes."""
    overhead = compact_size(bubble([flex_text("x")])) - 1
    return bubble([flex_text("x" * (size - overhead))])


def test_flex_limits_are_refused_with_a_clear_error() -> None:
    assert compact_size(_bubble_of(30 * 1024)) == 30 * 1024
    with pytest.raises(ValueError, match="30 KB"):
        _bubble_of(30 * 1024 + 1)
    with pytest.raises(ValueError, match="30 KB"):
        bubble([flex_text("漢" * 10_300)])  # 3 bytes each in UTF-8
    carousel([_bubble_of(4000)] * MAX_BUBBLES)  # 12 bubbles, 48 KB: fine
    with pytest.raises(ValueError, match="50 KB"):
        carousel([_bubble_of(4300)] * MAX_BUBBLES)
    with pytest.raises(ValueError, match="1 to 12 bubbles"):
        carousel([_bubble_of(200)] * (MAX_BUBBLES + 1))
    with pytest.raises(ValueError, match="1 to 12 bubbles"):
        carousel([])
    with pytest.raises(ValueError, match="bubbles only"):
        carousel([carousel([_bubble_of(200)])])
    card = _bubble_of(200)
    assert flex("あ" * MAX_ALT_TEXT, card)["altText"]
    for alt_text in ("あ" * (MAX_ALT_TEXT + 1), "🏯" * 751, "", "  "):
        with pytest.raises(ValueError, match="altText"):
            flex(alt_text, card)
    with pytest.raises(ValueError, match="bubble or a carousel"):
        flex("x", {"type": "box", "layout": "vertical", "contents": []})
    with pytest.raises(ValueError, match="quick replies"):
        flex("x", card, [message_button("a", "a")] * 14)
    with pytest.raises(ValueError, match="needs a title"):
        bubble()
    with pytest.raises(ValueError, match="button_style"):
        bubble(buttons=[message_button("a", "a")], button_style="huge")
    with pytest.raises(ValueError, match="only be a quick reply"):
        bubble(buttons=[camera_button("カメラ")])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: flex_text(""), "empty"),
        (lambda: flex_text("x", size="huge"), "size"),
        (lambda: flex_rows([]), "at least one row"),
        (lambda: flex_rows([("氏名", "")]), "empty"),
        (lambda: flex_image("http://example.com/a.png"), "https"),
        (lambda: flex_image("data:image/png;base64,AAAA"), "https"),
        (lambda: flex_image("/relative.png"), "https"),
        (lambda: flex_image("https://"), "host"),
        (lambda: flex_image("https://example.com/" + "a" * 2000), "2000"),
        (lambda: flex_image("https://example.com/a.png", aspect_ratio="1:4"), "aspect_ratio"),
        (lambda: flex_image("https://example.com/a.png", aspect_ratio="16x9"), "aspect_ratio"),
        (lambda: flex_image("https://example.com/a.png", aspect_ratio="0:1"), "aspect_ratio"),
    ],
)
def test_bad_flex_components_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_images_on_a_loopback_host_may_be_http_for_the_simulator() -> None:
    for url in ("http://127.0.0.1:5000/qr.png", "http://localhost/qr.png", "http://[::1]/a"):
        assert flex_image(url)["url"] == url
    assert flex_image("https://example.com/a.png", aspect_ratio="1:3")["aspectRatio"] == "1:3"


# Actions: URI, datetime picker, camera, camera roll, location ---------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://www.pref.example.jp/",
        "http://example.com/a?b=c",
        "line://ti/p/@madoguchi",
        "tel:0312345678",
        "HTTPS://EXAMPLE.COM/",
    ],
)
def test_uri_actions_take_lines_schemes(uri: str) -> None:
    action = uri_button("開く", uri)
    assert sdk_action(action, URIAction) == action


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "ftp://example.com/file",
        "mailto:a@example.com",
        "/relative/path",
        "",
        "https://",
        "https://example.com/" + "a" * 981,  # 1,001 characters
        "https://example.com/a b",
    ],
)
def test_other_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValueError, match=r"URI|link|host"):
        uri_button("開く", uri)


def test_a_uri_of_exactly_1000_characters_is_accepted() -> None:
    uri = "https://example.com/" + "a" * 980
    assert len(uri_button("開く", uri)["uri"]) == 1000


def test_datetime_pickers_carry_the_dialog_guard_and_lines_formats() -> None:
    date_picker = datetime_picker_button(
        "日付を選ぶ",
        GUARDED,
        "date",
        initial=date(2025, 4, 1),
        min_value="2025-04-01",
        max_value=date(2025, 12, 31),
    )
    assert date_picker == {
        "type": "datetimepicker",
        "label": "日付を選ぶ",
        "data": GUARDED.encode(),
        "mode": "date",
        "initial": "2025-04-01",
        "min": "2025-04-01",
        "max": "2025-12-31",
    }
    assert decode(date_picker["data"]) == GUARDED
    time_picker = datetime_picker_button("時刻", GUARDED, "time", initial=time(9, 30, 15))
    assert time_picker["initial"] == "09:30"
    aware = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)  # 09:30 in Tokyo
    both = datetime_picker_button(
        "日時", GUARDED, "datetime", initial=aware, min_value="2025-04-01t00:00"
    )
    assert (both["initial"], both["min"]) == ("2025-04-01T09:30", "2025-04-01T00:00")
    plain = datetime_picker_button("日付", PostbackData("x.y"))
    assert plain == {"type": "datetimepicker", "label": "日付", "data": "v=1&a=x.y", "mode": "date"}
    for action in (date_picker, time_picker, both, plain):
        assert sdk_action(action, DatetimePickerAction) == action
    message = text("いつですか？", [date_picker, time_picker, both])
    assert round_trip(message) == message
    card = flex("日付", bubble(buttons=[date_picker]))
    assert round_trip(card, FlexMessage) == card


def test_the_picker_range_is_lines() -> None:
    edge = datetime_picker_button(
        "日時",
        GUARDED,
        "datetime",
        min_value="1900-01-01T00:00",
        max_value="2100-12-31T23:59",
    )
    assert (edge["min"], edge["max"]) == ("1900-01-01T00:00", "2100-12-31T23:59")
    assert datetime_picker_button("t", GUARDED, "time", min_value="00:00", max_value="23:59")


@pytest.mark.parametrize(
    ("mode", "values", "message"),
    [
        ("week", {}, "mode"),
        ("date", {"initial": "1899-12-31"}, "outside LINE's range"),
        ("date", {"max_value": "2101-01-01"}, "outside LINE's range"),
        ("date", {"initial": date(1899, 12, 31)}, "outside LINE's range"),
        ("datetime", {"initial": "2101-01-01T00:00"}, "outside LINE's range"),
        ("date", {"initial": "2025-02-30"}, "not a valid date"),
        ("date", {"initial": "2025/04/01"}, "LINE's format"),
        ("date", {"initial": "2025-04-01T10:00"}, "not a valid date"),
        ("time", {"initial": "24:00"}, "not a valid time"),
        ("time", {"initial": "9:30"}, "LINE's format"),
        ("datetime", {"initial": "2025-04-01 10:00"}, "LINE's format"),
        ("datetime", {"initial": "2025-04-01T10:00:00"}, "LINE's format"),
        ("datetime", {"initial": "2025-04-01T10:00+09:00"}, "LINE's format"),
        ("date", {"initial": datetime(2025, 4, 1, 10, 0)}, "not a date value"),
        ("datetime", {"initial": date(2025, 4, 1)}, "not a datetime value"),
        ("time", {"initial": date(2025, 4, 1)}, "not a time value"),
        ("time", {"initial": time(9, 30, tzinfo=timezone(timedelta(hours=9)))}, "naive"),
        ("date", {"min_value": "2025-05-01", "max_value": "2025-04-01"}, "before its max"),
        ("date", {"min_value": "2025-04-01", "max_value": "2025-04-01"}, "before its max"),
        ("date", {"initial": "2025-03-31", "min_value": "2025-04-01"}, "outside its min"),
        ("time", {"initial": "18:00", "max_value": "17:00"}, "outside its min"),
    ],
)
def test_bad_picker_values_are_refused(mode: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        datetime_picker_button("日付", GUARDED, mode, **values)


def test_picker_data_over_300_characters_is_refused() -> None:
    with pytest.raises(PostbackError, match="300"):
        datetime_picker_button("日付", PostbackData("x.y", {"p": "a" * 300}))


def test_camera_camera_roll_and_location_are_quick_replies() -> None:
    actions = [
        camera_button("カメラ"),
        camera_roll_button("写真を選ぶ"),
        location_button("位置情報"),
    ]
    for action, kind in zip(actions, (CameraAction, CameraRollAction, LocationAction), strict=True):
        assert sdk_action(action, kind) == action
    assert [a["type"] for a in actions] == ["camera", "cameraRoll", "location"]
    message = text("写真か位置情報を送ってください。", actions)
    assert round_trip(message) == message
    assert QuickReply.from_dict(message["quickReply"]).to_dict() == message["quickReply"]
    long = text("x", [camera_button("カメラで写真を撮って送ってください（任意）です")])
    assert len(long["quickReply"]["items"][0]["action"]["label"]) == 20
    with pytest.raises(ValueError, match="label"):
        location_button("")
