"""Budget alerts end to end on a real redis-server, a real SQLite file and a real HTTP receiver
on loopback: decided once, delivered signed, retried with backoff, swept up when unqueued,
and the budget gate's state kept in Redis."""

import hashlib
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import rq

from costlog import clock, constants
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.settings import Settings
from costlog.store.connection import connect as connect_db
from costlog.store.migrations import migrate
from costlog.store.orchestrator import set_budget
from costlog.store.write import record_events
from ingest import worker
from ingest.gate import Gate, publish_states
from ingest.hooks import check_budget
from ingest.queue import alerts_queue_name, enqueue_events, make_queue
from ingest.redis_conn import connect
from ingest.worker import run_worker
from tests.conftest import NOW
from tests.support.receiver import Receiver, receiver

pytestmark = pytest.mark.usefixtures("keep_signal_handlers")
SECRET = "s3cret-signing-key"
THRESHOLD_ID = "budget.threshold:proj:2026-11"


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short request timeout, so the receiver's 'timeout' answer costs a second, not five."""
    monkeypatch.setattr(constants, "ALERT_ATTEMPT_SECONDS", 0.3)
    monkeypatch.setattr(worker, "reconnect_delay", lambda attempt: 0.01)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def settings(db_path: Path, redis_url: str, queue_name: str, hook: Receiver) -> Settings:
    # Credentials and a query string that must never reach a log line.
    url = hook.url.replace("http://", "http://user:pa55word@") + "/hook?token=t0ps3cret"
    return Settings(db_path=db_path, redis_url=redis_url, queue_name=queue_name,
                    alert_webhooks=(url,), alert_secret=SECRET)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = connect(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def alerts_queue(client: redis.Redis, queue_name: str) -> rq.Queue:
    return make_queue(alerts_queue_name(queue_name), client)


def work(settings: Settings) -> None:
    """The events' worker, then the alert worker, until their queues are empty."""
    run_worker(settings, burst=True)
    run_worker(settings, burst=True, deliveries=True)


@pytest.fixture
def store(db_path: Path) -> Iterator[Any]:
    db = connect_db(db_path)
    migrate(db)
    yield db
    db.close()


def event(event_id: str, cost: float) -> dict[str, Any]:
    return {"event_id": event_id, "project_id": "proj", "task_id": "t1", "phase": "review",
            "model": "claude-haiku-4-5", "cost_usd": cost, "timestamp": "2026-11-20T09:00:00Z"}


def deliveries(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT alert_id, url, status, attempts, last_error"
                            " FROM cost_alert_deliveries ORDER BY alert_id").fetchall()


def make_retries_due(client: redis.Redis, queue: rq.Queue) -> list[str]:
    scheduled = queue.scheduled_job_registry
    ids = scheduled.get_job_ids()
    for job_id in ids:
        client.zadd(scheduled.key, {job_id: time.time() - 1})
    return ids


def test_fails_times_out_then_delivers_once_signed(
        settings: Settings, store: Any, queue: rq.Queue, alerts_queue: rq.Queue,
        client: redis.Redis, hook: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    set_budget(store, "proj", 10.0, 80)
    hook.script = ["fail", "trickle"]
    hook.delay = 0.1  # a byte every 0.1 s: no single read waits 0.3 s, the attempt does
    enqueue_events(queue, [event("a", 5.0), event("b", 3.5)])

    run_worker(settings, burst=True)  # records, fires, enqueues the delivery on its own queue
    assert (queue.count, alerts_queue.count, hook.received) == (0, 1, [])
    [(alert_id, url, status, attempts, error)] = deliveries(settings.db_path)
    assert (alert_id, url, status, attempts) == (THRESHOLD_ID, f"{hook.url}/hook", "pending", 0)

    run_worker(settings, burst=True, deliveries=True)  # the alert worker: first attempt, 500
    assert deliveries(settings.db_path)[0][2:] == ("pending", 1, "HTTP 500")
    [retry] = make_retries_due(client, alerts_queue)
    job = alerts_queue.fetch_job(retry)
    assert job.func_name == constants.DELIVER_FUNCTION
    assert job.retry_intervals[0] <= 30  # the first retry within 30 s

    work(settings)  # second attempt: the answer is not all there within the deadline
    assert deliveries(settings.db_path)[0][2:] == ("pending", 2, "timed out after 0.3 s")
    make_retries_due(client, alerts_queue)
    work(settings)  # third: accepted
    assert deliveries(settings.db_path)[0][2:] == ("delivered", 3, "")
    assert make_retries_due(client, alerts_queue) == []

    # The same events again, and a worker run more: nothing new is sent.
    enqueue_events(queue, [event("a", 5.0), event("b", 3.5)])
    work(settings)
    assert len(hook.received) == 3
    bodies = {received.body for received in hook.received}
    assert len(bodies) == 1  # the same bytes every time
    body = bodies.pop()
    for received in hook.received:
        assert received.path == "/hook?token=t0ps3cret"
        assert received.headers["Content-Type"] == "application/json"
        assert received.headers["X-Costlog-Event"] == "budget.threshold"
        assert received.headers["X-Costlog-Delivery"] == THRESHOLD_ID
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert received.headers["X-Costlog-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["id"] == THRESHOLD_ID
    assert payload["text"] == ("costlog: proj has used 85.0% of its $10.00 budget for"
                               " November 2026 ($8.50 spent)")
    assert payload["budget"]["current_spent_usd"] == 8.5
    logged = caplog.text
    assert "pa55word" not in logged and "t0ps3cret" not in logged and SECRET not in logged
    assert f"{hook.url}/hook" in logged  # the redacted URL is what the log shows


def test_gives_up_after_the_last_attempt(
        settings: Settings, store: Any, queue: rq.Queue, alerts_queue: rq.Queue,
        client: redis.Redis, hook: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "ALERT_RETRY_INTERVALS", (1, 1))
    hook.script = ["fail"] * 10
    set_budget(store, "proj", 1.0, 100)
    enqueue_events(queue, [event("a", 2.0)])  # threshold and exceeded at once
    work(settings)
    for _ in range(2):
        assert len(make_retries_due(client, alerts_queue)) == 2
        work(settings)
    assert make_retries_due(client, alerts_queue) == []
    assert [row[2:] for row in deliveries(settings.db_path)] == [
        ("failed", 3, "HTTP 500"), ("failed", 3, "HTTP 500")]
    assert len(alerts_queue.failed_job_registry.get_job_ids()) == 2
    assert queue.failed_job_registry.get_job_ids() == []
    with sqlite3.connect(settings.db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cost_alerts").fetchone() == (2,)


def test_sweep_enqueues_alerts_fired_without_a_queue(
        settings: Settings, store: Any, queue: rq.Queue, hook: Receiver,
        client: redis.Redis) -> None:
    set_budget(store, "proj", 10.0, 80, hard_limit=True)
    # Written outside any job (as `costlog import` does, or with Redis down after the commit):
    # nothing was enqueued.
    record_events(store, [parse_event(event("a", 11.0), now=NOW)], PriceTable())
    assert deliveries(settings.db_path) == []
    gate = Gate(connect(settings.redis_url, fail_fast=True), settings.queue_name)
    assert gate.allows("proj") == (True, "budget state unavailable: no worker has published"
                                         " it yet")

    # Left to the writer for a few seconds, then a worker's sweep takes it over.
    clock.set_clock(clock.fixed(NOW + timedelta(seconds=constants.ALERT_ENQUEUE_GRACE_SECONDS
                                                 + 1)))
    work(settings)

    assert sorted(row[:4] for row in deliveries(settings.db_path)) == [
        ("budget.exceeded:proj:2026-11", f"{hook.url}/hook", "delivered", 1),
        (THRESHOLD_ID, f"{hook.url}/hook", "delivered", 1)]
    assert sorted(r.headers["X-Costlog-Event"] for r in hook.received) == [
        "budget.exceeded", "budget.threshold"]
    # The sweep also wrote the whole budget state: the hard budget closes the gate.
    reason = "budget exceeded: $11.00 spent of $10.00 limit for November 2026"
    assert gate.allows("proj") == (False, reason)
    assert check_budget("proj", gate=gate) == (False, reason)
    assert check_budget("proj", ignore_budget=True, gate=gate) == (True, reason)
    assert gate.allows("other") == (True, None)


def test_gate_follows_commits_and_budget_changes(
        settings: Settings, store: Any, queue: rq.Queue, client: redis.Redis) -> None:
    set_budget(store, None, 5.0, 80, hard_limit=True)  # all projects
    run_worker(settings, burst=True)
    gate = Gate(connect(settings.redis_url, fail_fast=True), settings.queue_name)
    assert gate.allows("proj") == (True, None)
    enqueue_events(queue, [event("a", 6.0)])
    run_worker(settings, burst=True)
    assert gate.allows("proj") == (
        False, "budget exceeded: $6.00 spent of $5.00 limit for November 2026")
    assert gate.allows("elsewhere")[0] is False  # the all-projects budget applies to every one
    # A budget change is published by whoever makes it (the API does, see its tests); a sweep
    # covers the rest.
    decision = set_budget(store, None, 50.0)
    publish_states(client, settings.queue_name, decision.states)
    assert gate.allows("proj") == (True, None)
    # A new month re-opens it.
    set_budget(store, None, 5.0)
    run_worker(settings, burst=True)
    assert gate.allows("proj")[0] is False
    clock.set_clock(clock.fixed(NOW.replace(month=12, day=1)))
    assert gate.allows("proj") == (True, None)


def test_gate_follows_a_commit_whose_job_then_fails(
        settings: Settings, store: Any, queue: rq.Queue, client: redis.Redis) -> None:
    # A job that succeeds writes the state as RQ marks it finished; one whose valid events
    # commit before it fails on an invalid one must write it all the same.
    set_budget(store, "proj", 5.0, 80, hard_limit=True)
    run_worker(settings, burst=True)  # its start-up sweep: nothing spent yet
    gate = Gate(connect(settings.redis_url, fail_fast=True), settings.queue_name)
    assert gate.allows("proj") == (True, None)
    enqueue_events(queue, [event("a", 6.0), {**event("b", 1.0), "phase": ""}])
    run_worker(settings, burst=True)
    assert queue.failed_job_registry.get_job_count() == 1
    assert gate.allows("proj") == (
        False, "budget exceeded: $6.00 spent of $5.00 limit for November 2026")
    # Duplicates change nothing: the same spend is written again.
    enqueue_events(queue, [event("a", 6.0)])
    run_worker(settings, burst=True)
    assert gate.allows("proj") == (
        False, "budget exceeded: $6.00 spent of $5.00 limit for November 2026")


def test_gate_fails_open_when_redis_is_gone(settings: Settings) -> None:
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gate = Gate(connect(f"redis://127.0.0.1:{port}/0", fail_fast=True), settings.queue_name)
    assert gate.allows("proj") == (True, "budget state unavailable: Redis did not answer")
    started = time.perf_counter()
    assert gate.allows("proj") == (True, "budget state unavailable: Redis did not answer")
    assert time.perf_counter() - started < 0.05  # the breaker answers without trying again
