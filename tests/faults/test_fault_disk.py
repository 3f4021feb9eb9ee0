"""Fault 8: the disk fills up under a running worker.

The injection is the worker's own file-size limit (RLIMIT_FSIZE, lowered on the live process
with prlimit): every write it makes to a file then fails with EFBIG, exactly where a full disk
fails with ENOSPC, and SQLite reports "disk I/O error" / "database or disk is full". Unlike
chmod it also binds root (the tests may run as root), and unlike a tiny tmpfs it needs no mount.
The worker logs through a pipe, so its log is unaffected.

What must hold: a job that cannot write fails and is retried later with backoff; nothing is
half-written meanwhile (rows and rollups unchanged, the rollups still equal cost_log); jobs that
exhaust their retries land in the failed registry with the reason, where /healthz counts them;
when space is back the worker carries on by itself (no restart), a pending retry succeeds,
and `rq requeue` brings the failed jobs in exactly once.
"""

import resource
import sqlite3
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api import create_app
from costlog.settings import Settings
from costlog.store.connection import connect
from costlog.store.write import check_aggregates
from ingest.queue import enqueue_events, make_queue
from tests.support.faults import (
    assert_exactly_once,
    count_rows,
    drained,
    failed_reasons,
    make_events,
    queue_state,
    redis_client,
    report,
    rq_requeue_all,
    service,
    wait_for,
)
from tests.support.processes import costlog_env, run

pytestmark = pytest.mark.e2e

JOB_EVENTS = 50


def healthz(settings: Settings) -> dict:
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    return response.json()


def consistent(db_path: Path) -> bool:
    """The database is intact and every rollup equals its recomputation from cost_log."""
    check_db = sqlite3.connect(db_path)
    try:
        assert check_db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check_db.close()
    db = connect(db_path)
    try:
        return list(check_aggregates(db)) == []
    finally:
        db.close()


def test_disk_full_fails_jobs_retries_them_and_writes_nothing_half(
    tmp_path: Path, redis_url: str, queue_name: str
) -> None:
    env = costlog_env(tmp_path, redis_url, queue_name)
    db_path = tmp_path / "costlog.db"
    assert run(env, "migrate").returncode == 0
    settings = Settings(db_path=db_path, redis_url=redis_url, queue_name=queue_name,
                        spool_dir=tmp_path / "spool")
    before, exhausted, retried, after = (make_events(4 * JOB_EVENTS, prefix=p)
                                         for p in ("before", "exhausted", "retried", "after"))

    with service(env, "worker", log=tmp_path / "worker.log", piped=True) as worker, \
            redis_client(redis_url) as client:
        queue = make_queue(queue_name, client)

        def enqueue(events: list[dict]) -> list[str]:
            return [enqueue_events(queue, events[i:i + JOB_EVENTS]).id
                    for i in range(0, len(events), JOB_EVENTS)]

        def retries_left(job_ids: list[str]) -> list[int]:
            return [queue.fetch_job(job_id).retries_left for job_id in job_ids]

        enqueue(before)
        wait_for(lambda: count_rows(db_path) == len(before), 30, "the first events")

        # The disk is full (for this process): every file write fails.
        limits = resource.prlimit(worker.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, (1, limits[1]))
        full_at = time.monotonic()
        try:
            doomed = enqueue(exhausted)
            # Each job fails, is retried 1 s later and fails again: a 5 s backoff is next.
            wait_for(lambda: all(left is not None and left <= 3
                                 for left in retries_left(doomed)), 30, "two failed attempts")
            assert count_rows(db_path) == len(before)  # nothing of them is visible...
            assert consistent(db_path)  # ...and the rollups equal cost_log
            during = healthz(settings)
            assert during["database"]["ok"] is True  # reads still work...
            # ...but the worker's failing writes show at once, before any retry runs out.
            assert during["status"] == "degraded"
            assert during["writes"]["ok"] is False
            assert [entry["error"] for entry in during["writes"]["errors"]] in (
                ["OperationalError: disk I/O error"],
                ["OperationalError: database or disk is full"])
            assert during["queue"]["retrying"] == len(doomed)

            # Fast-forward the backoff (5, 15, 60, 300 s) until they give up.
            scheduled = queue.scheduled_job_registry

            def given_up() -> bool:
                due = {job_id: time.time() - 1 for job_id in scheduled.get_job_ids()}
                if due:
                    client.zadd(scheduled.key, due)
                return queue_state(redis_url, queue_name)["failed"] == len(doomed)

            wait_for(given_up, 60, "the retries to be exhausted", interval=0.5)
            reasons = failed_reasons(redis_url, queue_name)
            assert sorted(reasons) == sorted(doomed)
            assert all("disk I/O error" in reason or "disk is full" in reason
                       for reason in reasons.values()), reasons
            gave_up = healthz(settings)
            assert gave_up["queue"]["failed_jobs"] == len(doomed)

            # More work arrives while the disk is still full; it fails once...
            pending = enqueue(retried)
            wait_for(lambda: all(left is not None and left <= 4
                                 for left in retries_left(pending)), 30, "a failed attempt")
            assert count_rows(db_path) == len(before) and consistent(db_path)
        finally:
            resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, limits)
        freed_at = time.monotonic()

        # ...and its retry succeeds once there is room again: no restart, no operator.
        wait_for(lambda: count_rows(db_path) == len(before) + len(retried), 30,
                 "the pending retries")
        retry_recovered = time.monotonic() - freed_at
        enqueue(after)
        assert rq_requeue_all(redis_url, queue_name).returncode == 0
        everything = before + exhausted + retried + after
        wait_for(lambda: count_rows(db_path) == len(everything)
                 and drained(redis_url, queue_name), 30, "every event")
        assert worker.poll() is None
        final = healthz(settings)

    assert final["queue"] == {"name": queue_name, "depth": 0, "retrying": 0, "failed_jobs": 0}
    assert final["status"] == "ok" and final["writes"] == {"ok": True, "errors": []}
    figures = assert_exactly_once(db_path, everything)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "disk I/O error" in log or "disk is full" in log
    report("disk-full", sent=len(everything), counted=figures["rows"],
           duplicates_ignored=figures["duplicates_ignored"], lost=figures["lost"],
           doubled=figures["doubled"], jobs_exhausted_then_requeued=len(doomed),
           jobs_retried_automatically=len(pending), disk_full_s=round(freed_at - full_at, 1),
           retry_after_space_freed_s=round(retry_recovered, 1),
           healthz_during=during, healthz_after_giving_up=gave_up["queue"])
