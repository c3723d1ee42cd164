"""Shared fixtures: the fake LINE platform, an app per database backend, signed webhooks.

Every test that touches the database runs on SQLite and, when ``TEST_DATABASE_URL`` names a
PostgreSQL database (CI sets it), on PostgreSQL too. The app commits for real; tables are
emptied after each test. LINE is the project's fake platform over real HTTP.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, delete, make_url, text

import models
from bot import FEATURES, create_app
from bot.attributes import set_attribute
from bot.console import users
from bot.db import Database
from bot.dialog import DialogEngine, Flow
from bot.migrate import upgrade_database
from bot.residents import lock_resident
from models import Dialog, DialogStatus
from models import Resident as ResidentRow
from models.base import utcnow
from simulator.server import RunningPlatform, start_platform
from simulator.state import PlatformState
from tests.support import ACCESS_TOKEN, Resident, app_settings


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """argon2id at its smallest cost, for every test of the session.

    The tests check who may sign in and how often a password is checked, not what a hash
    costs; production keeps argon2-cffi's defaults (bot/console/users.py), which take about
    100 ms and 64 MiB per hash and would make the console tests several times slower.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        users._dummy_hash.cache_clear()
        yield
    users._dummy_hash.cache_clear()


def _postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL run skipped: set TEST_DATABASE_URL (CI does; see .ci/run)")
    return url


@pytest.fixture(scope="session")
def platform() -> Iterator[RunningPlatform]:
    """The fake LINE platform, one per test session."""
    running = start_platform(PlatformState(channel_access_token=ACCESS_TOKEN))
    yield running
    running.shutdown()


def _admin_engine(url: str) -> Engine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database: SQLite in a temporary folder, or the PostgreSQL of CI.

    Under pytest-xdist (``make test`` runs a process per core) each process gets a PostgreSQL
    database of its own beside the one named, created here and dropped at the end.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade_database(url)
        yield url
        return
    url = _postgres_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    own = f"{make_url(url).database}_{worker}" if worker else None
    if own:
        admin = _admin_engine(url)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{own}"'))
        admin.dispose()
        url = make_url(url).set(database=own).render_as_string(hide_password=False)
    else:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade_database(url)
    yield url
    if own:
        admin = _admin_engine(url)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
        admin.dispose()


def empty_tables(app: Flask) -> None:
    """Delete every row, and forget sign-in throttling counts (after a test)."""
    with app.extensions["db"].unit_of_work() as session:
        for table in reversed(models.Base.metadata.sorted_tables):
            session.execute(delete(table))
    app.extensions["throttle"].reset()


#: The app's features plus the toy feature of tests/toy_feature (it plugs into every seam).
WITH_TOY = (*FEATURES, "tests.toy_feature")
#: Where the toy app's signed links point: the test client's own host, so cookies follow.
TOY_PUBLIC_URL = "http://localhost"


def _close(app: Flask) -> None:
    app.extensions["line"].close()
    app.extensions["db"].dispose()


@pytest.fixture(scope="session")
def session_app(database_url: str, platform: RunningPlatform) -> Iterator[Flask]:
    """One app per database backend, shared by tests that need no special settings."""
    app = create_app(app_settings(database_url, platform.url))
    yield app
    _close(app)


@pytest.fixture(scope="session")
def session_toy_app(database_url: str, platform: RunningPlatform) -> Iterator[Flask]:
    """The shared app with the toy feature too (one per database backend)."""
    settings = app_settings(database_url, platform.url, PUBLIC_BASE_URL=TOY_PUBLIC_URL)
    app = create_app(settings, features=WITH_TOY)
    yield app
    _close(app)


@pytest.fixture
def app(session_app: Flask, platform: RunningPlatform) -> Iterator[Flask]:
    """The shared app, with empty tables and a fresh platform after the test."""
    yield session_app
    empty_tables(session_app)
    platform.state.reset()


