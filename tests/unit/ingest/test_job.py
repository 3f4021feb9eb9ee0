"""The job class's allow-list and the job function, on fakeredis with a burst SimpleWorker."""

import json
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import rq
import rq.job
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from costlog import constants
from costlog.domain.pricing import load_prices
from costlog.settings import Settings
from costlog.store import write
from ingest import job
from ingest.job import CostlogJob, InvalidJob, JobContext, JobRefused, record_events
from ingest.queue import enqueue_events, make_queue
from ingest.worker import build_worker
from tests.support.events import wire_event

pytestmark = pytest.mark.usefixtures("keep_signal_handlers")


@pytest.fixture
def context(db) -> Iterator[JobContext]:
    ctx = JobContext(db=db, prices=load_prices(None))
    previous = job.set_context(ctx)
    yield ctx
    job.set_context(previous)


@pytest.fixture
def fake() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def queue(fake: fakeredis.FakeRedis, queue_name: str) -> rq.Queue:
    return make_queue(queue_name, fake)


def work(queue: rq.Queue) -> None:
    """Run costlog's worker class in burst mode (no scheduler: nothing here waits on one)."""
    worker = build_worker(Settings(queue_name=queue.name), queue.connection, threading.Event())
    worker.work(burst=True)


def event(event_id: str, cost: Any = 1.25, **extra: Any) -> dict[str, Any]:
    return wire_event(event_id=event_id, cost_usd=cost, **extra)


def failure(enqueued: rq.job.Job) -> str:
    """The failure text RQ stored (what ``rq info`` and the dashboard show)."""
    result = enqueued.latest_result()
    assert result is not None
    return result.exc_string or ""


def count_rows(db) -> int:
    return db.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]


def aggregate_totals(db) -> tuple:
    return db.execute(
        "SELECT SUM(total_cost_usd), SUM(total_input_tokens), SUM(total_output_tokens),"
        " SUM(turn_count), SUM(task_count) FROM cost_aggregates"
    ).fetchone()


# --- refusal ---------------------------------------------------------------------------------


