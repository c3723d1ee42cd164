"""The resident chat page in a real browser: a resident meets the bot, taps, types, blocks."""

from __future__ import annotations

import io
import re
from typing import Any

import requests
from flask import Flask
from PIL import Image
from playwright.sync_api import FilePayload, Page, expect

from bot.line_api import Content
from bot.messages import (
    camera_button,
    camera_roll_button,
    datetime_picker_button,
    location_button,
    text,
)
from bot.postback import PostbackData
from bot.richmenu import deploy_default_rich_menu
from simulator.server import RunningPlatform
from simulator.webhooks import WebhookSender
from tests.browser import screenshot
from tests.support import ACCESS_TOKEN


def test_a_resident_plays_the_bot_through_the_chat_page(
    live_app: Flask, base_url: str, page: Page, browser_errors: list[str]
) -> None:
    with live_app.app_context():
        deploy_default_rich_menu(live_app.extensions["line"])

    page.goto(f"{base_url}/simulator")
    expect(page.locator("#no-residents")).to_be_visible()
    screenshot(page, "simulator-1-empty")

    page.locator("#new-name").fill("県民 花子")
    page.locator("#add-resident button[type=submit]").click()
    expect(page.locator("#chat-title")).to_have_text("県民 花子")
    expect(page.locator(".resident-button[aria-pressed=true]")).to_contain_text("県民 花子")

    page.locator("#follow-button").click()
    bot = page.locator(".row.from-bot")
    expect(bot.first).to_contain_text("友だち追加ありがとうございます")
    chips = page.locator("#quick-replies .chip")
    expect(chips).to_have_text(["アンケート", "相談", "クーポン", "お知らせ"])
    expect(page.locator("#chat-status")).to_have_class("badge friendship friend")
    screenshot(page, "simulator-2-welcome")

    chips.filter(has_text="アンケート").click()
    expect(page.locator(".row.from-resident").last).to_have_text("アンケート")
    expect(bot).to_have_count(2)

    page.locator("#message-input").fill("メニュー")
    page.locator("#message-input").press("Enter")
    expect(page.locator(".row.from-resident").last).to_have_text("メニュー")
    expect(bot).to_have_count(3)
    expect(bot.last).to_contain_text("ご用件をメニューからお選びください。")
    expect(page.locator("#message-input")).to_have_value("")
    screenshot(page, "simulator-3-conversation")

    toggle = page.locator("#menu-toggle")
    expect(toggle).to_be_visible()
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    expect(page.locator("#rich-menu")).to_be_visible()
    expect(page.locator("#rich-menu-image")).to_have_js_property("complete", True)
    areas = page.locator(".menu-area")
    expect(areas).to_have_count(4)
    screenshot(page, "simulator-4-rich-menu")
    areas.filter(has=page.locator("xpath=self::*[@aria-label='お知らせ']")).click()
    expect(page.locator(".row.from-resident").last).to_have_text("お知らせ")
    expect(bot).to_have_count(4)
    toggle.click()
    expect(page.locator("#rich-menu")).to_be_hidden()

    page.locator("#block-button").click()
    expect(page.locator("#chat-status")).to_have_class("badge friendship blocked")
    expect(page.locator(".resident-button .friendship.blocked")).to_have_count(1)
    expect(page.locator("#message-input")).to_be_disabled()
    expect(page.locator("#follow-button")).to_be_enabled()
    screenshot(page, "simulator-5-blocked")

    assert browser_errors == []


