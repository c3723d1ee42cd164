"""`make run`, as a newcomer runs it: the embedded bot with the fake LINE platform.

Starts ``madoguchi serve`` (what ``make run`` calls) in a subprocess on SQLite with no LINE
channel, then plays a resident through the simulator's control API and the chat page's API,
rich menu included, and reads what the server printed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

MADOGUCHI = Path(sys.executable).with_name("madoguchi")
ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with requests.get(url, timeout=1) as response:
                if response.status_code == 200:
                    return
        except (requests.ConnectionError, requests.Timeout):  # not up, or busy starting
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@dataclass
class Embedded:
    """A running ``madoguchi serve``: the bot's URL and the fake platform's control API."""

    web: str
    sim: str
    process: subprocess.Popen[bytes]
    #: The server's environment (to run other ``madoguchi`` commands on the same database).
    env: dict[str, str]
    output: str | None = None

    def stop(self) -> str:
        """Stop the server (once) and return everything it printed."""
        if self.output is None:
            self.process.terminate()
            self.output = self.process.communicate(timeout=10)[0].decode()
        return self.output


@contextmanager
def embedded_bot(tmp_path: Path, **settings: str) -> Iterator[Embedded]:
    """Run ``madoguchi serve`` as ``make run`` does, with ``settings`` in its environment.

    Only the ports differ from ``make run``'s defaults (tests run beside other servers).
    """
    web, sim, idp = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LINE_", "DATABASE_URL", "LOG_", "RICHMENU_", "COUPONS_"))
    }
    env.update(
        MADOGUCHI_ENV="development",
        DATABASE_URL=f"sqlite:///{tmp_path}/dev.db",
        SIMULATOR_PORT=str(sim),
        COUPONS_LOCAL_PROVIDER_PORT=str(idp),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{web}",
        **settings,
    )
    process = subprocess.Popen(
        [str(MADOGUCHI), "serve", "--port", str(web)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Embedded(f"http://127.0.0.1:{web}", f"http://127.0.0.1:{sim}/_simulator", process, env)
    try:
        wait_until_up(f"{server.web}/healthz", process)
        wait_until_up(f"{server.sim}/users", process)
        yield server
    finally:
        server.stop()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    with embedded_bot(tmp_path) as server:
        yield server


def _deliveries(http: requests.Session, sim: str, uid: str, count: int) -> list[Any]:
    """The resident's deliveries once there are ``count`` (the bot's worker answers after
    the webhook request)."""
    deadline = time.monotonic() + 10
    while True:
        found: list[Any] = http.get(f"{sim}/users/{uid}/deliveries", timeout=5).json()["deliveries"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_make_run_serves_the_bot_and_the_simulator(embedded: Embedded) -> None:
    web, sim = embedded.web, embedded.sim
    with requests.Session() as http:
        assert http.get(f"{web}/simulator", timeout=5).status_code == 200
        user = http.post(f"{sim}/users", json={"displayName": "県民 花子"}, timeout=5).json()
        uid = user["userId"]
        assert http.post(f"{sim}/users/{uid}/follow", json={}, timeout=10).json() == {
            "webhookStatus": 200
        }
        menu = _deliveries(http, sim, uid, 1)
        welcome = menu[0]["messages"][0]
        assert "友だち追加ありがとうございます" in welcome["text"]
        action = welcome["quickReply"]["items"][0]["action"]
        assert http.post(
            f"{sim}/users/{uid}/postback", json={"data": action["data"]}, timeout=10
        ).json() == {"webhookStatus": 200}
        assert http.post(
            f"{sim}/users/{uid}/text", json={"text": "メニュー"}, timeout=10
        ).json() == {"webhookStatus": 200}
        assert len(_deliveries(http, sim, uid, 3)) == 3
        assert http.get(f"{web}/metrics", timeout=5).status_code == 200

        # The default rich menu is already deployed: the page shows it, a tap reaches the bot.
        shown = http.get(f"{web}/simulator/api/residents/{uid}/richmenu", timeout=5).json()
        assert shown["imageUrl"]
        areas = shown["richMenu"]["areas"]
        assert [area["action"]["displayText"] for area in areas] == [
            "アンケート",
            "相談",
            "クーポン",
            "お知らせ",
        ]
        image = http.get(f"{web}{shown['imageUrl']}", timeout=5)
        assert image.headers["Content-Type"] == "image/png"
        assert http.post(
            f"{sim}/users/{uid}/postback", json={"data": areas[3]["action"]["data"]}, timeout=10
        ).json() == {"webhookStatus": 200}
        assert len(_deliveries(http, sim, uid, 4)) == 4

    output = embedded.stop()
    assert "rich menu: created rich menu" in output
    # Development logs are lines for a person, not JSON.
    assert "INFO bot.pipeline: webhook event processed" in output
    assert '"levelname"' not in output


def test_make_run_verifies_a_card_holder_with_the_local_provider(
    embedded: Embedded, tmp_path: Path
) -> None:
    """No configuration: the local OpenID provider runs beside the bot (docs/coupons.md)."""
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    example = (ROOT / "examples" / "coupons" / "gunma-mynumber-2023.toml").read_text("utf-8")
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(
        example.replace("starts = 2023-04-01", f"starts = {today - timedelta(days=1)}").replace(
            "ends = 2023-09-30", f"ends = {today + timedelta(days=30)}"
        ),
        encoding="utf-8",
    )
    imported = subprocess.run(
        [str(MADOGUCHI), "coupons", "import-campaign", str(campaign)],
        env=embedded.env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr.decode()
    web, sim = embedded.web, embedded.sim
    with requests.Session() as browser:
        uid = browser.post(f"{sim}/users", json={}, timeout=5).json()["userId"]
        browser.post(f"{sim}/users/{uid}/follow", json={}, timeout=10)
        _deliveries(browser, sim, uid, 1)
        browser.post(f"{sim}/users/{uid}/postback", json={"data": "v=1&a=menu.coupons"}, timeout=10)
        card = _deliveries(browser, sim, uid, 2)[1]["messages"][0]
        link = card["contents"]["footer"]["contents"][0]["action"]["uri"]
        assert link.startswith(f"{web}/r/coupons/verify/")
        page = browser.get(link, timeout=5)
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text)
        assert token is not None, page.text
        left = browser.post(link, data={"csrf_token": token.group(1)}, allow_redirects=False)
        authorization = left.headers["Location"]
        assert authorization.startswith("http://127.0.0.1:")  # the local provider
        consent = browser.post(
            authorization,
            data={"holder": "gunma-adult", "mode": "none", "decision": "allow"},
            allow_redirects=False,
            timeout=10,
        )
        done = browser.get(consent.headers["Location"], timeout=10)
        assert "本人確認ができました" in done.text
        assert "マイナンバーカード電子クーポン" in done.text
        coupons = _deliveries(browser, sim, uid, 3)[2]["messages"]
        assert coupons[1]["type"] == "flex"
    output = embedded.stop()
    assert "local OpenID provider (My Number card stand-in) at http://127.0.0.1:" in output
    assert "Traceback" not in output


def test_make_run_without_a_japanese_font_warns_and_serves(tmp_path: Path) -> None:
    with embedded_bot(tmp_path, RICHMENU_FONT="/nonexistent/font.ttf") as server:
        with requests.Session() as http:
            assert http.get(f"{server.sim}/richmenu/default", timeout=5).json() == {
                "richMenu": None,
                "imageUrl": None,
            }
            uid = http.post(f"{server.sim}/users", json={}, timeout=5).json()["userId"]
            followed = http.post(f"{server.sim}/users/{uid}/follow", json={}, timeout=10)
            assert followed.json() == {"webhookStatus": 200}
        output = server.stop()
    [warning] = [line for line in output.splitlines() if line.startswith("warning:")]
    assert "rich menu was not deployed" in warning
    assert "fonts-ipaexfont-gothic" in warning
    assert "RICHMENU_FONT" in warning
    assert "Traceback" not in output


def test_serve_refuses_production() -> None:
    env = {
        **os.environ,
        "MADOGUCHI_ENV": "production",
        "SECRET_KEY": "x",
        "LINE_CHANNEL_SECRET": "s",
        "LINE_CHANNEL_ACCESS_TOKEN": "t",
    }
    result = subprocess.run([str(MADOGUCHI), "serve"], env=env, capture_output=True, timeout=60)
    assert result.returncode != 0
    assert b"development" in result.stderr
