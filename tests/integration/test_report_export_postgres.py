"""`costlog report` and `costlog export` (and the API's export) again, on PostgreSQL."""

from collections.abc import Iterator

import pytest

from costlog.store.connection import Database, connect
from costlog.store.migrations import migrate
from tests.unit.cli.test_report_export import *  # noqa: F403 - every test of the module runs here


@pytest.fixture
def db_path(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def db(db_path: str) -> Iterator[Database]:
    database = connect(db_path)
    migrate(database)
    yield database
    database.close()