def test_markup_in_names_and_messages_stays_text(
    live_app: Flask, base_url: str, page: Page, browser_errors: list[str]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{base_url}/simulator")
    page.locator("#new-name").fill("<b>太郎</b>")
    page.locator("#add-resident button[type=submit]").click()
    expect(page.locator("#chat-title")).to_have_text("<b>太郎</b>")
    page.locator("#follow-button").click()
    expect(page.locator(".row.from-bot")).to_have_count(1)
    page.locator("#message-input").fill('<img src=x onerror="document.title=1">')
    page.locator("#send-button").click()
    expect(page.locator(".row.from-resident .bubble")).to_have_text(
        '<img src=x onerror="document.title=1">'
    )
    expect(page.locator(".row.from-bot")).to_have_count(2)
    assert page.locator("#messages img, #resident-list b, #chat-title b").count() == 0
    assert page.title() != "1"
    assert browser_errors == []


def _push(platform_url: str, user_id: str, messages: list[dict[str, Any]]) -> None:
    answer = requests.post(
        f"{platform_url}/v2/bot/message/push",
        json={"to": user_id, "messages": messages},
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=5,
    )
    answer.close()
    assert answer.status_code == 200, answer.text


FLEX_BUBBLE = {
    "type": "bubble",
    "hero": {
        "type": "image",
        "url": "https://example.com/hall.jpg",
        "size": "full",
        "aspectRatio": "20:13",
        "aspectMode": "cover",
    },
    "body": {
        "type": "box",
        "layout": "vertical",
        "spacing": "sm",
        "contents": [
            {"type": "text", "text": "県民ホール", "weight": "bold", "size": "xl"},
            {
                "type": "box",
                "layout": "baseline",
                "contents": [
                    {"type": "text", "text": "日時", "color": "#aaaaaa", "size": "sm", "flex": 1},
                    {"type": "text", "text": "4月1日 10:00", "size": "sm", "flex": 4},
                ],
            },
            {"type": "separator", "margin": "md"},
            {"type": "text", "text": "<b>太字ではない</b>", "wrap": True, "size": "sm"},
        ],
    },
    "footer": {
        "type": "box",
        "layout": "vertical",
        "spacing": "sm",
        "contents": [
            {
                "type": "button",
                "style": "primary",
                "action": {
                    "type": "postback",
                    "label": "予約する",
                    "data": "v=1&a=test.book",
                    "displayText": "予約する",
                },
            },
            {
                "type": "button",
                "style": "link",
                "action": {"type": "uri", "label": "地図", "uri": "https://example.com/map"},
            },
        ],
    },
}


DATE_PICKER = {
    "type": "text",
    "text": "日付を選んでください",
    "quickReply": {
        "items": [
            {
                "type": "action",
                "action": {
                    "type": "datetimepicker",
                    "label": "日付",
                    "data": "v=1&a=test.date",
                    "mode": "date",
                    "initial": "2025-04-01",
                    "min": "2025-04-01",
                    "max": "2025-12-31",
                },
            }
        ]
    },
}


def test_flex_templates_stickers_and_pickers_render_and_work(
    live_app: Flask,
    base_url: str,
    platform: RunningPlatform,
    page: Page,
    browser_errors: list[str],
) -> None:
    user_id = platform.state.add_user("県民 三郎", is_friend=True).user_id
    confirm = {
        "type": "confirm",
        "text": "参加しますか？",
        "actions": [
            {"type": "message", "label": "はい", "text": "はい"},
            {"type": "message", "label": "いいえ", "text": "いいえ"},
        ],
    }
    carousel = {
        "type": "carousel",
        "columns": [
            {
                "title": f"施設 {n}",
                "text": "説明",
                "actions": [{"type": "postback", "label": "選ぶ", "data": f"v=1&a=f{n}"}],
            }
            for n in (1, 2, 3)
        ],
    }
    _push(
        platform.url,
        user_id,
        [
            {"type": "flex", "altText": "ホールの案内", "contents": FLEX_BUBBLE},
            {"type": "template", "altText": "確認", "template": confirm},
            {"type": "sticker", "packageId": "446", "stickerId": "1988"},
            {
                "type": "image",
                "originalContentUrl": "https://example.com/a.jpg",
                "previewImageUrl": "https://example.com/a-small.jpg",
            },
            {"type": "template", "altText": "施設の一覧", "template": carousel},
        ],
    )

    page.goto(f"{base_url}/simulator#{user_id}")
    bot = page.locator(".row.from-bot")
    expect(bot).to_have_count(5)
    expect(page.locator(".flex-bubble .flex-text").first).to_have_text("県民ホール")
    expect(page.locator(".flex-hero .image-placeholder")).to_contain_text(
        "https://example.com/hall.jpg"
    )
    expect(page.locator(".flex-text.wrap")).to_have_text("<b>太字ではない</b>")
    expect(page.locator(".sticker")).to_have_count(1)
    expect(page.locator(".message-image.image-placeholder")).to_contain_text("a-small.jpg")
    expect(page.locator(".carousel .template-card")).to_have_count(3)
    expect(page.locator("#messages img")).to_have_count(0)
    page.locator(".flex-bubble").scroll_into_view_if_needed()
    screenshot(page, "simulator-6-rich-messages")

    page.locator(".flex-button.link").click()
    expect(page.locator("#error-line")).to_contain_text("https://example.com/map")
    page.locator(".confirm .template-button", has_text="はい").click()
    expect(page.locator(".row.from-resident").last).to_have_text("はい")
    expect(bot).to_have_count(6)  # the bot's fallback answer
    page.locator(".flex-button.primary").click()
    expect(page.locator(".row.from-resident").last).to_have_text("予約する")
    expect(bot).to_have_count(7)

    _push(platform.url, user_id, [DATE_PICKER])  # appears with the next poll
    page.locator("#quick-replies .chip", has_text="日付").click()
    picker = page.locator("#picker-input")
    expect(picker).to_have_attribute("type", "date")
    expect(picker).to_have_value("2025-04-01")
    expect(picker).to_have_attribute("max", "2025-12-31")
    picker.fill("2025-05-05")
    screenshot(page, "simulator-7-date-picker")
    page.locator("#picker-send").click()
    expect(page.locator(".row.system").last).to_contain_text("2025-05-05")
    expect(bot).to_have_count(9)
    assert browser_errors == []


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (0, 153, 68)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_camera_location_and_picker_quick_replies_are_labelled_buttons(
    live_app: Flask,
    base_url: str,
    platform: RunningPlatform,
    line_webhook: WebhookSender,
    page: Page,
    browser_errors: list[str],
) -> None:
    user_id = platform.state.add_user("県民 五郎", is_friend=True).user_id
    guarded = PostbackData("survey.answer", {"q": "3"}, 5, 1)
    quick = text(
        "写真か場所を送ってください",
        [
            camera_button("カメラ"),
            camera_roll_button("写真を選ぶ"),
            location_button("位置情報"),
            datetime_picker_button("時刻", guarded, "time", initial="09:30"),
            {"type": "clipboard", "label": "コピー", "clipboardText": "窓口"},
        ],
    )
    _push(platform.url, user_id, [quick])
    page.goto(f"{base_url}/simulator#{user_id}")
    chips = page.locator("#quick-replies .chip")
    expect(chips).to_have_count(5)
    for label in ("カメラ", "写真を選ぶ", "位置情報", "時刻", "コピー"):
        expect(chips.filter(has_text=label)).to_have_count(1)
    expect(chips.filter(has_text="カメラ").locator(".action-icon")).to_have_count(1)
    expect(chips.filter(has_text="コピー")).to_have_class(re.compile(r"\bunsupported\b"))
    screenshot(page, "simulator-8-media-quick-replies")

    chips.filter(has_text="位置情報").click()
    expect(page.locator("#error-line")).to_contain_text("Sending a location is not available")
    chips.filter(has_text="コピー").click()
    expect(page.locator("#error-line")).to_contain_text("clipboard")
    chips.filter(has_text="時刻").click()
    expect(page.locator("#picker-input")).to_have_attribute("type", "time")
    expect(page.locator("#picker-input")).to_have_value("09:30")
    page.locator("#picker-cancel").click()

    bot = page.locator(".row.from-bot")
    expect(bot).to_have_count(1)
    photo = _png()
    with page.expect_file_chooser() as chosen:
        chips.filter(has_text="カメラ").click()
    chosen.value.set_files(
        files=[FilePayload(name="photo.png", mimeType="image/png", buffer=photo)]
    )
    expect(page.locator(".row.from-resident .bubble.photo")).to_have_count(1)
    expect(bot).to_have_count(2)  # the bot answered the image
    event = line_webhook.last_event(user_id)
    assert event is not None
    assert event["message"]["type"] == "image"
    content = live_app.extensions["line"].get_content(event["message"]["id"], max_bytes=100_000)
    assert content == Content(photo, "image/png")
    assert browser_errors == []
