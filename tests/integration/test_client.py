"""The executor client against a real redis-server: enqueue, spool, breaker, replay."""

import json
import logging
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import rq
from redis.backoff import NoBackoff

import ingest
from costlog import constants
from costlog.cli.redis_server import RedisServer, free_port
from costlog.domain.event import InvalidEvent, parse_event
from costlog.settings import Settings
from ingest import client
from ingest.client import Publisher, PublishResult
from ingest.queue import make_queue
from tests.conftest import NOW
from tests.support.events import wire_event

STAMP = "2026-11-20T12:00:00Z"  # conftest's fixed clock, as the wire form writes it


def event(**overrides: Any) -> dict[str, Any]:
    return wire_event(**{"event_id": ..., "task_id": "TASK-1", "cost_usd": ...,
                         "timestamp": ..., **overrides})


def wire(event_id: str, **overrides: Any) -> dict[str, Any]:
    """What the queue should hold for ``event(**overrides)`` published as ``event_id``."""
    return parse_event({**event(**overrides), "event_id": event_id}, now=NOW).to_json()


class FakeMonotonic:
    """A monotonic clock the test moves by hand, for the breaker."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


class CountingEnqueue:
    """Wraps ingest.queue.enqueue_events and counts the attempts to reach Redis."""

    def __init__(self) -> None:
        self.calls = 0
        self._real = client.enqueue_events

    def __call__(self, queue: rq.Queue, events: list[dict[str, Any]]) -> rq.job.Job:
        self.calls += 1
        return self._real(queue, events)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def queue(redis_url: str, queue_name: str) -> Iterator[rq.Queue]:
    connection = redis.Redis.from_url(redis_url)
    yield make_queue(queue_name, connection)
    connection.close()


@pytest.fixture
def dead_url() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingEnqueue:
    counter = CountingEnqueue()
    monkeypatch.setattr(client, "enqueue_events", counter)
    return counter


def job_events(queue: rq.Queue) -> list[list[dict[str, Any]]]:
    """The events of each job on ``queue``, in queue order."""
    jobs = queue.jobs
    assert all(job.func_name == constants.JOB_FUNCTION for job in jobs)
    return [job.args[0] for job in jobs]


def spooled_ids(publisher: Publisher) -> list[str]:
    lines = (publisher.spool.directory / "spool.jsonl").read_text().splitlines()
    return [json.loads(line)["event_id"] for line in lines]


# -- Redis up ----------------------------------------------------------------------------------


def test_publish_enqueues_one_job_with_a_uuid4_event_id(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    event_id = publisher.publish(event())

    assert uuid.UUID(event_id).version == 4
    assert job_events(queue) == [[wire(event_id)]]
    assert job_events(queue)[0][0]["timestamp"] == STAMP
    assert not publisher.spool.has_pending()


def test_publish_keeps_a_given_event_id_and_accepts_a_cost_event(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    assert publisher.publish(event(event_id="given-1")) == "given-1"
    validated = parse_event(event(event_id="given-2", phase="review"), now=NOW)
    assert publisher.publish(validated) == "given-2"
    assert job_events(queue) == [[wire("given-1")], [wire("given-2", phase="review")]]


def test_publish_many_is_one_job(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    ids = publisher.publish_many([event(task_id=f"T-{n}") for n in range(3)])

    assert len(ids) == 3
    assert all(uuid.UUID(event_id).version == 4 for event_id in ids)
    assert job_events(queue) == [[wire(ids[n], task_id=f"T-{n}") for n in range(3)]]


def test_publish_many_hash_ids_are_stable(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    first = publisher.publish_many([event(timestamp=STAMP)], fill_id="hash")
    again = publisher.publish_many([event(timestamp=STAMP)], fill_id="hash")
    assert first == again
    assert len(first[0]) == 64


def test_publish_many_chunks_at_1000_events_per_job(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    ids = publisher.publish_many(event(event_id=f"e-{n}") for n in range(1005))

    assert ids == [f"e-{n}" for n in range(1005)]
    jobs = job_events(queue)
    assert [len(events) for events in jobs] == [1000, 5]
    assert [e["event_id"] for events in jobs for e in events] == ids


def test_publish_events_reports_not_spooled(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    events = [parse_event(event(event_id="v-1"), now=NOW)]
    assert publisher.publish_events(events) == PublishResult(ids=["v-1"], spooled=False)
    assert job_events(queue) == [[wire("v-1")]]


# -- invalid events: the caller's bug ---------------------------------------------------------


def test_invalid_event_raises_naming_the_field(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    with pytest.raises(InvalidEvent) as caught:
        publisher.publish(event(input_tokens="12"))
    assert caught.value.field == "input_tokens"
    assert str(caught.value) == "input_tokens: must be an integer >= 0, got string"
    assert queue.count == 0
    assert not publisher.spool.has_pending()


def test_publish_many_with_one_invalid_event_publishes_nothing(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    with pytest.raises(InvalidEvent) as caught:
        publisher.publish_many([event(), event(phase=""), event()])
    assert caught.value.field == "phase"
    assert str(caught.value) == "phase: must not be empty (event 1)"
    assert queue.count == 0


def test_invalid_event_raises_even_with_redis_down(dead_url: str, spool_dir: Path) -> None:
    publisher = Publisher(dead_url, "q", spool_dir)
    with pytest.raises(InvalidEvent) as caught:
        publisher.publish(event(cost_usd=float("nan")))
    assert caught.value.field == "cost_usd"
    assert not publisher.spool.has_pending()


def test_no_redis_url_is_a_clear_error(spool_dir: Path) -> None:
    with pytest.raises(ValueError, match="COSTLOG_REDIS_URL"):
        Publisher(None, "q", spool_dir)


# -- Redis down: spool, breaker, replay -------------------------------------------------------


def test_fail_fast_connection_mechanism(dead_url: str, spool_dir: Path) -> None:
    publisher = Publisher(dead_url, "q", spool_dir)
    kwargs = publisher.queue.connection.connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == constants.CONNECT_TIMEOUT_SECONDS == 0.1
    assert kwargs["socket_timeout"] == constants.SOCKET_TIMEOUT_SECONDS == 0.1
    retry = kwargs["retry"]
    assert retry.get_retries() == 0
    assert isinstance(retry._backoff, NoBackoff)


def test_redis_unreachable_spools_and_returns_the_id(
    dead_url: str, spool_dir: Path, counting: CountingEnqueue
) -> None:
    publisher = Publisher(dead_url, "q", spool_dir)
    event_id = publisher.publish(event())

    assert uuid.UUID(event_id).version == 4
    assert counting.calls == 1
    assert spooled_ids(publisher) == [event_id]
    status = publisher.spool.status()
    assert (status.files, status.events) == (1, 1)


def test_publish_many_unreachable_spools_every_event(dead_url: str, spool_dir: Path) -> None:
    publisher = Publisher(dead_url, "q", spool_dir)
    ids = publisher.publish_many([event(event_id=f"e-{n}") for n in range(3)])
    assert ids == ["e-0", "e-1", "e-2"]
    assert spooled_ids(publisher) == ids


def test_publish_events_reports_spooled(dead_url: str, spool_dir: Path) -> None:
    publisher = Publisher(dead_url, "q", spool_dir)
    result = publisher.publish_events([parse_event(event(event_id="v-1"), now=NOW)])
    assert result == PublishResult(ids=["v-1"], spooled=True)


def test_breaker_skips_redis_after_a_failure(
    dead_url: str, spool_dir: Path, counting: CountingEnqueue
) -> None:
    monotonic = FakeMonotonic()
    publisher = Publisher(dead_url, "q", spool_dir, monotonic=monotonic)

    first = publisher.publish(event())
    assert counting.calls == 1
    assert publisher.breaker_open

    monotonic.value += constants.BREAKER_OPEN_SECONDS - 0.01
    second = publisher.publish(event())
    assert counting.calls == 1  # straight to the spool: Redis not even tried
    assert spooled_ids(publisher) == [first, second]

    monotonic.value += 0.02  # the breaker's time is up: the next publish tries Redis again
    assert not publisher.breaker_open
    publisher.publish(event())
    assert counting.calls == 2
    assert publisher.spool.status().events == 3


def test_redis_error_reply_spools(
    redis_url: str, queue_name: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(queue: rq.Queue, events: list[dict[str, Any]]) -> rq.job.Job:
        raise redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'")

    monkeypatch.setattr(client, "enqueue_events", refuse)
    publisher = Publisher(redis_url, queue_name, spool_dir)
    event_id = publisher.publish(event())
    assert spooled_ids(publisher) == [event_id]
    assert publisher.breaker_open


def test_password_never_logged(spool_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    publisher = Publisher(url, "q", spool_dir)
    with caplog.at_level(logging.WARNING, logger="costlog.client"):
        publisher.publish(event())
    assert "spooling 1 event(s)" in caplog.text
    assert "redis://:***@127.0.0.1" in caplog.text
    assert "s3cret-pw" not in caplog.text
    assert "s3cret-pw" not in repr(publisher)


def test_redis_back_on_the_same_port_replays_the_spool(
    tmp_path: Path, spool_dir: Path, queue_name: str
) -> None:
    port = free_port()
    monotonic = FakeMonotonic()
    publisher = Publisher(f"redis://127.0.0.1:{port}/0", queue_name, spool_dir,
                          monotonic=monotonic)
    spooled = publisher.publish(event(task_id="during-outage"))
    assert spooled_ids(publisher) == [spooled]

    server = RedisServer(tmp_path / "redis", port=port, appendonly=False).start()
    try:
        monotonic.value += constants.BREAKER_OPEN_SECONDS + 1
        live = publisher.publish(event(task_id="after-outage"))
        assert publisher.wait_for_replay(5)

        connection = redis.Redis.from_url(server.url)
        jobs = job_events(make_queue(queue_name, connection))
        connection.close()
    finally:
        server.stop()
    assert jobs == [[wire(live, task_id="after-outage")], [wire(spooled, task_id="during-outage")]]
    assert not publisher.spool.has_pending()
    assert publisher.spool.status().events == 0


def test_replay_spool_sends_everything_in_batches(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue
) -> None:
    publisher = Publisher(redis_url, queue_name, spool_dir)
    publisher.spool.append([wire(f"s-{n}") for n in range(constants.SPOOL_REPLAY_BATCH + 1)])
    assert publisher.replay_spool() == constants.SPOOL_REPLAY_BATCH + 1
    assert [len(events) for events in job_events(queue)] == [constants.SPOOL_REPLAY_BATCH, 1]
    assert not publisher.spool.has_pending()


def test_replay_stops_when_the_breaker_is_open(dead_url: str, spool_dir: Path) -> None:
    publisher = Publisher(dead_url, "q", spool_dir, monotonic=FakeMonotonic())
    publisher.publish(event())
    with pytest.raises(redis.ConnectionError, match="circuit breaker open"):
        publisher.replay_spool()
    assert publisher.spool.status().events == 1


# -- a Redis that accepts connections and never answers ---------------------------------------


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A TCP server that accepts connections and never replies."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)  # so the accept loop notices the stop
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)  # held open, never read from or written to

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join(2)
    listener.close()
    for conn in accepted:
        conn.close()


def test_hung_redis_does_not_hold_the_caller(
    silent_redis_url: str, spool_dir: Path, counting: CountingEnqueue
) -> None:
    publisher = Publisher(silent_redis_url, "q", spool_dir, monotonic=FakeMonotonic())
    first = publisher.publish(event())  # times out after SOCKET_TIMEOUT_SECONDS, then spools
    second = publisher.publish(event())  # breaker open: not even a connect
    assert counting.calls == 1
    assert spooled_ids(publisher) == [first, second]


# -- module-level API --------------------------------------------------------------------------


@pytest.fixture
def default_publisher_reset() -> Iterator[None]:
    previous = client.set_default_publisher(None)
    yield
    client.set_default_publisher(previous)


def test_from_ingest_import_publish(
    redis_url: str, queue_name: str, spool_dir: Path, queue: rq.Queue,
    monkeypatch: pytest.MonkeyPatch, default_publisher_reset: None,
) -> None:
    monkeypatch.setenv("COSTLOG_REDIS_URL", redis_url)
    monkeypatch.setenv("COSTLOG_QUEUE", queue_name)
    monkeypatch.setenv("COSTLOG_SPOOL", str(spool_dir))
    # A variable publishing does not read cannot make it raise into the executor.
    monkeypatch.setenv("COSTLOG_LOG_FORMAT", "xml")
    from ingest import publish, publish_many

    assert publish is client.publish
    assert publish_many is client.publish_many
    one = publish(event())
    assert publish_many([event(event_id="m-1"), event(event_id="m-2")]) == ["m-1", "m-2"]
    assert job_events(queue) == [[wire(one)], [wire("m-1"), wire("m-2")]]
    assert client.default_publisher().spool.directory == spool_dir


def test_default_publisher_is_created_once_across_threads(
    monkeypatch: pytest.MonkeyPatch, spool_dir: Path, default_publisher_reset: None
) -> None:
    monkeypatch.setenv("COSTLOG_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("COSTLOG_SPOOL", str(spool_dir))
    built: list[Publisher] = []
    real = Publisher.from_settings.__func__  # type: ignore[attr-defined]

    def counting_from_settings(cls: type[Publisher], settings: Settings) -> Publisher:
        publisher = real(cls, settings)
        built.append(publisher)
        return publisher

    monkeypatch.setattr(Publisher, "from_settings", classmethod(counting_from_settings))
    barrier = threading.Barrier(8)
    seen: list[Publisher] = []

    def grab() -> None:
        barrier.wait()
        seen.append(client.default_publisher())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert seen == built * 8


def test_ingest_package_stays_light() -> None:
    """The client (redis, rq) loads only when publish is asked for."""
    code = (
        "import sys, costlog.constants, costlog.domain.event, costlog.settings\n"
        "assert 'rq' not in sys.modules and 'ingest.client' not in sys.modules\n"
        "from ingest import publish\n"
        "assert 'rq' in sys.modules\n"
        "from ingest import budget_allows\n"
        "assert budget_allows('p')[0] is True\n"
        "assert not [m for m in sys.modules if m.startswith(('sqlite', '_sqlite',"
        " 'costlog.store', 'api'))], 'the store was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30,
                   cwd=Path(__file__).parents[2])
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = ingest.nope  # type: ignore[attr-defined]
    assert set(ingest.__all__) == {"publish", "publish_many", "budget_allows"}
