"""Database fixtures: every store test runs on a SQLite file and, when configured, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from carepilot.store.db import Database, open_database
from carepilot.store.repository import SqlRecordRepository

PG_URL = os.environ.get("CAREPILOT_TEST_DATABASE_URL")


def _reset_postgres(url: str) -> None:
    # The whole schema, so that tables, triggers and functions of any earlier revision go too.
    db = Database(url)
    with db.write() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL not configured (set CAREPILOT_TEST_DATABASE_URL); CI sets it")
        _reset_postgres(PG_URL)
        db = open_database(PG_URL)
    yield db
    db.dispose()


@pytest.fixture
def repo(database) -> SqlRecordRepository:
    return SqlRecordRepository(database)