@pytest.fixture
def toy_app(session_toy_app: Flask, platform: RunningPlatform) -> Iterator[Flask]:
    """The shared app with the toy feature; a test module uses it with ``app = toy_app``."""
    yield session_toy_app
    empty_tables(session_toy_app)
    platform.state.reset()


@pytest.fixture
def make_app(database_url: str, platform: RunningPlatform) -> Iterator[Callable[..., Flask]]:
    """Build an app with extra settings (closed and its tables emptied afterwards).

    ``make_app(features=(...), SETTING=value)``: ``features`` chooses the feature modules.
    """
    built: list[Flask] = []

    def make(*, features: tuple[str, ...] = FEATURES, **overrides: Any) -> Flask:
        app = create_app(app_settings(database_url, platform.url, **overrides), features=features)
        built.append(app)
        return app

    yield make
    for app in built:
        empty_tables(app)
        _close(app)
    platform.state.reset()


@pytest.fixture
def db(app: Flask) -> Database:
    """The test app's database."""
    database: Database = app.extensions["db"]
    return database


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the shared app."""
    return app.test_client()


@pytest.fixture
def resident_factory(client: FlaskClient, platform: RunningPlatform) -> Callable[..., Resident]:
    """Create simulated residents known to the fake platform (profile: name, language)."""

    def make(display_name: str = "県民 太郎", language: str | None = "ja") -> Resident:
        user = platform.state.add_user(display_name=display_name, language=language)
        return Resident(client, platform, user.user_id)

    return make


@pytest.fixture
def resident(resident_factory: Callable[..., Resident]) -> Resident:
    """One Japanese-speaking resident who has not followed yet."""
    return resident_factory()


ResidentRowFactory = Callable[..., ResidentRow]


@pytest.fixture
def resident_row(db: Database) -> ResidentRowFactory:
    """Store a resident without LINE events: ``resident_row(attributes={"age_band": "30-39"},
    display_name=..., language=...)`` returns the row (with its id)."""
    numbers = itertools.count(1)

    def make(*, attributes: Mapping[str, str] | None = None, **values: Any) -> ResidentRow:
        with db.unit_of_work() as session:
            resident = lock_resident(session, values.pop("line_user_id", f"U{next(numbers):032x}"))
            for name, value in values.items():
                setattr(resident, name, value)
            for name, value in (attributes or {}).items():
                set_attribute(session, resident, name, value)
        return resident

    return make


@pytest.fixture
def dialog_row(db: Database) -> Callable[..., Dialog]:
    """Insert a dialog row directly: ``dialog_row(resident, flow="toy", state="ASK_NAME")``."""

    def make(resident: ResidentRow, **values: Any) -> Dialog:
        values.setdefault("flow", "toy")
        values.setdefault("state", "ASK_NAME")
        values.setdefault("data", {})
        values.setdefault("status", DialogStatus.ACTIVE)
        values.setdefault("expires_at", utcnow() + timedelta(minutes=30))
        if values["status"] not in (DialogStatus.ACTIVE, DialogStatus.PARKED):
            values.setdefault("ended_at", utcnow())
        if values["status"] == DialogStatus.COMPLETED:
            values.setdefault("completed_at", values["ended_at"])
        with db.unit_of_work() as session:
            row = Dialog(resident_id=resident.id, **values)
            session.add(row)
        return row

    return make


@pytest.fixture
def swap_flow(app: Flask) -> Iterator[Callable[[Flow], None]]:
    """Replace a registered flow of ``app`` for one test (the original comes back after)."""
    engine: DialogEngine = app.extensions["dialogs"]
    originals: list[Flow] = []

    def swap(flow: Flow) -> None:
        original = engine.flow(flow.name)
        assert original is not None, f"no flow {flow.name!r} to replace"
        originals.append(original)
        engine.unregister(flow.name)
        engine.register(flow)

    yield swap
    for original in reversed(originals):
        engine.unregister(original.name)
        engine.register(original)
