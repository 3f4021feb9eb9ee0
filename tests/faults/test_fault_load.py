"""Heavy reads cannot starve the service: 40 concurrent 10,000-point hourly series.

Over real HTTP to a real ``costlog api`` (loopback, a free port), with the default
COSTLOG_MAX_CONCURRENT_QUERIES (two per core). Each series is a different project / time zone
pair so no two are alike. While they run, /healthz is asked every 50 ms and the API's resident
memory sampled every 20 ms. Bounded: 40 series, and the test gives up after LOAD_SECONDS.

Checked: every series is answered 200 or 503 ``busy: retry shortly`` with Retry-After (never a
500, never a hang); /healthz stays fast (the bound here leaves room for a shared CI machine:
the figures printed are the measurement); memory stays under 200 MB.
Run alone to see the figures: ``pytest -s tests/faults/test_fault_load.py``.
"""

import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest

from costlog.constants import MAX_SERIES_POINTS
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.write import record_events
from tests.conftest import NOW
from tests.support.api import uvicorn_api

pytestmark = pytest.mark.e2e

SERIES = 40
LOAD_SECONDS = 60
#: 10,000 whole hours ending at NOW: the largest hourly series the API serves.
END = NOW - timedelta(hours=1)
START = END - timedelta(hours=MAX_SERIES_POINTS - 1)
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo")
PROJECTS = ("p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9")
MEMORY_LIMIT = 200 * 1024 * 1024
#: /healthz under this load: its median must meet the 100 ms target; its slowest answer gets
#: room for a shared, oversubscribed CI machine (the printed figures are the measurement).
HEALTHZ_MEDIAN_SECONDS = 0.1
HEALTHZ_MAX_SECONDS = 2.0


def seeded(db_path: Path) -> None:
    """One event every 7 hours over the range, for each project: ~14,000 rows."""
    db = connect(db_path)
    migrate(db)
    events = [parse_event({"project_id": project, "task_id": f"T{hour % 50}", "phase": "spec",
                           "model": "claude-sonnet-4-5", "cost_usd": 0.25, "input_tokens": 100,
                           "timestamp": (START + timedelta(hours=hour)).isoformat()}, now=NOW)
              for project in PROJECTS for hour in range(0, MAX_SERIES_POINTS, 7)]
    record_events(db, events, PriceTable())
    db.close()


def test_forty_large_series_leave_healthz_fast_and_memory_bounded(tmp_path: Path) -> None:
    seeded(tmp_path / "costlog.db")
    env = {"COSTLOG_DB": str(tmp_path / "costlog.db"), "COSTLOG_REDIS_URL": "",
           "COSTLOG_SPOOL": str(tmp_path / "spool"), "COSTLOG_API_TOKEN": "",
           "COSTLOG_MAX_CONCURRENT_QUERIES": "", "COSTLOG_NOW": NOW.isoformat()}
    processes: list[subprocess.Popen] = []
    with uvicorn_api(env, tmp_path / "api.log", process_out=processes) as base:
        api = psutil.Process(processes[0].pid)
        idle_rss = api.memory_info().rss
        peak_rss = idle_rss
        healthz: list[float] = []
        done = threading.Event()

        def watch_memory() -> None:
            nonlocal peak_rss
            while not done.is_set():
                peak_rss = max(peak_rss, api.memory_info().rss)
                time.sleep(0.02)

        def watch_health() -> None:
            with httpx.Client(timeout=LOAD_SECONDS) as client:
                while not done.is_set():
                    started = time.perf_counter()
                    assert client.get(f"{base}/healthz").status_code == 200
                    healthz.append(time.perf_counter() - started)
                    time.sleep(0.05)

        def series(number: int) -> tuple[int, float, httpx.Response]:
            params = {"granularity": "hour", "start": START.isoformat(),
                      "end": END.isoformat(), "project": PROJECTS[number % len(PROJECTS)],
                      "tz": ZONES[number % len(ZONES)]}
            started = time.perf_counter()
            response = httpx.get(f"{base}/api/cost/timeseries", params=params,
                                 timeout=LOAD_SECONDS)
            return number, time.perf_counter() - started, response

        watchers = [threading.Thread(target=watch_memory), threading.Thread(target=watch_health)]
        for watcher in watchers:
            watcher.start()
        try:
            time.sleep(0.3)  # a few /healthz answers before the load
            wall = time.perf_counter()
            with ThreadPoolExecutor(SERIES) as pool:
                results = list(pool.map(series, range(SERIES)))
            wall = time.perf_counter() - wall
        finally:
            done.set()
            for watcher in watchers:
                watcher.join()

    latencies = sorted(seconds for _, seconds, _ in results)
    statuses = [response.status_code for _, _, response in results]
    print(f"\n{SERIES} concurrent {MAX_SERIES_POINTS}-point hourly series in {wall:.1f} s:"
          f" {statuses.count(200)} answered 200, {statuses.count(503)} 503 busy;"
          f" latency p50 {statistics.median(latencies):.2f} s, max {latencies[-1]:.2f} s;"
          f" /healthz p50 {statistics.median(healthz) * 1000:.0f} ms,"
          f" p90 {statistics.quantiles(healthz, n=10)[-1] * 1000:.0f} ms,"
          f" max {max(healthz) * 1000:.0f} ms ({len(healthz)} probes);"
          f" API RSS {idle_rss / 2**20:.0f} MB idle, {peak_rss / 2**20:.0f} MB peak")
    for number, _, response in results:
        if response.status_code == 200:
            assert len(response.json()["series"]) == MAX_SERIES_POINTS, number
        else:
            assert (response.status_code, response.json(), response.headers["retry-after"]) == (
                503, {"error": "busy: retry shortly"}, "1"), number
    assert statuses.count(200) > 0
    assert statistics.median(healthz) < HEALTHZ_MEDIAN_SECONDS
    assert max(healthz) < HEALTHZ_MAX_SECONDS
    assert peak_rss < MEMORY_LIMIT
