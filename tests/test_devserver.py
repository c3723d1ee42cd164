"""`make run`, as a newcomer runs it: the embedded bot with the fake LINE platform.

Starts ``madoguchi serve`` (what ``make run`` calls) in a subprocess on SQLite with no LINE
channel, then plays a resident through the simulator's control API.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

MADOGUCHI = Path(sys.executable).with_name("madoguchi")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with requests.get(url, timeout=1) as response:
                if response.status_code == 200:
                    return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[str, str]]:
    web, sim = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "DATABASE_URL"))}
    env.update(
        MADOGUCHI_ENV="development",
        DATABASE_URL=f"sqlite:///{tmp_path}/dev.db",
        SIMULATOR_PORT=str(sim),
        LOG_FORMAT="text",
    )
    process = subprocess.Popen(
        [str(MADOGUCHI), "serve", "--port", str(web)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{web}/healthz", process)
        wait_until_up(f"http://127.0.0.1:{sim}/_simulator/users", process)
        yield f"http://127.0.0.1:{web}", f"http://127.0.0.1:{sim}/_simulator"
    finally:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_make_run_serves_the_bot_and_the_simulator(embedded: tuple[str, str]) -> None:
    web, sim = embedded
    with requests.Session() as http:
        assert http.get(f"{web}/simulator", timeout=5).status_code == 200
        user = http.post(f"{sim}/users", json={"displayName": "県民 花子"}, timeout=5).json()
        uid = user["userId"]
        assert http.post(f"{sim}/users/{uid}/follow", json={}, timeout=10).json() == {
            "webhookStatus": 200
        }
        menu = http.get(f"{sim}/users/{uid}/deliveries", timeout=5).json()["deliveries"]
        welcome = menu[0]["messages"][0]
        assert "友だち追加ありがとうございます" in welcome["text"]
        action = welcome["quickReply"]["items"][0]["action"]
        assert http.post(
            f"{sim}/users/{uid}/postback", json={"data": action["data"]}, timeout=10
        ).json() == {"webhookStatus": 200}
        assert http.post(
            f"{sim}/users/{uid}/text", json={"text": "メニュー"}, timeout=10
        ).json() == {"webhookStatus": 200}
        deliveries = http.get(f"{sim}/users/{uid}/deliveries", timeout=5).json()["deliveries"]
        assert len(deliveries) == 3
        assert http.get(f"{web}/metrics", timeout=5).status_code == 200


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
