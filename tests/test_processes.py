"""Real processes: gunicorn as the Procfile runs it, and worker processes killed mid-stream.

* Under gunicorn with two worker processes, ``/metrics`` sums what both processed, and shows
  the inbox's figures.
* Worker processes (``python -m bot.worker``) share one PostgreSQL inbox; one is killed with
  SIGKILL while it holds events, another takes over when their leases expire, and every
  event is still answered exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import create_app
from bot.migrate import upgrade_database
from simulator import events as line_events
from simulator.server import RunningPlatform, start_platform
from simulator.state import PlatformState
from tests.support import ACCESS_TOKEN, CHANNEL_SECRET, app_settings, signed_post
from tests.test_devserver import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def fresh_platform() -> Iterator[RunningPlatform]:
    """A fake LINE platform of this test's own (the processes under test call it)."""
    running = start_platform(PlatformState(channel_access_token=ACCESS_TOKEN))
    yield running
    running.shutdown()


def _environment(database_url: str, platform: RunningPlatform, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "MADOGUCHI_ENV": "production",
        "SECRET_KEY": "process-test-secret",
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_API_BASE_URL": platform.url,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _friends(platform: RunningPlatform, count: int) -> list[str]:
    return [platform.state.add_user(is_friend=True).user_id for _ in range(count)]


def _texts(platform: RunningPlatform, users: list[str]) -> list[dict[str, Any]]:
    return [
        line_events.text_event(u, "メニュー", reply_token=platform.state.issue_reply_token(u))
        for u in users
    ]


def _delivered(platform: RunningPlatform, users: list[str]) -> list[int]:
    return [len(platform.state.deliveries(u)) for u in users]


PROCESSED = 'madoguchi_webhook_events_total{outcome="processed"'


def _metric(text_: str, name: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text_.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_metrics_under_gunicorn_sum_every_worker(
    tmp_path: Path, fresh_platform: RunningPlatform
) -> None:
    url = f"sqlite:///{tmp_path / 'gunicorn.db'}"
    upgrade_database(url)
    port = free_port()
    env = _environment(url, fresh_platform, PORT=str(port), WEB_CONCURRENCY="2", EVENT_WORKERS="1")
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _up(f"{base}/healthz"), 90, "gunicorn")
        users = _friends(fresh_platform, 40)
        with requests.Session() as http:
            for event in _texts(fresh_platform, users):  # one request each: both workers serve
                body = line_events.callback_body([event])
                signature = line_events.sign(body, CHANNEL_SECRET)
                answer = http.post(
                    f"{base}/callback", data=body, headers={"X-Line-Signature": signature}
                )
                assert answer.status_code == 200
            _wait(lambda: _delivered(fresh_platform, users) == [1] * 40, 60, "the replies")
            # A worker counts an event once its reply is sent: the count may trail the platform.
            deadline = time.monotonic() + 10
            while True:
                metrics = http.get(f"{base}/metrics", timeout=5).text
                if _metric(metrics, PROCESSED) == 40 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
    assert metrics, "empty /metrics (prometheus_client imported before its folder was set)"
    assert _metric(metrics, "madoguchi_inbox_stored_total") == 40
    assert _metric(metrics, PROCESSED) == 40
    assert "madoguchi_inbox_pending 0.0" in metrics


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def own_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own, migrated, dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("worker processes share a PostgreSQL inbox: set TEST_DATABASE_URL")
    name = f"madoguchi_processes_{os.getpid()}"
    admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_killed_worker_process_loses_and_doubles_nothing(
    tmp_path: Path, own_postgres: str, fresh_platform: RunningPlatform
) -> None:
    door = create_app(app_settings(own_postgres, fresh_platform.url))  # stores, never works
    users = _friends(fresh_platform, 300)
    for start in range(0, 300, 100):
        body = line_events.callback_body(_texts(fresh_platform, users[start : start + 100]))
        assert signed_post(door.test_client(), body, drain=False).status_code == 200
    env = _environment(own_postgres, fresh_platform, EVENT_WORKERS="2", EVENT_LEASE_SECONDS="2")

    logs = []

    def worker(name: str) -> subprocess.Popen[bytes]:
        logs.append((tmp_path / f"{name}.log").open("wb"))
        return subprocess.Popen(
            [sys.executable, "-m", "bot.worker"],
            cwd=ROOT,
            env=env,
            stdout=logs[-1],
            stderr=subprocess.STDOUT,
        )

    first = worker("first")
    try:
        _wait(lambda: sum(_delivered(fresh_platform, users)) >= 60, 120, "the first answers")
        first.send_signal(signal.SIGKILL)  # mid-stream: it holds claimed events
        first.wait(10)
        stopped_at = sum(_delivered(fresh_platform, users))
        assert stopped_at < 300, "the worker finished before it could be killed"
        second = worker("second")
        try:
            _wait(lambda: min(_delivered(fresh_platform, users)) >= 1, 120, "every answer")
            time.sleep(3)  # a lease's length: a doubled answer would show by now
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
        door.extensions["line"].close()
        door.extensions["db"].dispose()
        for log in logs:
            log.close()
    assert _delivered(fresh_platform, users) == [1] * 300  # exactly once, every one
    engine = create_engine(own_postgres)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, count(*) FROM inbox_events GROUP BY status"))
        statuses = {status: count for status, count in rows}
    engine.dispose()
    assert statuses == {"done": 300}
