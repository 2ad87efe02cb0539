"""The database: engines, transactions, and Alembic migrations applied programmatically.

SQLite (the default) runs in WAL mode with foreign keys on and ``synchronous=FULL``, so a
committed transaction survives the process being killed; write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing on upgrade.
It is a single-node database: run one service process per SQLite file. PostgreSQL (psycopg 3)
serves teams and several processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from chipfolio.errors import ChipfolioError, InputError

SQLITE_BUSY_MS = 30_000


class DatabaseError(ChipfolioError):
    """The database cannot be opened or migrated."""

    exit_code = 2


def migrations_dir() -> Path:
    """The folder of the shipped Alembic scripts (inside the installed package)."""
    return Path(str(files("chipfolio.interfaces.service").joinpath("migrations")))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun explicitly (below)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _engine(url: str, immediate: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database in (None, "", ":memory:"):
        raise InputError("an in-memory SQLite database is not supported", field="--db")
    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
        pool_size=10,
        max_overflow=20,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
    return engine


class Database:
    """Two ways into one database: ``read()`` and ``write()`` sessions, each one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        try:
            self._write_engine = _engine(url, immediate=True)
            self._read_engine = (
                _engine(url, immediate=False) if self.dialect == "sqlite" else self._write_engine
            )
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot open database: {exc}") from exc
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work commits together at the end, or not at all."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def ping(self) -> bool:
        try:
            with self._read_engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            return False
        return True

    def migrated(self) -> bool:
        """Whether the schema is at the newest shipped revision."""
        return current_revision(self._read_engine) == head_revision()

    def dispose(self) -> None:
        self._write_engine.dispose()
        self._read_engine.dispose()

    @property
    def write_engine(self) -> Engine:
        return self._write_engine


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrations_dir()))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError:
        return None


def migrate(db: Database) -> str | None:
    """Apply every shipped migration not yet applied; returns the revision reached."""
    from alembic import command

    config = _alembic_config(db.write_engine)
    try:
        with db.write_engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate database {db.url}: {exc}") from exc
    return head_revision()
