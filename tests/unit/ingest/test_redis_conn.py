"""Redis clients: no hidden retry loop, bounded timeouts, and passwords kept out of text."""

import socket

import pytest
import redis
import redis.connection
import redis.retry
from redis.backoff import NoBackoff

from costlog import constants
from costlog.redaction import redact, scrub
from ingest.redis_conn import connect


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def connect_attempts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts socket connects redis-py makes; backoff sleeps are skipped."""
    attempts: list[int] = []
    real = redis.connection.Connection._connect

    def counting(self: redis.connection.Connection) -> socket.socket:
        attempts.append(1)
        return real(self)

    monkeypatch.setattr(redis.connection.Connection, "_connect", counting)
    monkeypatch.setattr(redis.retry, "sleep", lambda _seconds: None)
    return attempts


def kwargs_of(client: redis.Redis) -> dict:
    return client.connection_pool.connection_kwargs


def test_fail_fast_client_has_short_timeouts_and_no_retry() -> None:
    client = connect("redis://127.0.0.1:6379/0", fail_fast=True)

    kwargs = kwargs_of(client)
    assert kwargs["socket_connect_timeout"] == constants.CONNECT_TIMEOUT_SECONDS == 0.1
    assert kwargs["socket_timeout"] == constants.SOCKET_TIMEOUT_SECONDS == 0.1
    assert kwargs["retry"].get_retries() == 0
    assert isinstance(kwargs["retry"]._backoff, NoBackoff)


def test_service_client_has_bounded_timeouts_and_no_retry() -> None:
    client = connect("redis://127.0.0.1:6379/0")

    kwargs = kwargs_of(client)
    assert kwargs["socket_connect_timeout"] == constants.SERVICE_CONNECT_TIMEOUT_SECONDS
    assert kwargs["socket_timeout"] == constants.SERVICE_SOCKET_TIMEOUT_SECONDS
    assert kwargs["retry"].get_retries() == 0


def test_fail_fast_client_raises_connection_error_on_closed_port() -> None:
    client = connect(f"redis://:pa55word@127.0.0.1:{closed_port()}/0", fail_fast=True)

    with pytest.raises(redis.ConnectionError) as raised:
        client.ping()

    assert "pa55word" not in str(raised.value)


@pytest.mark.parametrize("fail_fast", [True, False])
def test_a_refused_connection_is_tried_exactly_once(
    connect_attempts: list[int], fail_fast: bool
) -> None:
    client = connect(f"redis://127.0.0.1:{closed_port()}/0", fail_fast=fail_fast)

    with pytest.raises(redis.ConnectionError):
        client.ping()

    assert connect_attempts == [1]


def test_redis_py_default_client_would_retry(connect_attempts: list[int]) -> None:
    """The library fact the explicit no-retry policy guards against."""
    client = redis.Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=0.1)

    with pytest.raises(redis.ConnectionError):
        client.ping()

    assert len(connect_attempts) > 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://user:secret@cache:6379/0", "redis://user:***@cache:6379/0"),
        ("redis://:secret@cache:6379/2", "redis://:***@cache:6379/2"),
        ("rediss://default:p%40ss@cache.example:6380", "rediss://default:***@cache.example:6380"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://user@cache:6379/0", "redis://user@cache:6379/0"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
        ("redis://:secret@[::1", "<unparseable redis url>"),
    ],
)
def test_redact_masks_the_password(url: str, expected: str) -> None:
    assert redact(url) == expected


def test_scrub_masks_the_password_in_free_text() -> None:
    url = "redis://:p%40ss@cache:6379/0"
    text = f"Error connecting to {url}: AUTH p@ss rejected, p%40ss"

    assert scrub(text, url) == (
        "Error connecting to redis://:***@cache:6379/0: AUTH *** rejected, ***"
    )
    assert scrub("nothing secret", None) == "nothing secret"
    assert scrub("no password here", "redis://cache:6379") == "no password here"
