"""A slow webhook receiver does not delay cost events.

Real processes: redis-server, `costlog worker` (the events) and `costlog worker --alerts` (the
alert deliveries, on their own queue), and two receivers on loopback: one that trickles its
answer a byte every 3 s (no socket read ever waits long enough to time out) and one that reads
the request and never answers. An event crosses a budget and fires two alerts, one delivery to
each receiver; the events published after it must still be recorded within 2 s each, and each
delivery attempt must end at its 10 s deadline, recorded as timed out.
"""

import sqlite3
import time
from pathlib import Path

import pytest

from costlog import constants
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.orchestrator import set_budget
from ingest.client import Publisher
from tests.conftest import NOW
from tests.support.faults import make_events, report, service, wait_for
from tests.support.processes import costlog_env
from tests.support.receiver import receiver

pytestmark = pytest.mark.e2e

#: A cost event is recorded this soon after it is published, whatever the webhooks do.
RECORD_BOUND_SECONDS = 2.0
#: The probe's receiver: a byte of its answer every 3 s.
TRICKLE_SECONDS = 3.0


def recorded(db_path: Path, event_id: str) -> bool:
    try:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT 1 FROM cost_log WHERE event_id = ?",
                                [event_id]).fetchone() is not None
    except sqlite3.Error:
        return False


def attempts(db_path: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT url, attempts, last_error FROM cost_alert_deliveries"
                            " ORDER BY url").fetchall()


def test_slow_webhooks_never_hold_up_recording(tmp_path: Path, redis_url: str,
                                               queue_name: str) -> None:
    with receiver() as hook:
        hook.paths, hook.delay = {"/trickle": "trickle", "/hang": "hang"}, TRICKLE_SECONDS
        env = costlog_env(tmp_path, redis_url, queue_name) | {
            "COSTLOG_NOW": NOW.isoformat(),  # the events' month
            "COSTLOG_ALERT_WEBHOOKS": f"{hook.url}/trickle,{hook.url}/hang"}
        db_path = tmp_path / "costlog.db"
        db = connect(db_path)
        migrate(db)
        set_budget(db, "proj-0", 1.0, 50)
        db.close()
        publisher = Publisher(redis_url, queue_name, tmp_path / "spool")
        first, *others = make_events(6, "slow-hook")
        first["cost_usd"] = 0.6  # crosses the threshold: one alert, a delivery to each receiver
        with service(env, "worker", log=tmp_path / "worker.log"), \
                service(env, "worker", "--alerts", log=tmp_path / "alerts.log"):
            publisher.publish(first)
            wait_for(lambda: len(hook.received) == 2, 30, "both deliveries to start")
            delays = []
            for event in others:  # while both receivers hold their attempts
                published = time.monotonic()
                publisher.publish(event)
                wait_for(lambda e=event: recorded(db_path, e["event_id"]), 30,
                         f"{event['event_id']} to be recorded", interval=0.02)
                delays.append(time.monotonic() - published)
            attempt_seconds = wait_for(
                lambda: all(row[1] for row in attempts(db_path)), 60,
                "both first attempts to end", state=lambda: attempts(db_path))
            ended = attempts(db_path)
    deadline = f"timed out after {constants.ALERT_ATTEMPT_SECONDS:g} s"
    assert [(url, error) for url, _, error in ended] == [(f"{hook.url}/hang", deadline),
                                                        (f"{hook.url}/trickle", deadline)]
    report("slow webhook", events=len(delays), worst_record_s=round(max(delays), 3),
           attempts_ended_after_s=round(attempt_seconds, 1))
    assert max(delays) <= RECORD_BOUND_SECONDS, delays
