"""Fault 5: four workers and a running `costlog import` write one database at once.

Every writer takes the write lock up front (SQLite: BEGIN IMMEDIATE with a busy timeout longer
than any write transaction; PostgreSQL: one advisory lock), so contention must only slow
writers down: no `database is locked` in any log or in the failed registry, every event counted
once (a fifth of them reach the database by both routes at the same time; or every event is
delivered three times), and `costlog aggregates check` clean afterwards. Both back ends.
"""

import random
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from ingest.client import Publisher
from tests.support.faults import (
    FAULT_EVENTS,
    assert_exactly_once,
    count_rows,
    drained,
    jsonl,
    make_events,
    queue_state,
    report,
    service,
    store_of,
    wait_for,
)
from tests.support.processes import COSTLOG, costlog_env, run

pytestmark = pytest.mark.e2e

WORKERS = 4
DELIVERIES = 3


def test_four_workers_and_an_import_share_one_database(tmp_path: Path, redis_url: str,
                                                       queue_name: str, store_target: str) -> None:
    env = costlog_env(tmp_path, redis_url, queue_name) | {"COSTLOG_DB": store_target}
    db_path = store_of(store_target)
    assert run(env, "migrate").returncode == 0
    queued = make_events(FAULT_EVENTS, prefix="queued")
    overlap = queued[: FAULT_EVENTS // 5]  # these also arrive through the import
    imported = make_events(FAULT_EVENTS, prefix="imported") + overlap
    (tmp_path / "backfill.jsonl").write_text(jsonl(imported))
    publisher = Publisher(redis_url, queue_name, tmp_path / "spool")

    def publish() -> None:
        for start in range(0, len(queued), 20):
            publisher.publish_many(queued[start:start + 20])

    started = time.monotonic()
    with ExitStack() as stack:
        for number in range(WORKERS):
            stack.enter_context(service(env, "worker", log=tmp_path / f"worker-{number}.log"))
        stream = threading.Thread(target=publish, name="publisher")
        stream.start()
        # Small chunks: many short transactions interleaved with the workers' jobs.
        with (tmp_path / "import.log").open("w") as log:
            importer = subprocess.run([COSTLOG, "import", str(tmp_path / "backfill.jsonl"),
                                       "--chunk", "100"], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=120)
        stream.join(60)
        assert importer.returncode == 0, (tmp_path / "import.log").read_text()
        expected = queued + imported[: FAULT_EVENTS]
        wait_for(lambda: count_rows(db_path) == len(expected)
                 and drained(redis_url, queue_name), 90, "every event from every writer",
                 state=lambda: (count_rows(db_path), queue_state(redis_url, queue_name)))
        elapsed = time.monotonic() - started

    state = queue_state(redis_url, queue_name)
    assert state["failed"] == 0 and state["scheduled"] == 0
    logs = [path.read_text(errors="replace") for path in sorted(tmp_path.glob("*.log"))]
    assert not [log for log in logs if "database is locked" in log or "OperationalError" in log]
    import_summary = (tmp_path / "import.log").read_text().strip().splitlines()[-1]
    check = run(env, "aggregates", "check")
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "no drift\n")
    figures = assert_exactly_once(db_path, expected)
    report("concurrent-writers", store="postgresql" if isinstance(db_path, str) else "sqlite",
           workers=WORKERS, sent_via_queue=len(queued),
           sent_via_import=len(imported), distinct=len(expected), counted=figures["rows"],
           duplicates_ignored=figures["duplicates_ignored"], lost=figures["lost"],
           doubled=figures["doubled"], failed_jobs=state["failed"],
           import_summary=import_summary, seconds=round(elapsed, 1))


def test_four_workers_every_event_delivered_three_times(tmp_path: Path, redis_url: str,
                                                        queue_name: str,
                                                        store_target: str) -> None:
    env = costlog_env(tmp_path, redis_url, queue_name) | {"COSTLOG_DB": store_target}
    target = store_of(store_target)
    assert run(env, "migrate").returncode == 0
    events = make_events(FAULT_EVENTS, prefix="thrice")
    publisher = Publisher(redis_url, queue_name, tmp_path / "spool")
    rng = random.Random(3)
    # Each delivery in its own order and job sizes: the copies of an event land in different
    # jobs that the four workers run at the same time.
    batches = []
    for _ in range(DELIVERIES):
        order = rng.sample(events, len(events))
        start = 0
        while start < len(order):
            size = rng.choice((1, 5, 20))
            batches.append(order[start:start + size])
            start += size
    rng.shuffle(batches)
    with ExitStack() as stack:
        for number in range(WORKERS):
            stack.enter_context(service(env, "worker", log=tmp_path / f"worker-{number}.log"))
        for batch in batches:
            publisher.publish_many(batch)
        wait_for(lambda: drained(redis_url, queue_name) and count_rows(target) == len(events),
                 120, "every delivery handled",
                 state=lambda: (count_rows(target), queue_state(redis_url, queue_name)))
    state = queue_state(redis_url, queue_name)
    assert state["failed"] == 0 and state["scheduled"] == 0
    logs = [path.read_text(errors="replace") for path in sorted(tmp_path.glob("*.log"))]
    assert not [log for log in logs if "Traceback" in log or "deadlock" in log]
    check = run(env, "aggregates", "check")
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "no drift\n")
    figures = assert_exactly_once(target, events)
    # At least: a publish that timed out on a busy Redis is spooled and sent once more.
    assert figures["duplicates_ignored"] >= (DELIVERIES - 1) * len(events)
