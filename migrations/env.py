"""Alembic environment: the database URL comes from madoguchi's configuration."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import models
from bot.config import load_config
from bot.db import build_engine

target_metadata = models.Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL instead of running it (``alembic upgrade head --sql``)."""
    url = (
        context.config.attributes.get("url")
        or load_config({"MADOGUCHI_ENV": "development"})["DATABASE_URL"]
    )
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a connection given by the caller, or one to ``DATABASE_URL``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Migrations need only the database URL, so the secrets are not required here.
    url = (
        context.config.attributes.get("url")
        or load_config({"MADOGUCHI_ENV": "development"})["DATABASE_URL"]
    )
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
