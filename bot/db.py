"""Database plumbing: the engine, sessions and the unit-of-work boundaries.

Three boundaries own transactions (STYLE.md 4): a web request, a webhook event and a clock
job; bot/work.py gives each its unit of work (a session, an outbox, after-commit effects).
Services receive a session and may flush, never commit.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Database:
    """An engine and its session factory, stored in ``app.extensions["db"]``."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.engine = build_engine(url, **engine_options)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(read_only=True), expire_on_commit=False
        )
        # SQLite has one writer at a time: queue this process's units of work on a lock
        # rather than in SQLite's busy handler, whose sleeps grow to 100 ms and make a tail.
        is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if is_sqlite else nullcontext()
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commits when the block ends, rolls back if it raises."""
        with self._write_lock, self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session (on SQLite it does not take the write lock).

        It ends with a commit, not the rollback ``close`` would send: psycopg forgets every
        prepared statement of a connection on ROLLBACK, and re-preparing costs the server.
        """
        with self._readers() as session:
            yield session
            session.commit()

    def dispose(self) -> None:
        """Close pooled connections (tests, shutdown)."""
        self.engine.dispose()


def build_engine(url: str, *, statement_timeout_ms: int | None = None, **options: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and write-locking transactions.

    Database errors never quote their bound parameters: those carry message text, names
    and LINE user ids, and an error's text ends up in the logs with its traceback. Pooled
    connections are checked before use (a database restart costs no request).

    :param statement_timeout_ms: PostgreSQL: the longest a statement may run, and wait for a
        lock (a table lock held elsewhere must not hang webhooks and workers indefinitely).
    """
    parsed = make_url(url)
    options.setdefault("hide_parameters", True)
    options.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() != "sqlite":
        # Enough connections for every thread of a worker: no connect/disconnect churn.
        options.setdefault("pool_size", 10)
        options.setdefault("max_overflow", 10)
        options.setdefault("pool_recycle", 1800)
        if statement_timeout_ms:
            limits = [
                f"-c {name}={statement_timeout_ms}"
                for name in ("statement_timeout", "lock_timeout")
            ]
            given = parsed.query.get("options")  # e.g. a search_path: kept
            words = [given] if isinstance(given, str) else list(given or ())
            options.setdefault("connect_args", {})["options"] = " ".join([*words, *limits])
        return create_engine(url, **options)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    options.setdefault("connect_args", {}).setdefault("timeout", 30)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if parsed.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two units of work never deadlock
        # upgrading read locks: they run one after the other, like a row lock would.
        read_only = connection.get_execution_options().get("read_only")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def init_app(app: Flask) -> Database:
    """Attach the database to the app."""
    db = Database(
        app.config["DATABASE_URL"], statement_timeout_ms=app.config["DATABASE_STATEMENT_TIMEOUT_MS"]
    )
    app.extensions["db"] = db
    return db


def get_db() -> Database:
    """The current app's database."""
    db: Database = current_app.extensions["db"]
    return db


_Model = TypeVar("_Model", bound=DeclarativeBase)

#: Dialect-specific INSERTs that support ON CONFLICT.
_UPSERT_INSERTS: dict[str, Callable[..., Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


@functools.cache
def _insert_ignore_statement(dialect: str, table: Table, conflict_columns: tuple[str, ...]) -> Any:
    """The ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` for a table, built once.

    Its values are bound at execution, so every call reuses one compiled statement.
    """
    if dialect not in _UPSERT_INSERTS:  # pragma: no cover - only SQLite and PostgreSQL
        raise NotImplementedError(dialect)
    return (
        _UPSERT_INSERTS[dialect](table)
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(table.c[conflict_columns[0]])  # rowcount is unreliable here; RETURNING is not
    )


def insert_ignore(
    session: Session, model: type[Any], values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL.

    :return: True when the row was inserted, False when it already existed.
    """
    statement = _insert_ignore_statement(
        session.get_bind().dialect.name, model.__table__, tuple(conflict_columns)
    )
    # A Core statement on the session's connection: none of the ORM's execution steps.
    return session.connection().execute(statement, values).first() is not None


def insert_ignore_many(
    session: Session, model: type[Any], rows: list[dict[str, Any]], conflict_columns: list[str]
) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING`` of many rows in one statement (batched VALUES).

    :return: how many rows were inserted (the others already existed).
    """
    if not rows:
        return 0
    statement = _insert_ignore_statement(
        session.get_bind().dialect.name, model.__table__, tuple(conflict_columns)
    )
    return len(session.connection().execute(statement, rows).all())


@functools.cache
def _upsert_statement(
    dialect: str, model: type[Any], conflict_columns: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    """The ORM ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` for a model, built once."""
    if dialect not in _UPSERT_INSERTS:  # pragma: no cover - only SQLite and PostgreSQL
        raise NotImplementedError(dialect)
    insert = _UPSERT_INSERTS[dialect](model)
    updated = {name: insert.excluded[name] for name in columns if name not in conflict_columns}
    return (
        insert.on_conflict_do_update(index_elements=list(conflict_columns), set_=updated)
        .returning(model)
        # An object of this row already in the session takes the stored values.
        .execution_options(populate_existing=True)
    )


def upsert(
    session: Session, model: type[_Model], values: dict[str, Any], conflict_columns: list[str]
) -> _Model:
    """``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL: insert or overwrite.

    Atomic on both: a concurrent writer of the same key waits for this one and then
    overwrites it (last write wins), where a read-then-insert would fail on the key.

    :param values: the row; every column given that is not a conflict column is updated.
    :param conflict_columns: the primary key or unique columns that identify the row.
    :return: the stored object (the session's own, refreshed, if it had one).
    """
    statement = _upsert_statement(
        session.get_bind().dialect.name, model, tuple(conflict_columns), tuple(values)
    )
    stored: _Model = session.scalars(statement, values).one()
    return stored
