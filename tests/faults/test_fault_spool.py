"""Fault 3: Redis down; the spool takes the events, survives crashes and torn writes.

- Redis down while an executor publishes: every event goes to the spool, ``publish`` neither
  raises nor waits; when Redis is back the running worker replays the spool by itself.
- The publishing process crashes (SIGKILL) right after its spool writes; a power cut tears the
  last line of the spool; another process appends after the torn line; a replaying process
  crashes half-way through its replay. Nothing acknowledged is lost, nothing is counted twice,
  and the torn line is set aside in ``rejected.txt`` for a human.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from costlog.cli.redis_server import RedisServer
from ingest.client import Publisher
from ingest.spool import ACTIVE_NAME, CLAIM_PREFIX, REJECTED_NAME, Spool
from tests.support.faults import (
    FAULT_EVENTS,
    assert_exactly_once,
    count_rows,
    latency_ms,
    make_events,
    queue_state,
    report,
    service,
    wait_for,
)
from tests.support.processes import costlog_env, run

pytestmark = pytest.mark.e2e


def test_spooled_events_are_replayed_when_redis_returns(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        env = costlog_env(tmp_path, server.url, "costlog")
        db_path, spool = tmp_path / "costlog.db", tmp_path / "spool"
        assert run(env, "migrate").returncode == 0
        events = make_events(FAULT_EVENTS, prefix="down")
        publisher = Publisher(server.url, "costlog", spool)

        with service(env, "worker", log=tmp_path / "worker.log") as worker:
            server.stop()
            durations = []
            for start in range(0, len(events), 50):
                began = time.monotonic()
                publisher.publish_many(events[start:start + 50])  # must not raise
                durations.append(time.monotonic() - began)
            assert Spool(spool).status().events == len(events)
            time.sleep(2)  # the worker keeps waiting for Redis meanwhile
            assert worker.poll() is None
            server.start()
            up_at = time.monotonic()
            # No more publishing: the worker's own replay (every 5 s) brings them in.
            wait_for(lambda: count_rows(db_path) == len(events), 60, "the spool to be replayed",
                     state=lambda: (count_rows(db_path), Spool(spool).status()))
            recovered = time.monotonic() - up_at
            wait_for(lambda: not Spool(spool).has_pending(), 30, "the spool to empty")

        figures = assert_exactly_once(db_path, events)
        assert queue_state(server.url, "costlog")["failed"] == 0
        report("redis-down-spool-replay", sent=len(events), spooled=len(events),
               counted=figures["rows"], duplicates_ignored=figures["duplicates_ignored"],
               lost=figures["lost"], doubled=figures["doubled"],
               publish_call_ms=latency_ms(durations),
               all_counted_after_redis_up_s=round(recovered, 1))
    finally:
        server.stop()


PUBLISH_THEN_CRASH = """
import json, os, signal, sys
from pathlib import Path
from ingest.client import Publisher
url, spool, events = sys.argv[1], Path(sys.argv[2]), json.load(open(sys.argv[3]))
publisher = Publisher(url, "costlog", spool)
for start in range(0, len(events), 50):
    publisher.publish_many(events[start:start + 50])
print("published", len(events), "spooled", publisher.spool.status().events, flush=True)
if sys.argv[4] == "crash":
    os.kill(os.getpid(), signal.SIGKILL)  # no exit handlers, no replay: a crash
"""

REPLAY_THEN_CRASH = """
import os, signal, sys
from pathlib import Path
from ingest.queue import enqueue_events, make_queue
from ingest.redis_conn import connect
from ingest.spool import Spool
queue = make_queue("costlog", connect(sys.argv[1]))
batches = []
def send(events):
    if batches:
        os.kill(os.getpid(), signal.SIGKILL)  # dies half-way through its replay
    enqueue_events(queue, events)
    batches.append(len(events))
    print("sent", len(events), flush=True)
Spool(Path(sys.argv[2])).replay(send, batch=100)
"""


def python(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          timeout=60)


def test_spool_survives_crashes_and_a_torn_last_line(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        env = costlog_env(tmp_path, server.url, "costlog")
        db_path, spool = tmp_path / "costlog.db", tmp_path / "spool"
        assert run(env, "migrate").returncode == 0
        events = make_events(FAULT_EVENTS, prefix="crash")
        first, second = events[: len(events) // 2], events[len(events) // 2:]
        server.stop()  # Redis is down for the whole first part

        # 1. A publisher spools its events and is SIGKILLed before any replay.
        (tmp_path / "first.json").write_text(json.dumps(first))
        crashed = python(PUBLISH_THEN_CRASH, server.url, str(spool),
                         str(tmp_path / "first.json"), "crash")
        assert crashed.returncode == -9, crashed.stderr
        assert f"spooled {len(first)}" in crashed.stdout

        # 2. A power cut tore the next append: half a line, never acknowledged.
        torn = json.dumps(make_events(1, prefix="torn")[0])[:40]
        with (spool / ACTIVE_NAME).open("ab") as handle:
            handle.write(torn.encode())

        # 3. Another publisher appends after the torn line (it must start a new line).
        (tmp_path / "second.json").write_text(json.dumps(second))
        appended = python(PUBLISH_THEN_CRASH, server.url, str(spool),
                          str(tmp_path / "second.json"), "exit")
        assert appended.returncode == 0, appended.stderr
        assert Spool(spool).status().events == len(events) + 1  # the torn line too

        # 4. Redis is back; a replayer sends one batch of 100, then is SIGKILLed.
        server.start()
        replayer = python(REPLAY_THEN_CRASH, server.url, str(spool))
        assert replayer.returncode == -9, replayer.stderr
        assert replayer.stdout == "sent 100\n"
        assert any(p.name.startswith(CLAIM_PREFIX) for p in spool.iterdir())

        # 5. The worker replays what is left on its own and records everything once.
        started = time.monotonic()
        with service(env, "worker", log=tmp_path / "worker.log"):
            wait_for(lambda: count_rows(db_path) == len(events)
                     and not Spool(spool).has_pending(), 60, "the spool to be replayed",
                     state=lambda: (count_rows(db_path), Spool(spool).status()))
            wait_for(lambda: queue_state(server.url, "costlog")["queued"] == 0, 30,
                     "the queue to drain")
            recovered = time.monotonic() - started

        figures = assert_exactly_once(db_path, events)
        assert Spool(spool).status().rejected == 1
        assert (spool / REJECTED_NAME).read_text() == torn + "\n"
        # The first 100 were sent by the crashed replayer and again by the worker.
        assert figures["duplicates_ignored"] == 100
        status = run(env, "spool", "status")
        assert " 0 events " in status.stdout
        report("spool-crashes-torn-line", sent=len(events), counted=figures["rows"],
               duplicates_ignored=figures["duplicates_ignored"], lost=figures["lost"],
               doubled=figures["doubled"], torn_lines_set_aside=1,
               all_counted_after_worker_start_s=round(recovered, 1))
    finally:
        server.stop()
