"""Engine creation, SQLite tuning, the single-writer discipline and schema migration.

SQLite runs in WAL mode with one writer at a time: every write transaction goes through ``Database.write()``,
which serialises writers in this process (concurrent writers on one SQLite file make tail latency explode).
PostgreSQL needs no such lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from carepilot.errors import StoreError


class Database:
    """One database: an engine, a writer lock for SQLite, and the schema kept at the latest migration."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # Bound values are patient data: SQL logged at INFO (echo, or a deployment's log level) shows no parameters.
        kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._write_lock = threading.RLock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; committed on exit, rolled back on error. One writer at a time on SQLite."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (WAL readers never block the writer)."""
        with self.engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision."""
        cfg = alembic_config()
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.read() as conn:
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
        try:
            with self.write() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except Exception as exc:  # alembic raises many types; the edge needs one clear error
            raise StoreError(f"database migration failed: {exc}") from exc

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    cfg = Config()
    location = resources.files("carepilot.store").joinpath("migrations")
    cfg.set_main_option("script_location", str(location))
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def open_database(url: str) -> Database:
    """Open a database and migrate it to the latest schema."""
    db = Database(url)
    db.migrate()
    return db
