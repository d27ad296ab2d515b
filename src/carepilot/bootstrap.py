"""The one place that wires settings to the database and repositories (entrypoints call this)."""

from __future__ import annotations

from carepilot.config import Settings
from carepilot.store.db import Database, open_database
from carepilot.store.repository import SqlRecordRepository


def open_store(settings: Settings) -> tuple[Database, SqlRecordRepository]:
    """Open (and migrate) the configured database; returns it with its record repository."""
    settings.ensure_home()
    db = open_database(settings.resolved_database_url)
    return db, SqlRecordRepository(db)
