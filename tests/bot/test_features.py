"""The feature seam, shown by the toy feature (tests/toy_feature), and the dispatch table.

The toy plugs into every part of the seam; each test below checks one part as a user of
the app meets it: a resident in LINE, a staff member in the console, the clock, start-up.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask
from sqlalchemy import select, update

from bot import FEATURES, create_app
from bot.config import ConfigError, Setting
from bot.dialog import DialogEngine
from bot.dispatch import DIALOGS, Dispatcher
from bot.features import DevService, Seam, SeamClosed, seam
from bot.jobs import run_job
from bot.routing import RouteConflict, Router, Text
from models import Dialog
from models.base import utcnow
from tests import toy_feature
from tests.conftest import WITH_TOY
from tests.support import Resident, app_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(toy_app: Flask) -> Flask:
    """The app with the toy feature."""
    return toy_app


# -- LINE: routes, interceptors, translations ---------------------------------------------


def test_a_feature_route_answers_in_the_features_own_catalog(resident: Resident) -> None:
    resident.follow()
    resident.say("おもちゃ")
    assert resident.texts()[-1] == "おもちゃより: こんにちは"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def test_media_is_fetched_from_line_outside_the_unit_of_work(
    app: Flask, resident: Resident, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway, pool = app.extensions["line"], app.extensions["db"].engine.pool
    fetch = gateway.get_content
    connections_held: list[int] = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        connections_held.append(pool.checkedout())  # no transaction (no connection) is open
        return fetch(*args, **kwargs)

    monkeypatch.setattr(gateway, "get_content", watched)
    resident.follow()
    resident.send_image(PNG)
    assert connections_held == [0]
    assert resident.texts()[-1] == "画像を受け取りました（208 バイト、image/png）"
    calls = [r.endpoint for r in resident.platform.state.requests()]
    assert calls[-3:] == ["loading", "content", "reply"]  # fetched once, then answered


def test_media_over_the_limit_is_refused_without_reading_it(
    make_app: Callable[..., Flask], resident_factory: Callable[..., Resident]
) -> None:
    small = make_app(features=WITH_TOY, MEDIA_MAX_BYTES=100)
    sim = resident_factory()
    sim.client = small.test_client()
    sim.follow()
    sim.send_image(PNG)
    assert sim.texts()[-1] == "画像を受け取れませんでした（too-large）"


def test_interceptors_run_in_order_before_dialogs_and_the_router(app: Flask) -> None:
    assert app.extensions["dispatcher"].order == (
        "too-long",
        "toy.observe",
        "toy.secret",
        "surveys.guard",
        "dialog",
        "surveys.follow",
        "router",
    )
    assert 10 < 100 < DIALOGS


def test_an_observing_interceptor_sees_every_event_and_lets_it_go_on(resident: Resident) -> None:
    toy_feature.SEEN.clear()
    resident.follow()
    resident.say("メニュー")
    resident.tap("v=1&a=menu.coupons")
    assert toy_feature.SEEN == ["follow", "message", "postback"]
    assert len(resident.texts()) == 3  # every event was still answered


def test_a_claiming_interceptor_comes_before_an_active_dialog(
    app: Flask, resident: Resident
) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("ひみつ")
    assert resident.texts()[-1] == "ないしょです"
    with app.extensions["db"].sessions() as session:
        dialog = session.scalars(select(Dialog)).one()
    assert (dialog.state, dialog.data) == ("ASK_NAME", {})  # the dialog never saw it


# -- settings ---------------------------------------------------------------------------------


def test_a_feature_setting_is_read_from_the_environment_and_checked(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_GREETING", "やあ")
    assert make_app(features=WITH_TOY).config["TOY_GREETING"] == "やあ"
    monkeypatch.setenv("TOY_GREETING", "x" * 101)
    with pytest.raises(ConfigError, match="TOY_GREETING must have 1 to 100 characters"):
        make_app(features=WITH_TOY)


def test_a_setting_cannot_be_registered_twice() -> None:
    engine = DialogEngine(timedelta(minutes=1))
    router = Router()
    fresh = Seam(Flask(__name__), router, engine, Dispatcher(router, engine), {}, {})
    assert fresh.add_setting(Setting("TOY_LIMIT", "3", int, "A limit.")) == 3
    for name in ("TOY_LIMIT", "DATABASE_URL"):
        with pytest.raises(ConfigError, match=f"{name} is registered twice"):
            fresh.add_setting(Setting(name, "x", str, "again"))


def test_nothing_registers_after_start_up(app: Flask) -> None:
    with pytest.raises(SeamClosed):
        seam(app).add_route("late", Text("遅刻"), lambda ctx: None)
    with pytest.raises(SeamClosed):
        seam(app).add_command(click.Command("late"))


# -- the CLI and development services ------------------------------------------------------


def test_a_feature_command_runs_under_madoguchi(app: Flask, resident: Resident) -> None:
    resident.follow()
    resident.say("予約")
    resident.say("花子")
    resident.tap(resident.last_quick_replies()[0]["data"])  # はい: the booking completes
    result = app.test_cli_runner().invoke(args=["toy", "count"])
    assert result.exit_code == 0, result.output
    assert result.output == "1 toy bookings\n"


def test_a_command_or_service_cannot_be_registered_twice() -> None:
    engine = DialogEngine(timedelta(minutes=1))
    router = Router()
    flask_app = Flask(__name__)
    fresh = Seam(flask_app, router, engine, Dispatcher(router, engine), {}, {})
    fresh.add_command(click.Command("twice"))
    assert "twice" in flask_app.cli.commands
    with pytest.raises(ValueError, match="CLI command 'twice' registered twice"):
        fresh.add_command(click.Command("twice"))
    service = DevService("idp", lambda app: toy_feature.ToyService(app))
    fresh.add_dev_service(service)
    with pytest.raises(ValueError, match="development service 'idp' registered twice"):
        fresh.add_dev_service(service)


def test_the_dev_services_are_listed_for_make_run(app: Flask) -> None:
    [service] = seam(app).dev_services
    running = service.start(app)
    assert service.describe(running) == "toy service running"
    running.shutdown()
    assert isinstance(running, toy_feature.ToyService)
    assert running.stopped


# -- start-up checks ------------------------------------------------------------------------


def test_a_route_on_a_dialogs_entry_word_is_refused_at_start_up(
    database_url: str, platform: object
) -> None:
    settings = app_settings(database_url, "http://127.0.0.1:9")
    with pytest.raises(
        RouteConflict,
        match=r"flow toy and route other.booking both claim \[\('text', '予約'\)\]",
    ):
        create_app(settings, features=(*WITH_TOY, "tests.toy_feature.conflict"))


def test_a_feature_module_without_init_app_is_refused(database_url: str) -> None:
    settings = app_settings(database_url, "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"tests\.toy_feature\.no_init' has no init_app"):
        create_app(settings, features=(*FEATURES, "tests.toy_feature.no_init"))


def test_the_plumbing_imports_no_feature() -> None:
    """bot/ names features only as strings in create_app's list, never in an import."""
    features = {name.split(".")[0] for name in WITH_TOY} | {"handlers", "tests"}
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in features
            ]
    assert found == []


# -- the clock ----------------------------------------------------------------------------


def test_a_feature_job_is_scheduled_and_pushes_after_its_commit(
    app: Flask, resident: Resident
) -> None:
    [job] = [j for j in seam(app).jobs if j.id == "toy.nudge"]
    assert job.every == timedelta(minutes=10)
    resident.follow()
    resident.say("予約")
    with app.extensions["db"].unit_of_work() as session:
        session.execute(update(Dialog).values(updated_at=utcnow() - timedelta(minutes=6)))
    assert run_job(app, job) == 1
    assert resident.texts()[-1] == "予約の途中です"
