"""Fault 4: every kind of duplicate delivery in one run, against a real worker.

The same events arrive again by every route costlog has: re-published, re-queued from the failed
registry with `rq requeue`, replayed from the spool with `costlog spool replay`, back-filled
with `costlog import` and sent again with `costlog emit` (both fill a missing event_id with the
SHA-256 of the event, so id-less events are recognised too). Counts, costs and every rollup must
be exact, and the counters must account for each delivery: ingested once, ignored otherwise.
"""

from pathlib import Path
from typing import Any

import pytest
from rq.job import JobStatus

from costlog import constants
from costlog.domain.event import parse_event
from ingest.client import Publisher
from ingest.queue import enqueue_events, make_queue
from ingest.spool import Spool
from tests.conftest import NOW
from tests.support.faults import (
    FAULT_EVENTS,
    assert_exactly_once,
    count_rows,
    drained,
    failed_reasons,
    jsonl,
    make_events,
    queue_state,
    redis_client,
    report,
    rq_requeue_all,
    service,
    store_of,
    wait_for,
)
from tests.support.processes import costlog_env, run

pytestmark = pytest.mark.e2e

INVALID = {"event_id": "invalid-1", "project_id": "p", "task_id": "t", "phase": "x",
           "cost_usd": -1}


def without_id(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in event.items() if key != "event_id"}
            for event in events]


def hashed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The id-less events with the id emit/import give them (SHA-256 of the event)."""
    return [{**event, "event_id": parse_event(event, now=NOW, fill_id="hash").event_id}
            for event in events]


def test_every_duplicate_route_in_one_run(tmp_path: Path, redis_url: str, queue_name: str,
                                          store_target: str) -> None:
    """On both back ends."""
    env = costlog_env(tmp_path, redis_url, queue_name) | {"COSTLOG_DB": store_target}
    db_path, spool = store_of(store_target), tmp_path / "spool"
    assert run(env, "migrate").returncode == 0
    n = max(FAULT_EVENTS // 2, 400)
    e1 = make_events(n, prefix="dup")  # with event ids
    e2 = without_id(make_events(n // 2, prefix="anon"))  # without: ids by content hash
    e3 = make_events(100, prefix="late")  # only ever delivered by a re-queue
    publisher = Publisher(redis_url, queue_name, spool)
    deliveries = 0

    with service(env, "worker", log=tmp_path / "worker.log"):
        # 1. Published, and published again.
        for _ in range(2):
            for start in range(0, n, 50):
                publisher.publish_many(e1[start:start + 50])
            deliveries += n

        with redis_client(redis_url) as client:
            queue = make_queue(queue_name, client)
            # 2a. Two jobs that fail for real: valid events plus one invalid one.
            for start in (0, 100):
                enqueue_events(queue, e1[start:start + 100] + [INVALID])
                deliveries += 100
            # 2b. Two jobs that failed before running (say, retries exhausted in an outage).
            for batch in (e3, e1[200:300]):
                job = queue.create_job(constants.JOB_FUNCTION, args=(batch,),
                                       failure_ttl=constants.FAILED_JOB_TTL_SECONDS)
                job.set_status(JobStatus.FAILED)
                queue.failed_job_registry.add(job, ttl=constants.FAILED_JOB_TTL_SECONDS,
                                              exc_string="OperationalError: disk I/O error")
        wait_for(lambda: queue_state(redis_url, queue_name)["failed"] == 4
                 and drained(redis_url, queue_name), 60, "two jobs to fail")

        # 2c. `rq requeue --all`: the invalid ones fail again, the others now succeed.
        assert rq_requeue_all(redis_url, queue_name).returncode == 0
        deliveries += 200 + len(e3) + 100
        wait_for(lambda: queue_state(redis_url, queue_name)["failed"] == 2
                 and drained(redis_url, queue_name), 60, "the re-queued jobs")

        # 3. Replayed from the spool (as if they had been spooled during an outage too).
        Spool(spool).append([parse_event(event, now=NOW).to_json() for event in e1])
        replay = run(env, "spool", "replay")
        assert replay.returncode == 0 and replay.stdout == f"replayed {n} events\n"
        deliveries += n

        # 4. Back-filled with `costlog import`, then sent again with `costlog emit`.
        (tmp_path / "backfill.jsonl").write_text(jsonl(e1 + e2))
        imported = run(env, "import", str(tmp_path / "backfill.jsonl"), "--chunk", "200")
        assert imported.returncode == 0, imported.stderr
        deliveries += n + len(e2)
        emitted = run(env, "emit", "-", stdin=jsonl(e2 + e1))
        assert emitted.returncode == 0, emitted.stderr
        deliveries += len(e2) + n

        # 5. And the failed registry re-queued once more.
        assert rq_requeue_all(redis_url, queue_name).returncode == 0
        deliveries += 200
        expected = e1 + hashed(e2) + e3
        wait_for(lambda: count_rows(db_path) == len(expected)
                 and queue_state(redis_url, queue_name)["failed"] == 2
                 and drained(redis_url, queue_name), 60, "every delivery to be processed")

    figures = assert_exactly_once(db_path, expected)
    assert figures["duplicates_ignored"] == deliveries - len(expected)
    reasons = failed_reasons(redis_url, queue_name)
    assert all("event 100: cost_usd: must be a number >= 0" in reason
               for reason in reasons.values()), reasons
    report("duplicate-delivery", distinct_events=len(expected), deliveries=deliveries,
           counted=figures["rows"], duplicates_ignored=figures["duplicates_ignored"],
           lost=figures["lost"], doubled=figures["doubled"])