def test_job_naming_another_function_is_refused_without_import(
    queue: rq.Queue, context: JobContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported: list[str] = []
    real_import = rq.job.import_attribute
    monkeypatch.setattr(rq.job, "import_attribute",
                        lambda name: imported.append(name) or real_import(name))
    canary = tmp_path / "hacked"
    evil = queue.enqueue("os.system", f"touch {canary}")

    work(queue)

    fetched = queue.fetch_job(evil.id)
    assert fetched is not None
    assert fetched.get_status() == JobStatus.FAILED
    assert evil.id in queue.failed_job_registry.get_job_ids()
    assert "JobRefused: job refused: function 'os.system' is not" in failure(fetched)
    assert fetched.retries_left == 0
    assert queue.scheduled_job_registry.get_job_ids() == []
    assert not canary.exists()
    assert imported == []
    assert count_rows(context.db) == 0


def test_refused_job_with_retry_does_not_burn_retries(queue: rq.Queue, context: JobContext) -> None:
    evil = queue.enqueue("os.getcwd", retry=rq.Retry(max=3, interval=[1, 1, 1]))
    assert evil.retries_left == 3

    work(queue)

    fetched = queue.fetch_job(evil.id)
    assert fetched.get_status() == JobStatus.FAILED
    assert fetched.retries_left == 0
    assert queue.scheduled_job_registry.get_job_ids() == []
    assert queue.failed_job_registry.get_job_ids() == [evil.id]


def test_allowed_name_with_callback_is_refused(queue: rq.Queue, context: JobContext) -> None:
    sneaky = queue.enqueue(constants.JOB_FUNCTION, args=([event("e1")],),
                           on_success=rq.Callback("os.getcwd"))

    work(queue)

    fetched = queue.fetch_job(sneaky.id)
    assert fetched.get_status() == JobStatus.FAILED
    assert "JobRefused: job refused: callbacks are not allowed" in failure(fetched)
    assert count_rows(context.db) == 0


def test_func_property_checks_before_import(fake: fakeredis.FakeRedis) -> None:
    allowed = CostlogJob.create(constants.JOB_FUNCTION, args=([],), connection=fake,
                                serializer=JSONSerializer)
    refused = CostlogJob.create("no_such_module.anything", connection=fake,
                                serializer=JSONSerializer)

    assert allowed.func is record_events
    with pytest.raises(JobRefused, match="'no_such_module.anything'"):
        _ = refused.func


# --- recording -------------------------------------------------------------------------------


def test_valid_job_records_rows_and_rollups(queue: rq.Queue, context: JobContext) -> None:
    enqueued = enqueue_events(queue, [event("e1"), event("e2", cost=0.75, task_id="task-2")])

    work(queue)

    fetched = queue.fetch_job(enqueued.id)
    assert fetched.get_status() == JobStatus.FINISHED
    assert fetched.return_value() == {"inserted": 2, "duplicates": 0, "revised": 0}
    assert count_rows(context.db) == 2
    assert aggregate_totals(context.db) == (2.0, 200, 40, 2, 2)
    assert context.db.execute(
        "SELECT events, cost_nanos FROM rollup_task"
        " WHERE project_id = 'proj' AND task_id = 'task-1'"
    ).fetchone() == (1, 1_250_000_000)


def test_same_events_enqueued_twice_count_once(queue: rq.Queue, context: JobContext) -> None:
    events = [event("e1"), event("e2", cost=0.75)]
    first = enqueue_events(queue, events)
    second = enqueue_events(queue, events)

    work(queue)

    assert queue.fetch_job(first.id).return_value() == {
        "inserted": 2, "duplicates": 0, "revised": 0}
    assert queue.fetch_job(second.id).return_value() == {
        "inserted": 0, "duplicates": 2, "revised": 0}
    assert count_rows(context.db) == 2
    assert aggregate_totals(context.db) == (2.0, 200, 40, 2, 1)


def test_invalid_event_fails_job_but_valid_ones_are_recorded(
    queue: rq.Queue, context: JobContext
) -> None:
    events = [event("e0"), event("e1"), event("e2"), event("e3", cost=float("nan")),
              event("e4", input_tokens=True)]
    enqueued = enqueue_events(queue, events)

    work(queue)

    fetched = queue.fetch_job(enqueued.id)
    assert fetched.get_status() == JobStatus.FAILED
    assert queue.failed_job_registry.get_job_ids() == [enqueued.id]
    assert queue.scheduled_job_registry.get_job_ids() == []
    assert fetched.retries_left == 0
    assert "event 3: cost_usd: must be a finite number" in failure(fetched)
    assert "event 4: input_tokens: must be an integer >= 0, got boolean" in failure(fetched)
    assert "2 of 5 events invalid" in failure(fetched)
    assert sorted(r[0] for r in context.db.execute("SELECT event_id FROM cost_log")) == [
        "e0", "e1", "e2"]


def test_invalid_job_message_lists_a_bounded_number_of_errors(context: JobContext) -> None:
    bad = [{"project_id": "p"}] * (constants.INVALID_EVENTS_REPORTED + 3)

    with pytest.raises(InvalidJob) as raised:
        record_events(bad)

    message = str(raised.value)
    assert message.count("task_id: is required") == constants.INVALID_EVENTS_REPORTED
    assert message.endswith("; and 3 more")


def test_non_list_payload_is_invalid(context: JobContext) -> None:
    with pytest.raises(InvalidJob, match="events: must be an array of events, got dict"):
        record_events({"event_id": "x"})  # type: ignore[arg-type]


def test_missing_event_id_is_filled_by_hash_so_replays_count_once(context: JobContext) -> None:
    payload = event("unused")
    del payload["event_id"]

    assert record_events([payload]) == {"inserted": 1, "duplicates": 0, "revised": 0}
    assert record_events([dict(payload)]) == {"inserted": 0, "duplicates": 1, "revised": 0}
    event_id = context.db.execute("SELECT event_id FROM cost_log").fetchone()[0]
    assert len(event_id) == 64


def test_transient_error_propagates(context: JobContext, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(*_args: Any) -> write.WriteResult:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(write, "record_events", locked)

    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        record_events([event("e1")])


def test_transient_failure_keeps_retries(
    queue: rq.Queue, context: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*_args: Any) -> write.WriteResult:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(write, "record_events", locked)
    enqueued = enqueue_events(queue, [event("e1")])

    work(queue)

    fetched = queue.fetch_job(enqueued.id)
    assert fetched.get_status() == JobStatus.SCHEDULED
    assert fetched.retries_left == len(constants.RETRY_INTERVALS) - 1
    assert queue.scheduled_job_registry.get_job_ids() == [enqueued.id]
    assert queue.failed_job_registry.get_job_ids() == []


def test_context_defaults_to_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_file = tmp_path / "env" / "costlog.db"
    monkeypatch.setenv("COSTLOG_DB", str(db_file))
    monkeypatch.delenv("COSTLOG_PRICES", raising=False)
    previous = job.set_context(None)
    try:
        assert record_events([event("e1")]) == {"inserted": 1, "duplicates": 0, "revised": 0}
        built = job.get_context()
        assert built.db.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0] == 1
        built.db.close()
    finally:
        job.set_context(previous)
    assert db_file.exists()


# --- queue configuration ---------------------------------------------------------------------


def test_job_data_in_redis_is_json(queue: rq.Queue, fake: fakeredis.FakeRedis) -> None:
    events = [event("e1")]
    enqueued = enqueue_events(queue, events)

    raw = fake.hget(enqueued.key, "data")

    assert json.loads(zlib.decompress(raw)) == [constants.JOB_FUNCTION, None, [events], {}]
    assert queue.serializer is JSONSerializer
    assert queue.job_class is CostlogJob


def test_worker_writes_job_data_back_as_it_was_stored(
        queue: rq.Queue, fake: fakeredis.FakeRedis, context: JobContext,
        monkeypatch: pytest.MonkeyPatch) -> None:
    events = [event("e1"), event("e2", task_id="task-2")]
    enqueued = enqueue_events(queue, events)
    stored = fake.hget(enqueued.key, "data")
    compressed: list[bytes] = []
    compress = zlib.compress
    monkeypatch.setattr(zlib, "compress", lambda data, *a: compressed.append(data) or compress(
        data, *a))

    work(queue)

    assert queue.fetch_job(enqueued.id).get_status() == JobStatus.FINISHED
    assert fake.hget(enqueued.key, "data") == stored
    assert zlib.decompress(stored) not in compressed  # not compressed again to be saved
    monkeypatch.undo()
    # Data that changed is written anew.
    fetched = queue.fetch_job(enqueued.id)
    assert list(fetched.args) == [events]
    fetched.args = ([event("e3")],)
    fetched.save()
    assert json.loads(zlib.decompress(fake.hget(enqueued.key, "data")))[2] == [[event("e3")]]


def test_enqueued_job_keeps_failures_30_days_and_retries(queue: rq.Queue) -> None:
    enqueued = enqueue_events(queue, [event("e1")])

    fetched = queue.fetch_job(enqueued.id)
    assert fetched.func_name == constants.JOB_FUNCTION
    assert fetched.failure_ttl == constants.FAILED_JOB_TTL_SECONDS
    assert fetched.failure_ttl >= 30 * 24 * 3600
    assert fetched.result_ttl == constants.RESULT_TTL_SECONDS
    assert fetched.timeout == constants.JOB_TIMEOUT_SECONDS
    assert fetched.retries_left == len(constants.RETRY_INTERVALS)
    assert fetched.retry_intervals == list(constants.RETRY_INTERVALS)


# --- hashes written by something other than RQ (tests/faults/test_fault_hostile.py: all) ---


def raw_job(fake: fakeredis.FakeRedis, queue: rq.Queue, job_id: str, **fields: Any) -> None:
    """A job hash in RQ's layout with ``fields`` changed, pushed as Queue.push_job_id does."""
    data = json.dumps([constants.JOB_FUNCTION, None, [[event("raw")]], {}]).encode()
    mapping: dict[str, Any] = {"created_at": "2026-11-20T09:00:00.000000Z", "status": "queued",
                               "origin": queue.name, "data": zlib.compress(data)}
    mapping.update(fields)
    fake.hset(f"rq:job:{job_id}", mapping=mapping)
    fake.rpush(queue.key, job_id)


def test_unreadable_hash_loads_as_a_defective_job(fake: fakeredis.FakeRedis,
                                                  queue: rq.Queue) -> None:
    raw_job(fake, queue, "bad-status", status="bogus", retries_left="3")

    loaded = CostlogJob.fetch("bad-status", connection=fake, serializer=JSONSerializer)

    assert loaded.defect == "unreadable job hash: ValueError: \"'bogus' is not a valid JobStatus\""
    assert loaded.retries_left == 0
    assert loaded.origin == queue.name
    assert loaded.func_name == ""  # placeholders: logging and saving it never raise
    with pytest.raises(JobRefused, match="unreadable job hash"):
        _ = loaded.func


def test_malformed_hash_fails_into_the_registry_and_the_worker_goes_on(
    fake: fakeredis.FakeRedis, queue: rq.Queue, context: JobContext
) -> None:
    raw_job(fake, queue, "bad-date", created_at="yesterday")
    good = enqueue_events(queue, [event("after")])

    work(queue)

    assert queue.failed_job_registry.get_job_ids() == ["bad-date"]
    failed = CostlogJob.fetch("bad-date", connection=fake, serializer=JSONSerializer)
    assert "JobRefused: job refused: unreadable job hash: ValueError" in failure(failed)
    assert queue.fetch_job(good.id).get_status() == JobStatus.FINISHED
    assert count_rows(context.db) == 1  # the good job's event, not the malformed job's
    # Rewritten in RQ's own shape (plain RQ reads it), and marked so a re-queue refuses it.
    assert rq.job.Job.fetch("bad-date", connection=fake).get_status() == JobStatus.FAILED
    assert fake.hget("rq:job:bad-date", job.DEFECT_FIELD).startswith(b"unreadable job hash")
    queue.failed_job_registry.requeue("bad-date")
    work(queue)
    assert queue.failed_job_registry.get_job_ids() == ["bad-date"]
    assert count_rows(context.db) == 1


def test_job_data_is_inflated_only_up_to_the_limit(fake: fakeredis.FakeRedis, queue: rq.Queue,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "MAX_JOB_DATA_BYTES", 1000)
    raw_job(fake, queue, "bomb", data=zlib.compress(b"[" + b" " * 100_000 + b"]"))
    raw_job(fake, queue, "plain", data=b'["os.system", null, ["id"], {}]')  # not compressed

    bomb = CostlogJob.fetch("bomb", connection=fake, serializer=JSONSerializer)
    plain = CostlogJob.fetch("plain", connection=fake, serializer=JSONSerializer)

    assert bomb.defect == "job data larger than 1000 bytes"
    assert plain.defect is None and plain.func_name == "os.system"


def test_hash_cannot_choose_timeouts_retries_or_webhooks(fake: fakeredis.FakeRedis,
                                                         queue: rq.Queue) -> None:
    raw_job(fake, queue, "greedy", timeout="-1", failure_ttl="1", repeats_left="9",
            webhooks=json.dumps([{"url": "http://127.0.0.1:9/", "job_status": "failed"}]))

    loaded = CostlogJob.fetch("greedy", connection=fake, serializer=JSONSerializer)

    assert loaded.timeout == constants.JOB_TIMEOUT_SECONDS
    assert loaded.failure_ttl == constants.FAILED_JOB_TTL_SECONDS
    with pytest.raises(JobRefused, match="webhooks are not allowed"):
        _ = loaded.func
    assert loaded.send_webhooks("failed", exc_string="x") is None


@pytest.mark.parametrize(("args", "kwargs"), [((), {}), (([], []), {}), (([],), {"x": 1})])
def test_wrong_arguments_are_invalid_not_retried(args: tuple, kwargs: dict,
                                                 fake: fakeredis.FakeRedis) -> None:
    bad = CostlogJob.create(constants.JOB_FUNCTION, args=args, kwargs=kwargs, connection=fake,
                            serializer=JSONSerializer, retry=rq.Retry(max=3))

    with pytest.raises(InvalidJob, match="takes one argument, a list of events"):
        bad.perform()
    assert bad.retries_left == 0


def test_more_events_than_a_job_carries_are_invalid(context: JobContext) -> None:
    with pytest.raises(InvalidJob, match="at most 1000 per job, got 1001"):
        record_events([event(f"e{i}") for i in range(constants.MAX_EVENTS_PER_JOB + 1)])
    assert count_rows(context.db) == 0
