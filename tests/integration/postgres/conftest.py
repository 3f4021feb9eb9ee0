"""The PostgreSQL tier: suites written for SQLite, run again with the store on PostgreSQL."""

from collections.abc import Iterator

import pytest

from costlog.store.connection import Database, connect
from costlog.store.migrations import migrate


@pytest.fixture
def db_path(postgres_url: str) -> str:
    """A private, empty PostgreSQL database's URL where the SQLite suites take a file path."""
    return postgres_url


@pytest.fixture
def db(db_path: str) -> Iterator[Database]:
    """That database, migrated."""
    database = connect(db_path)
    migrate(database)
    yield database
    database.close()
