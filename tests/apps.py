"""Test apps with extra, test-only blueprints (pages no product has), and emptying them.

Blueprints must be registered before an app's first request, so a test module that needs
its own pages builds one such app per database backend (a session- or module-scoped
fixture) instead of adding them to the shared ``session_app``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Flask
from sqlalchemy import delete

import models
from bot import create_app
from tests.support import app_settings


@contextmanager
def app_with(
    database_url: str, platform_url: str, *blueprints: Blueprint, **settings: Any
) -> Iterator[Flask]:
    """An app on the test database and the fake platform, with ``blueprints`` registered."""
    app = create_app(app_settings(database_url, platform_url, **settings))
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    try:
        yield app
    finally:
        app.extensions["line"].close()
        app.extensions["db"].dispose()


def empty_tables(app: Flask) -> None:
    """Delete every row (after a test)."""
    with app.extensions["db"].unit_of_work() as session:
        for table in reversed(models.Base.metadata.sorted_tables):
            session.execute(delete(table))
