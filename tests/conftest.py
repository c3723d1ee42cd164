"""Shared fixtures: the fake LINE platform, an app per database backend, signed webhooks.

Every test that touches the database runs on SQLite and, when ``TEST_DATABASE_URL`` names a
PostgreSQL database (CI sets it), on PostgreSQL too. The app commits for real; tables are
emptied after each test. LINE is the project's fake platform over real HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, delete, text

import models
from bot import create_app
from bot.db import Database
from bot.migrate import upgrade_database
from simulator.server import RunningPlatform, start_platform
from simulator.state import PlatformState
from tests.support import ACCESS_TOKEN, Resident, app_settings


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


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: SQLite in a temporary folder, or the PostgreSQL of CI."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = _postgres_url()
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def session_app(database_url: str, platform: RunningPlatform) -> Iterator[Flask]:
    """One app per database backend, shared by tests that need no special settings."""
    app = create_app(app_settings(database_url, platform.url))
    yield app
    app.extensions["line"].close()
    app.extensions["db"].dispose()


def _empty_tables(db: Database) -> None:
    with db.unit_of_work() as session:
        for table in reversed(models.Base.metadata.sorted_tables):
            session.execute(delete(table))


@pytest.fixture
def app(session_app: Flask, platform: RunningPlatform) -> Iterator[Flask]:
    """The shared app, with empty tables and a fresh platform after the test."""
    yield session_app
    _empty_tables(session_app.extensions["db"])
    platform.state.reset()


@pytest.fixture
def make_app(database_url: str, platform: RunningPlatform) -> Iterator[Callable[..., Flask]]:
    """Build an app with extra settings (closed and its tables emptied afterwards)."""
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app(app_settings(database_url, platform.url, **overrides))
        built.append(app)
        return app

    yield make
    for app in built:
        _empty_tables(app.extensions["db"])
        app.extensions["line"].close()
        app.extensions["db"].dispose()
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
