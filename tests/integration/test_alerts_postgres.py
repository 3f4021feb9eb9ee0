"""The budget alerts' store tests again, on PostgreSQL: each fires once, in the write's
transaction, whichever writer gets there first."""

from collections.abc import Iterator

import pytest

from costlog.store.connection import Database, connect
from costlog.store.migrations import migrate
from tests.unit.store.test_alerts import *  # noqa: F403 - every test of the module runs here too

# Its examples copy a migrated SQLite file; the four-worker fault test covers PostgreSQL.
del test_alerts_fire_exactly_once_whatever_the_interleaving  # noqa: F821


@pytest.fixture
def db_path(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def db(db_path: str) -> Iterator[Database]:
    database = connect(db_path)
    migrate(database)
    yield database
    database.close()
