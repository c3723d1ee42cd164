"""Each kind's LINE prompt and parse: valid answers, and every way an input can be wrong."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from bot import i18n
from bot.i18n import resident_locale
from bot.incoming import Incoming, Location, Sticker
from bot.line_api import Content
from bot.messages import MAX_QUICK_REPLIES
from bot.postback import PostbackData
from surveys.definition import Question
from surveys.kinds import (
    KINDS,
    MAX_PHOTO_BYTES,
    Asking,
    InvalidAnswer,
    Parsed,
    PhotoUpload,
    image_type,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@pytest.fixture(autouse=True)
def japanese() -> Iterator[None]:
    """Messages in Japanese, as a Japanese-speaking resident gets them (no database)."""
    app = Flask(__name__)
    i18n.init_app(app)
    with app.app_context(), resident_locale("ja"):
        yield


def question(kind: str, **config: Any) -> Question:
    return Question("q", kind, {"ja": "質問"}, config=KINDS[kind].check_config(config))


def says(value: str) -> Incoming:
    return Incoming(kind="message", message_type="text", text=value)


def taps(
    action: str, params: dict[str, str] | None = None, picked: dict[str, str] | None = None
) -> Incoming:
    return Incoming(
        kind="postback", postback=PostbackData(action, params or {}), postback_params=picked or {}
    )


STICKER = Incoming(kind="message", message_type="sticker", sticker=Sticker("1", "2"))
CHOICES = [{"code": c, "label": {"ja": f"選択{c}", "en": f"Option {c}"}} for c in "abc"]


def parse(q: Question, incoming: Incoming, current: Any = None) -> Parsed:
    return KINDS[q.kind].parse(q, incoming, current)


def refused(q: Question, incoming: Incoming, current: Any = None) -> str:
    with pytest.raises(InvalidAnswer) as caught:
        parse(q, incoming, current)
    return caught.value.message


def asking(current: Any = None) -> Asking:
    return Asking("(1/3) 質問", "ja", "ja", lambda action, **p: PostbackData(action, p), current)


# -- choices --------------------------------------------------------------------------------


def test_single_choice_takes_a_tap_or_the_typed_label() -> None:
    q = question("single_choice", choices=CHOICES)
    assert parse(q, taps("survey.answer", {"i": "1"})) == Parsed("b")
    assert parse(q, says("選択C")) == Parsed("c")
    assert parse(q, says("option a")) == Parsed("a")  # any language's label, folded


@pytest.mark.parametrize("index", ["3", "-1", "x", "", "99999999999999999999"])
def test_single_choice_refuses_a_tampered_index(index: str) -> None:
    q = question("single_choice", choices=CHOICES)
    assert refused(q, taps("survey.answer", {"i": index})) == (
        "そのボタンはこの質問の選択肢ではありません。"
    )


def test_single_choice_refuses_other_input() -> None:
    q = question("single_choice", choices=CHOICES)
    assert refused(q, says("どれでもない")) == "選択肢から1つ選んでください。"
    assert refused(q, STICKER) == "選択肢から1つ選んでください。"


def test_up_to_13_options_are_quick_replies_more_a_paged_flex_list() -> None:
    few = question(
        "single_choice", choices=[{"code": f"c{n}", "label": {"ja": f"{n}"}} for n in range(13)]
    )
    [message] = KINDS["single_choice"].prompt(few, asking())
    assert len(message["quickReply"]["items"]) == MAX_QUICK_REPLIES
    many = question(
        "single_choice", choices=[{"code": f"c{n}", "label": {"ja": f"{n}"}} for n in range(25)]
    )
    body, listing = KINDS["single_choice"].prompt(many, asking())
    assert body["text"] == "(1/3) 質問"
    assert listing["type"] == "flex"
    pages = listing["contents"]["contents"]
    assert [len(p["footer"]["contents"]) for p in pages] == [10, 10, 5]
    last = pages[2]["footer"]["contents"][-1]["action"]["data"]
    assert last == PostbackData("survey.answer", {"i": "24"}).encode()


def test_yes_no_takes_yes_and_no() -> None:
    q = question("yes_no")
    assert parse(q, taps("survey.answer", {"i": "0"})) == Parsed("yes")
    assert parse(q, says("いいえ")) == Parsed("no")
    assert refused(q, taps("survey.answer", {"i": "2"}))


def test_multiple_choice_toggles_then_done_within_min_and_max() -> None:
    q = question("multiple_choice", choices=CHOICES, min=1, max=2)
    first = parse(q, taps("survey.toggle", {"i": "2"}))
    assert first == Parsed(["c"], done=False)
    second = parse(q, taps("survey.toggle", {"i": "0"}), first.value)
    assert second == Parsed(["a", "c"], done=False)  # in the options' order
    assert parse(q, taps("survey.toggle", {"i": "0"}), second.value) == Parsed(["c"], done=False)
    assert refused(q, taps("survey.done"), []) == "1個以上選んでください。"
    assert refused(q, taps("survey.done"), ["a", "b", "c"]) == "選べるのは2個までです。"
    assert parse(q, taps("survey.done"), ["a", "b"]) == Parsed(["a", "b"])
    assert refused(q, says("a")) == "選択肢を押してから「完了」を押してください。"
    assert refused(q, taps("survey.toggle", {"i": "7"}))


def test_multiple_choice_buttons_show_their_state() -> None:
    q = question("multiple_choice", choices=CHOICES)
    [message] = KINDS["multiple_choice"].prompt(q, asking(["b"]))
    labels = [item["action"]["label"] for item in message["quickReply"]["items"]]
    assert labels == ["☐ 選択a", "☑ 選択b", "☐ 選択c", "完了"]
    assert "選択中：選択b" in message["text"]


# -- typed answers --------------------------------------------------------------------------


def test_free_text_has_a_length_limit_and_refuses_control_characters() -> None:
    q = question("text", max_length=5)
    assert parse(q, says("  はい、満足  ".replace("、満足", ""))) == Parsed("はい")
    assert parse(q, says("一\n二")) == Parsed("一\n二")
    assert refused(q, says("123456")) == "5文字以内でお答えください（6文字ありました）。"
    assert refused(q, says("a\x07b")) == "回答に使用できない文字が含まれています。"
    assert refused(q, says("a\ufffdb")) == "回答に使用できない文字が含まれています。"
    assert refused(q, says("   ")) == "回答をメッセージで入力してください。"
    assert refused(q, STICKER) == "回答をメッセージで入力してください。"


@pytest.mark.parametrize(
    ("typed", "value"),
    [("3", 3), ("３", 3), ("12匹", 12), ("1,000", None), ("-0", 0), ("20", 20)],
)
def test_integer_answers(typed: str, value: int | None) -> None:
    q = question("integer", min=0, max=20, unit={"ja": "匹"})
    if value is None:
        assert refused(q, says(typed)) == "0から20までの数でお答えください。"
    else:
        assert parse(q, says(typed)) == Parsed(value)


@pytest.mark.parametrize("typed", ["2.5", "abc", "1e3", "", "--1", "9" * 20])
def test_integer_refuses_what_is_not_a_whole_number(typed: str) -> None:
    q = question("integer")
    assert refused(q, says(typed or " ")) == "整数で入力してください。"


def test_a_sticker_to_a_number_question_is_refused() -> None:
    assert refused(question("integer"), STICKER) == "整数で入力してください。"
    assert refused(question("decimal"), STICKER) == "数字で入力してください。"


def test_decimal_answers_and_ranges() -> None:
    q = question("decimal", min=0.5, max=2.5)
    assert parse(q, says("1.25")) == Parsed(1.25)
    assert refused(q, says("3")) == "0.5から2.5までの数でお答えください。"
    assert refused(question("decimal", min=1), says("0")) == "1以上の数でお答えください。"
    assert refused(question("decimal", max=1), says("2")) == "1以下の数でお答えください。"


def test_range_takes_a_tap_or_a_typed_value() -> None:
    q = question("range", start=0, end=10)
    assert parse(q, taps("survey.answer", {"i": "10"})) == Parsed(10)
    assert parse(q, says("7")) == Parsed(7)
    assert refused(q, says("11")) == "0〜10から選んでください。"
    assert refused(q, taps("survey.answer", {"i": "11"}))
    [message] = KINDS["range"].prompt(question("range", start=1, end=5), asking())
    assert [i["action"]["label"] for i in message["quickReply"]["items"]] == list("12345")


# -- pickers, photos, places ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "good", "too_early", "config"),
    [
        ("date", "2026-12-03", "2026-11-30", {"min": "2026-12-01", "max": "2026-12-31"}),
        ("time", "09:30", "08:59", {"min": "09:00", "max": "17:00"}),
        ("datetime", "2026-12-03T09:30", "2026-12-01T08:00", {"min": "2026-12-02T00:00"}),
    ],
)
def test_moments_from_the_picker_within_min_and_max(
    kind: str, good: str, too_early: str, config: dict[str, str]
) -> None:
    q = question(kind, **config)
    assert parse(q, taps("survey.pick", picked={kind: good})) == Parsed(good)
    assert parse(q, says(good)) == Parsed(good)  # typed in the same shape
    assert "範囲で選んでください" in refused(q, taps("survey.pick", picked={kind: too_early}))
    assert "ボタンから選ぶか" in refused(q, taps("survey.pick", picked={kind: "nonsense"}))
    assert "ボタンから選ぶか" in refused(q, taps("survey.pick"))  # no value: tampered
    assert "ボタンから選ぶか" in refused(q, STICKER)
    [message] = KINDS[kind].prompt(q, asking())
    picker = message["quickReply"]["items"][0]["action"]
    assert picker["type"] == "datetimepicker"
    assert picker["mode"] == kind
    assert picker["min"] == config["min"]


def image(content: Content | None = None, error: str | None = None) -> Incoming:
    return Incoming(
        kind="message",
        message_type="image",
        message_id="100",
        content_provider="line",
        media=content,
        media_error=error,
    )


def test_photos_are_judged_from_their_bytes() -> None:
    q = question("photo")
    assert parse(q, image(Content(PNG, "image/png"))) == Parsed(PhotoUpload(PNG, "image/png"))
    # LINE's header says PNG, the bytes say JPEG: the bytes win.
    assert parse(q, image(Content(JPEG, "image/png"))) == Parsed(PhotoUpload(JPEG, "image/jpeg"))
    assert refused(q, image(Content(b"GIF89a" + b"\x00" * 20, "image/jpeg"))) == (
        "写真（JPEGまたはPNG）を送ってください。"
    )
    too_big = JPEG + b"\x00" * MAX_PHOTO_BYTES
    assert refused(q, image(Content(too_big, "image/jpeg"))).startswith(
        "写真のサイズが大きすぎます"
    )
    assert refused(q, image(error="too-large")).startswith("写真のサイズが大きすぎます")
    assert refused(q, image(error="unavailable")).startswith("写真を受け取れませんでした")
    assert refused(q, says("写真です")) == "写真（JPEGまたはPNG）を送ってください。"
    assert image_type(b"\xff\xd8\xff") is None  # a signature alone is no image


def test_location_from_the_location_action() -> None:
    q = question("location")
    place = Incoming(
        kind="message",
        message_type="location",
        location=Location(36.39, 139.06, "群馬県庁", "群馬県前橋市大手町1-1-1"),
    )
    assert parse(q, place) == Parsed(
        {"latitude": 36.39, "longitude": 139.06, "address": "群馬県前橋市大手町1-1-1"}
    )
    assert refused(q, says("前橋")) == "下のボタンから位置情報を送ってください。"
    [message] = KINDS["location"].prompt(q, asking())
    assert message["quickReply"]["items"][0]["action"]["type"] == "location"


def test_acknowledge_takes_ok() -> None:
    q = question("acknowledge")
    assert parse(q, taps("survey.answer", {"i": "0"})) == Parsed("OK")
    assert parse(q, says("OK")) == Parsed("OK")
    assert refused(q, says("いやです")) == "「OK」を押して進んでください。"


def test_navigation_fills_only_the_room_left() -> None:
    q = question(
        "single_choice", choices=[{"code": f"c{n}", "label": {"ja": f"{n}"}} for n in range(12)]
    )
    nav = (
        {"type": "postback", "label": "戻る", "data": "v=1&a=survey.back", "displayText": "戻る"},
    ) * 3
    ask = Asking("質問", "ja", "ja", lambda action, **p: PostbackData(action, p), navigation=nav)
    [message] = KINDS["single_choice"].prompt(q, ask)
    assert len(message["quickReply"]["items"]) == MAX_QUICK_REPLIES
