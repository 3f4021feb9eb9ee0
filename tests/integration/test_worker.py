"""The worker against a real redis-server: burst runs, retries, rq info, outages, signals."""

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import rq
from rq.job import JobStatus

from costlog import constants
from costlog.settings import Settings
from costlog.store import write
from costlog.store.connection import connect as connect_store
from costlog.store.queries import read_counters
from ingest import worker
from ingest.queue import enqueue_events
from ingest.redis_conn import connect
from ingest.worker import CostlogWorker, _Replayer, run_worker
from tests.support.events import wire_event

REPO = Path(__file__).resolve().parents[2]
RQ_SCRIPT = Path(sys.executable).parent / "rq"

pytestmark = pytest.mark.usefixtures("keep_signal_handlers")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect at once: the tests exercise the loop, not the waiting."""
    monkeypatch.setattr(worker, "reconnect_delay", lambda attempt: 0.01)


@pytest.fixture
def settings(db_path: Path, redis_url: str, queue_name: str) -> Settings:
    return Settings(db_path=db_path, redis_url=redis_url, queue_name=queue_name)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = connect(redis_url)
    yield connection
    connection.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event(event_id: str, cost: float = 0.5) -> dict[str, Any]:
    return wire_event(event_id=event_id, cost_usd=cost, task_id="t1", phase="review",
                      model="claude-haiku-4-5", timestamp="2026-11-20T09:00:00Z")


def rows(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT event_id, cost_usd FROM cost_log ORDER BY event_id").fetchall()


def total_cost(db_path: Path) -> float:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT SUM(total_cost_usd) FROM cost_aggregates").fetchone()[0]


def test_burst_worker_commits_rows_exactly_once(settings: Settings, queue: rq.Queue) -> None:
    first = enqueue_events(queue, [event("a"), event("b", 0.25)])
    again = enqueue_events(queue, [event("a"), event("b", 0.25)])

    run_worker(settings, burst=True)

    assert rows(settings.db_path) == [("a", 0.5), ("b", 0.25)]
    assert total_cost(settings.db_path) == 0.75
    assert queue.fetch_job(first.id).return_value() == {
        "inserted": 2, "duplicates": 0, "revised": 0}
    assert queue.fetch_job(again.id).return_value() == {
        "inserted": 0, "duplicates": 2, "revised": 0}
    assert len(queue) == 0


def test_worker_in_a_thread_runs_jobs(settings: Settings, queue: rq.Queue) -> None:
    enqueued = enqueue_events(queue, [event("threaded")])
    thread = threading.Thread(target=run_worker, args=(settings,), kwargs={"burst": True})

    thread.start()
    thread.join(timeout=4)

    assert not thread.is_alive()
    assert queue.fetch_job(enqueued.id).get_status() == JobStatus.FINISHED
    assert rows(settings.db_path) == [("threaded", 0.5)]


def test_a_revision_through_the_queue_replaces_the_recorded_event(
        settings: Settings, queue: rq.Queue) -> None:
    """Revisions 2 and 1 in that order, twice, on a real worker: the rows end at revision 2."""
    enqueue_events(queue, [event("a")])
    enqueue_events(queue, [{**event("a", 2.0), "revision": 2}])
    enqueue_events(queue, [{**event("a", 1.0), "revision": 1}])
    enqueue_events(queue, [{**event("a", 2.0), "revision": 2}, {**event("a", 1.0), "revision": 1}])
    run_worker(settings, burst=True)
    assert rows(settings.db_path) == [("a", 2.0)]
    assert total_cost(settings.db_path) == 2.0
    db = connect_store(settings.db_path)
    assert list(write.check_aggregates(db)) == []
    counters = read_counters(db)
    assert (counters["events_ingested"], counters["events_revised"],
            counters["duplicates_ignored"]) == (1, 1, 3)
    db.close()


def test_transient_failure_is_retried_not_failed(
    settings: Settings, queue: rq.Queue, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = write.record_events
    calls: list[int] = []

    def locked_once(*args: Any) -> write.WriteResult:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(*args)

    monkeypatch.setattr(write, "record_events", locked_once)
    enqueued = enqueue_events(queue, [event("a")])

    run_worker(settings, burst=True)

    scheduled = queue.scheduled_job_registry
    assert queue.fetch_job(enqueued.id).get_status() == JobStatus.SCHEDULED
    assert scheduled.get_job_ids() == [enqueued.id]
    assert queue.failed_job_registry.get_job_ids() == []
    assert queue.fetch_job(enqueued.id).retries_left == len(constants.RETRY_INTERVALS) - 1
    assert rows(settings.db_path) == []

    # Make the retry due now; the burst worker's scheduler enqueues it and the job succeeds.
    client.zadd(scheduled.key, {enqueued.id: time.time() - 1})
    run_worker(settings, burst=True)

    assert queue.fetch_job(enqueued.id).get_status() == JobStatus.FINISHED
    assert rows(settings.db_path) == [("a", 0.5)]
    assert len(calls) == 2


def test_rq_info_shows_the_queue(redis_url: str, queue: rq.Queue, queue_name: str) -> None:
    enqueue_events(queue, [event("a")])

    result = subprocess.run([str(RQ_SCRIPT), "info", "-u", redis_url], capture_output=True,
                            text=True, timeout=20, check=False)

    assert result.returncode == 0, result.stderr
    assert queue_name in result.stdout


def test_worker_waits_while_redis_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{closed_port()}/0"
    settings = Settings(db_path=tmp_path / "down.db", redis_url=url, queue_name="costlog-down")
    stop = threading.Event()
    caplog.set_level(logging.WARNING, logger="costlog.worker")
    thread = threading.Thread(target=run_worker, args=(settings,), kwargs={"stop": stop})

    thread.start()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(waits(caplog)) < 3:
        time.sleep(0.02)
    assert thread.is_alive()
    stop.set()
    thread.join(timeout=3)

    assert not thread.is_alive()
    assert len(waits(caplog)) >= 3
    assert "redis://:***@127.0.0.1" in waits(caplog)[0]
    assert "ConnectionError" in waits(caplog)[0]
    assert all("s3cret" not in record.getMessage() for record in caplog.records)


def waits(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "Redis unavailable" in r.getMessage()]


def test_worker_started_before_redis_connects_when_it_appears(
    settings: Settings, queue: rq.Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = f"redis://127.0.0.1:{closed_port()}/0"
    attempts: list[str] = []

    def flaky_connect(url: str, *, fail_fast: bool = False) -> redis.Redis:
        attempts.append(url)
        return connect(down if len(attempts) <= 2 else url, fail_fast=fail_fast)

    monkeypatch.setattr(worker, "connect", flaky_connect)
    enqueue_events(queue, [event("a")])

    run_worker(settings, burst=True)

    assert len(attempts) == 3
    assert rows(settings.db_path) == [("a", 0.5)]


def test_lost_connection_in_work_loop_restarts_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds: list[bool] = []

    def fake_work(self: CostlogWorker, burst: bool = False, **_kwargs: Any) -> bool:
        rounds.append(burst)
        if len(rounds) == 2:
            self.stop_event.set()  # what a SIGTERM does; round 1 ends like a dropped connection
        return False

    monkeypatch.setattr(CostlogWorker, "work", fake_work)

    run_worker(settings)

    assert rounds == [False, False]


def test_sigterm_stops_an_idle_worker(settings: Settings) -> None:
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    try:
        run_worker(settings)
    finally:
        timer.cancel()

    assert time.monotonic() - started < 4
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored on the way out


def test_stop_event_ends_an_idle_worker_in_a_thread(settings: Settings) -> None:
    stop = threading.Event()
    replays: list[int] = []

    def replay_then_stop() -> None:
        replays.append(1)
        stop.set()  # what an embedding application does to shut the worker down

    thread = threading.Thread(target=run_worker, args=(settings,),
                              kwargs={"stop": stop, "replay_spool": replay_then_stop})
    thread.start()
    thread.join(timeout=4)

    assert not thread.is_alive()
    assert replays == [1]


def test_burst_worker_replays_the_spool_first(settings: Settings, queue: rq.Queue) -> None:
    replays: list[int] = []

    def replay() -> None:
        replays.append(1)
        enqueue_events(queue, [event("spooled")])

    run_worker(settings, burst=True, replay_spool=replay)

    assert replays == [1]
    assert rows(settings.db_path) == [("spooled", 0.5)]


def test_spool_replay_errors_are_logged_not_raised(
    settings: Settings, queue: rq.Queue, caplog: pytest.LogCaptureFixture
) -> None:
    enqueue_events(queue, [event("a")])

    def broken() -> None:
        raise RuntimeError("spool directory unreadable")

    caplog.set_level(logging.WARNING, logger="costlog.worker")
    run_worker(settings, burst=True, replay_spool=broken)

    assert replay_failures(caplog) == [
        "spool replay failed: RuntimeError: spool directory unreadable"]
    assert rows(settings.db_path) == [("a", 0.5)]


def test_replay_errors_never_show_the_redis_password(caplog: pytest.LogCaptureFixture) -> None:
    secret_url = "redis://:hunter2@127.0.0.1:6379/0"

    def broken() -> None:
        raise ConnectionError(f"cannot reach {secret_url} (password hunter2)")

    caplog.set_level(logging.WARNING, logger="costlog.worker")
    replayer = _Replayer(broken)
    replayer.redis_url = secret_url
    replayer.run()

    assert replay_failures(caplog) == [
        "spool replay failed: ConnectionError: cannot reach redis://:***@127.0.0.1:6379/0"
        " (password ***)"]


def replay_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "spool replay failed" in r.getMessage()]


def test_replayer_runs_at_most_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    clock = [1000.0]
    monkeypatch.setattr(worker.time, "monotonic", lambda: clock[0])
    replayer = _Replayer(lambda: calls.append(1))

    replayer.maybe_run()
    replayer.maybe_run()
    clock[0] += constants.SPOOL_REPLAY_SECONDS - 0.1
    replayer.maybe_run()
    clock[0] += 0.1
    replayer.maybe_run()

    assert calls == [1, 1]


def test_idle_worker_wakes_for_spool_replay(client: redis.Redis, settings: Settings) -> None:
    with_replay = worker.build_worker(settings, client, threading.Event(), lambda: None)
    without = worker.build_worker(settings, client, threading.Event())

    assert with_replay.dequeue_timeout == constants.SPOOL_REPLAY_SECONDS
    assert without.dequeue_timeout == constants.WORKER_TTL_SECONDS - 15
    assert without.worker_ttl == constants.WORKER_TTL_SECONDS
    assert without.maintenance_interval == constants.MAINTENANCE_INTERVAL_SECONDS


def test_reconnect_delay_doubles_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the autouse fixture replaced it
    delays = [worker.reconnect_delay(attempt) for attempt in range(8)]

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert worker.reconnect_delay(10_000) == constants.WORKER_RECONNECT_MAX_SECONDS


def test_worker_script_runs_a_burst(settings: Settings, queue: rq.Queue) -> None:
    enqueue_events(queue, [event("script")])
    env = {**os.environ, "COSTLOG_REDIS_URL": settings.redis_url or "",
           "COSTLOG_QUEUE": settings.queue_name, "COSTLOG_DB": str(settings.db_path)}

    result = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=20, check=False)

    assert result.returncode == 0, result.stderr
    assert rows(settings.db_path) == [("script", 0.5)]


# --- a dead worker's job (timings measured in tests/faults/test_fault_worker_kill.py) ---


def test_dead_workers_job_expires_after_any_live_job_and_well_inside_two_minutes(
    client: redis.Redis, settings: Settings, queue: rq.Queue
) -> None:
    built = worker.build_worker(settings, client, threading.Event())
    job = enqueue_events(queue, [event("a")])

    ttl = built.get_heartbeat_ttl(job)

    assert ttl == constants.EXECUTION_TTL_SECONDS
    # A live SimpleWorker job lasts at most its timeout plus one SQLite busy wait (the timeout
    # signal is handled once SQLite returns), and it cannot heartbeat meanwhile.
    assert ttl > constants.JOB_TIMEOUT_SECONDS + constants.BUSY_TIMEOUT_MS / 1000
    # Expiry, the next maintenance, the first retry and one dequeue wait: under the promised 2 min.
    worst = (ttl + constants.MAINTENANCE_INTERVAL_SECONDS + constants.RETRY_INTERVALS[0]
             + constants.SPOOL_REPLAY_SECONDS)
    assert worst < 120


def test_maintenance_starts_the_clock_on_a_taken_but_never_started_job(
    client: redis.Redis, settings: Settings, queue: rq.Queue
) -> None:
    from rq.executions import Execution

    taken = enqueue_events(queue, [event("taken")])
    waiting = enqueue_events(queue, [event("waiting")])
    client.lmove(queue.key, queue.intermediate_queue_key)  # a worker took it...
    with client.pipeline() as pipeline:  # ...registered its execution, and died
        Execution.create(taken, ttl=60, pipeline=pipeline, worker_name="dead")
        pipeline.execute()
    intermediate = queue.intermediate_queue

    worker.build_worker(settings, client, threading.Event()).clean_registries()

    assert intermediate.get_first_seen(taken.id) is not None  # RQ alone would not set it yet
    assert intermediate.get_first_seen(waiting.id) is None
    assert intermediate.get_job_ids() == [taken.id]  # its execution has not expired yet


def test_a_job_stuck_in_the_intermediate_list_is_retried_one_maintenance_later(
    client: redis.Redis, settings: Settings, queue: rq.Queue
) -> None:
    stuck = enqueue_events(queue, [event("stuck")])
    client.lmove(queue.key, queue.intermediate_queue_key)  # taken, then Redis went away
    intermediate = queue.intermediate_queue
    built = worker.build_worker(settings, client, threading.Event())

    built.clean_registries()  # first noticed: the clock starts
    assert intermediate.get_job_ids() == [stuck.id]
    client.set(intermediate.get_first_seen_key(stuck.id),
               time.time() - worker.INTERMEDIATE_STUCK_SECONDS)  # one maintenance later
    built.clean_registries()

    assert intermediate.get_job_ids() == []
    assert queue.fetch_job(stuck.id).get_status() == JobStatus.SCHEDULED  # its Retry: 1 s
    assert queue.fetch_job(stuck.id).retries_left == len(constants.RETRY_INTERVALS) - 1


def test_a_job_fails_into_the_registry_of_the_queue_it_came_from(
    client: redis.Redis, settings: Settings, queue: rq.Queue
) -> None:
    stray = queue.enqueue("os.getcwd")
    client.hset(stray.key, "origin", "some-other-queue")

    run_worker(settings, burst=True)

    assert queue.failed_job_registry.get_job_ids() == [stray.id]


def test_a_new_round_frees_only_its_own_stopped_schedulers_lock(
    client: redis.Redis, queue_name: str
) -> None:
    from rq.scheduler import RQScheduler

    key = RQScheduler.get_locking_key(queue_name)
    client.set(key, "ours-from-last-round", ex=61)  # left behind by a Redis restart
    worker._release_scheduler_locks(client, queue_name, {"ours-from-last-round"})
    assert client.get(key) is None

    client.set(key, "another-workers", ex=61)
    stale = {"ours-from-last-round"}
    worker._release_scheduler_locks(client, queue_name, stale)
    assert client.get(key) == b"another-workers"
    assert stale == set()


def test_each_job_logs_at_debug_only(settings: Settings, queue: rq.Queue,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """RQ's lines about each job (its description holds the events) are DEBUG records: at the
    default level they would bury everything else, `costlog up`'s address among them."""
    caplog.set_level(logging.DEBUG)
    first = enqueue_events(queue, [event("logged-a")])
    second = enqueue_events(queue, [event("logged-b", 0.25)])
    run_worker(settings, burst=True)
    assert rows(settings.db_path) == [("logged-a", 0.5), ("logged-b", 0.25)]
    for job_id, event_id in ((first.id, "logged-a"), (second.id, "logged-b")):
        lines = [r for r in caplog.records if r.name == "rq.worker" and (
            job_id in r.getMessage() or event_id in r.getMessage())]
        assert any(event_id in r.getMessage() for r in lines)  # the arguments, at debug
        assert {r.levelname for r in lines} == {"DEBUG"}
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any("started with PID" in message for message in shown)  # the worker's own, once
