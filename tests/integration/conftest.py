"""Fixtures of the API's write tests: the real queue behind a TestClient."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlite_utils
from starlette.testclient import TestClient

from ingest.queue import make_queue
from tests.support.api import client_for, settings_for


@pytest.fixture
def queue(redis_url: str, queue_name: str) -> Iterator[Any]:
    """The test's RQ queue on the session's redis-server (a module may define its own)."""
    connection = redis.Redis.from_url(redis_url)
    yield make_queue(queue_name, connection)
    connection.close()


@pytest.fixture
def queued_client(db: sqlite_utils.Database, db_path: Path, tmp_path: Path, redis_url: str,
                  queue_name: str) -> Iterator[TestClient]:
    """A loopback TestClient of the API over an empty database, publishing to ``queue``."""
    settings = settings_for(db_path, tmp_path, redis_url=redis_url, queue_name=queue_name)
    with client_for(settings) as test_client:
        yield test_client
