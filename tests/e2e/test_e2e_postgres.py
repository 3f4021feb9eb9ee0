"""Several hosts' worth of processes on one PostgreSQL: two workers, two API replicas."""

import math
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from costlog.cli.redis_server import free_port
from tests.conftest import NOW
from tests.e2e.test_e2e_api import expected_rows, get, make_events, sums
from tests.support.faults import count_rows
from tests.support.processes import costlog_env, jsonl, process, run, wait_for

pytestmark = pytest.mark.e2e

READS = ("/api/cost/breakdown?by=model", "/api/cost/breakdown?by=task&period=30d&limit=5",
         "/api/cost/breakdown?by=initiative&period=7d",
         "/api/cost/timeseries?granularity=hour&start=2026-11-18&end=2026-11-20&tz=Asia/Kolkata",
         "/api/cost/timeseries?granularity=week&start=2026-09-01&end=2026-11-20",
         "/api/cost/budget?project=proj-1&tz=America/New_York", "/api/initiatives/I-2/cost")


def body(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        assert response.status == 200, path
        return response.read()


def test_two_workers_and_two_api_replicas_share_one_database(
        tmp_path: Path, redis_url: str, queue_name: str, postgres_url: str) -> None:
    env = costlog_env(tmp_path, redis_url, queue_name) | {
        "COSTLOG_DB": postgres_url, "COSTLOG_NOW": NOW.isoformat()}
    events = make_events(200)
    ports = [free_port(), free_port()]
    assert run(env, "migrate").returncode == 0
    with ExitStack() as stack:
        for number in range(2):
            stack.enter_context(process(env, "worker", log=tmp_path / f"worker-{number}.log"))
        for port in ports:
            stack.enter_context(process(env, "api", "--port", str(port),
                                        log=tmp_path / f"api-{port}.log"))
        for port in ports:
            wait_for(lambda port=port: get(port, "/healthz")[0] == 200, 30, f"the API on {port}")
        emitted = run(env, "emit", "-", stdin=jsonl(events[:120] + events[:40]))
        assert emitted.returncode == 0, emitted.stderr
        status, accepted = get(ports[1], "/api/cost/events", events[100:], method="POST")
        assert (status, accepted["accepted"]) == (202, 100)
        wait_for(lambda: count_rows(postgres_url) == 200, 60, "200 rows")
        wait_for(lambda: all(b"costlog_events_ingested_total 200" in body(port, "/metrics")
                             for port in ports), 30, "both replicas to count 200 events")

        # The replicas answer alike, byte for byte, and right.
        for path in READS:
            assert body(ports[0], path) == body(ports[1], path), path
        status, by_model = get(ports[0], "/api/cost/breakdown?by=model")
        expected = sums(expected_rows(events), lambda r: r["model"])
        assert {key: entry["cost"] for key, entry in by_model["breakdown"].items()} == \
            pytest.approx(expected, abs=1e-8)
        assert by_model["total_cost_usd"] == pytest.approx(math.fsum(expected.values()),
                                                           abs=1e-8)
        # A budget written through one replica is read through the other.
        assert get(ports[0], "/api/cost/budget?project=proj-0", {"monthly_limit_usd": 7.5},
                   method="PUT")[0] == 200
        assert get(ports[1], "/api/cost/budget?project=proj-0")[1]["monthly_limit_usd"] == 7.5
    check = run(env, "aggregates", "check")
    assert (check.returncode, check.stderr) == (0, "no drift\n")
