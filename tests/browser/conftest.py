"""Fixtures for real-browser tests: a live app on the fake LINE platform, and chromium.

* ``live_app`` is the app in development mode with the simulator, served over real HTTP by
  a werkzeug server in a thread; the fake platform's webhooks go to its ``/callback``, so
  pages really drive the bot. It also has the test-only resident pages of
  ``tests/toy_feature/resident_pages.py`` under ``/r/test``. The server and the platform live for
  the whole session; each test gets empty tables, a reset platform and empty chat
  transcripts afterwards.
* ``browser`` is Debian's chromium (``/usr/bin/chromium``) driven by Playwright; no browser
  is downloaded. ``page`` is a fresh context per test, saved as
  ``tests/artifacts/<test name>.png`` at the end of the test; ``browser_errors`` lists its
  console errors, uncaught exceptions and CSP violations.

Browser tests run on SQLite only: they test pages, not SQL (``database_url`` is overridden).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    ViewportSize,
    sync_playwright,
)
from sqlalchemy import delete

import models
from bot import create_app
from bot.console.users import create_staff
from bot.migrate import upgrade_database
from models import Role
from simulator import chat
from simulator.server import RunningPlatform, ServedApp, start_platform
from simulator.state import PlatformState
from simulator.webhooks import WebhookSender
from tests.browser import screenshot, serve
from tests.support import ACCESS_TOKEN, CHANNEL_SECRET, PASSWORD, app_settings
from tests.toy_feature import resident_pages as test_resident_pages

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Milliseconds Playwright waits for an element or a navigation before failing.
TIMEOUT_MS = 5000
VIEWPORT: ViewportSize = {"width": 1100, "height": 820}

#: Reports CSP violations to the console, where the ``page`` fixture collects them (Chrome
#: logs most of them itself; this also catches the ones it reports only to listeners).
_REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database for the live app (overrides the per-backend one)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'browser.db'}"
    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def line_webhook() -> Iterator[WebhookSender]:
    """The fake platform's webhook sender; ``live_app`` aims it at the live server."""
    state = PlatformState(channel_access_token=ACCESS_TOKEN)
    with WebhookSender(
        state, webhook_url="http://127.0.0.1:9/callback", channel_secret=CHANNEL_SECRET
    ) as sender:
        yield sender


@pytest.fixture(scope="session")
def platform(line_webhook: WebhookSender) -> Iterator[RunningPlatform]:
    """The fake LINE platform, with webhooks to the live app (overrides the silent one)."""
    with start_platform(line_webhook.state, webhook=line_webhook) as running:
        yield running


@dataclass(frozen=True)
class _Live:
    app: Flask
    server: ServedApp


@pytest.fixture(scope="session")
def _live(
    database_url: str, platform: RunningPlatform, line_webhook: WebhookSender
) -> Iterator[_Live]:
    app = create_app(
        app_settings(database_url, platform.url, MADOGUCHI_ENV="development", USING_SIMULATOR=True)
    )
    chat.install(app)
    app.register_blueprint(test_resident_pages.bp)
    with serve(app) as server:
        line_webhook.webhook_url = f"{server.url}/callback"
        yield _Live(app, server)
    app.extensions["line"].close()
    app.extensions["db"].dispose()


@pytest.fixture
def live_app(_live: _Live, platform: RunningPlatform) -> Iterator[Flask]:
    """The app served at ``base_url`` (development mode, simulator); cleaned up after."""
    yield _live.app
    with _live.app.extensions["db"].unit_of_work() as session:
        for table in reversed(models.Base.metadata.sorted_tables):
            session.execute(delete(table))
    _live.app.extensions["throttle"].reset()
    platform.state.reset()
    chat.transcripts(_live.app).clear()


@pytest.fixture
def base_url(live_app: Flask, _live: _Live) -> str:
    """Where the live app answers, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
    return _live.server.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, for the whole session."""
    if not os.path.exists(CHROMIUM) and os.geteuid() != 0:
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium (sudo apt-get install chromium, "
            "or run scripts/system-deps.sh as root)"
        )
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def browser_errors() -> list[str]:
    """Console errors, uncaught exceptions and CSP violations of this test's ``page``."""
    return []


@pytest.fixture
def page(
    browser: Browser, browser_errors: list[str], request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A page in a fresh browser context (Japanese locale); screenshotted when the test ends."""
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP", timezone_id="Asia/Tokyo")
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.add_init_script(_REPORT_CSP)

    def on_console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            browser_errors.append(f"console: {message.text} ({url})")

    def on_page_error(error: Error) -> None:
        browser_errors.append(f"uncaught: {error.message}")

    opened.on("console", on_console)
    opened.on("pageerror", on_page_error)
    try:
        yield opened
    finally:
        with contextlib.suppress(Error):  # a crashed page has nothing to show
            screenshot(opened, request.node.name)
        context.close()


@pytest.fixture
def admin(live_app: Flask) -> str:
    """An admin account (password ``tests.support.PASSWORD``); its email."""
    with live_app.extensions["db"].unit_of_work() as session:
        create_staff(
            session,
            email="admin@pref.example.jp",
            display_name="管理者 花子",
            password=PASSWORD,
            roles={Role.ADMIN},
        )
    return "admin@pref.example.jp"
