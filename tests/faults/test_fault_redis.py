"""Faults 2 and 3: Redis restarted or down while events are published and consumed.

A publisher thread streams events through ``Publisher.publish_many`` (the executor's client,
fail-fast, spooling while Redis is unavailable) into a real ``costlog worker``; Redis is
restarted under them (AOF on), or kept down for a while. ``publish`` must never raise and
must return quickly; every event must be counted once.
"""

import signal
import threading
import time
from pathlib import Path

import pytest

from costlog.cli.redis_server import RedisServer
from ingest.client import Publisher
from ingest.spool import Spool
from tests.support.faults import (
    FAULT_EVENTS,
    assert_exactly_once,
    count_rows,
    drained,
    latency_ms,
    make_events,
    queue_state,
    report,
    service,
    store_of,
    wait_for,
)
from tests.support.processes import costlog_env, run

pytestmark = pytest.mark.e2e

CHUNK = 10  # events per publish_many call (one job)


class Stream(threading.Thread):
    """Publishes ``events`` CHUNK at a time; records errors and call durations."""

    def __init__(self, publisher: Publisher, events: list[dict], pause: float) -> None:
        super().__init__(name="publisher", daemon=True)
        self.publisher, self.events, self.pause = publisher, events, pause
        self.published = 0
        self.errors: list[BaseException] = []
        self.durations: list[float] = []

    def run(self) -> None:
        for start in range(0, len(self.events), CHUNK):
            began = time.monotonic()
            try:
                self.publisher.publish_many(self.events[start:start + CHUNK])
            except BaseException as error:  # noqa: BLE001 - the test asserts there are none
                self.errors.append(error)
            self.durations.append(time.monotonic() - began)
            self.published += CHUNK
            time.sleep(self.pause)


def settled(db_path: Path, events: list[dict], spool: Path, url: str) -> bool:
    """Every event counted, nothing waiting in the queue or the spool."""
    state = queue_state(url, "costlog")
    return (count_rows(db_path) == len(events) and state["queued"] == 0
            and not Spool(spool).has_pending())


@pytest.mark.parametrize(("how", "until_drained"), [
    pytest.param("sigterm", False, id="sigterm"),
    pytest.param("sigkill", False, id="sigkill"),
    # Also wait for the jobs Redis lost track of mid-run (~65-80 s): re-run, all duplicates.
    pytest.param("sigterm", True, id="sigterm-drained", marks=pytest.mark.slow),
])
def test_redis_restart_mid_stream_loses_and_doubles_nothing(tmp_path: Path, how: str,
                                                            until_drained: bool,
                                                            store_target: str) -> None:
    """On both back ends."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        env = costlog_env(tmp_path, server.url, "costlog") | {"COSTLOG_DB": store_target}
        db_path, spool = store_of(store_target), tmp_path / "spool"
        assert run(env, "migrate").returncode == 0
        events = make_events(FAULT_EVENTS, prefix=f"restart-{how}")
        publisher = Publisher(server.url, "costlog", spool)
        stream = Stream(publisher, events, pause=0.004)

        with service(env, "worker", log=tmp_path / "worker.log") as worker:
            stream.start()
            wait_for(lambda: stream.published >= len(events) // 3 and count_rows(db_path) > 0,
                     60, "a third of the stream, and the worker consuming it")
            # The restart: the same port and data directory, the AOF replayed on start.
            server.process.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
            server.process.wait(10)
            down_at = time.monotonic()
            time.sleep(1.0)
            server.start()
            up_at = time.monotonic()
            stream.join(120)
            assert not stream.is_alive()
            wait_for(lambda: settled(db_path, events, spool, server.url), 120,
                     "every event to be counted",
                     state=lambda: (count_rows(db_path), queue_state(server.url, "costlog")))
            recovered = time.monotonic() - up_at
            leftover = queue_state(server.url, "costlog")
            drained_after = None
            if until_drained:
                wait_for(lambda: drained(server.url, "costlog"), 150, "the queue to drain",
                         interval=0.5)
                drained_after = round(time.monotonic() - up_at, 1)
            assert worker.poll() is None, "the worker exited"
            failed = queue_state(server.url, "costlog")["failed"]

        assert stream.errors == []
        figures = assert_exactly_once(db_path, events)
        assert failed == 0
        report(f"redis-restart-{how}" + ("-drained" if until_drained else ""),
               sent=len(events), counted=figures["rows"],
               duplicates_ignored=figures["duplicates_ignored"], lost=figures["lost"],
               doubled=figures["doubled"], publish_raised=len(stream.errors),
               publish_call_ms=latency_ms(stream.durations),
               redis_down_s=round(up_at - down_at, 1),
               all_counted_after_restart_s=round(recovered, 1),
               jobs_left_started=leftover["started"], all_jobs_done_after_restart_s=drained_after)
    finally:
        server.stop()
