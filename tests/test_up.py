"""`costlog up --demo` as a new user runs it: its own Redis, worker and API; Ctrl-C stops all."""

import json
import math
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import psutil
import pytest

from costlog.demo import demo_events
from costlog.redis_server import free_port
from ingest.event import parse_event
from ingest.pricing import PriceTable, cost_of
from tests.conftest import NOW
from tests.e2e import COSTLOG, count_rows, wait_for

pytestmark = pytest.mark.e2e


def breakdown_total(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/cost/breakdown",
                                    timeout=2) as response:
            return json.loads(response.read())["total_cost_usd"]
    except OSError:
        return None


def run_up(tmp_path: Path, port: int, log_name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTLOG_")}
    env |= {"COSTLOG_DB": str(tmp_path / "data" / "costlog.db"), "COSTLOG_NOW": NOW.isoformat()}
    log = (tmp_path / log_name).open("w")
    proc = subprocess.Popen([COSTLOG, "up", "--demo", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    return proc


def stop(proc: subprocess.Popen) -> list[psutil.Process]:
    """SIGINT, as Ctrl-C does; returns the children it had, to check they are gone."""
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return children


def test_up_demo_serves_the_demo_month_and_stops_cleanly(tmp_path: Path) -> None:
    prices = PriceTable()
    events = [parse_event(raw, now=NOW) for raw in demo_events(NOW)]
    expected = math.fsum(cost_of(event, prices)[0] for event in events)
    port = free_port()
    proc = run_up(tmp_path, port, "up1.log")
    try:
        wait_for(lambda: breakdown_total(port) is not None, 60, "the API")
        wait_for(lambda: breakdown_total(port) == pytest.approx(expected, abs=1e-6), 60,
                 f"the breakdown total to reach {expected}")
        children = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Redis, the worker and the API were started and none is left behind.
    assert len(children) >= 3
    assert [child.pid for child in children if child.is_running()
            and child.status() != psutil.STATUS_ZOMBIE] == []
    assert count_rows(tmp_path / "data" / "costlog.db") == len(events)

    # Again on the same data: the demo events' ids are fixed, nothing is counted twice.
    proc = run_up(tmp_path, port, "up2.log")
    try:
        wait_for(lambda: "costlog is up" in (tmp_path / "up2.log").read_text(), 60, "up")
        stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert count_rows(tmp_path / "data" / "costlog.db") == len(events)
    assert breakdown_total(port) is None  # the API is gone
