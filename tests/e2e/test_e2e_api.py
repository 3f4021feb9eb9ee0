"""End to end over real HTTP: redis-server, `costlog worker`, `costlog api`, `costlog emit`."""

import json
import math
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from costlog.cli.redis_server import free_port
from costlog.domain.event import parse_event
from costlog.domain.models import detect_model
from costlog.domain.pricing import PriceTable, price_event
from tests.conftest import NOW
from tests.support.processes import costlog_env, count_rows, jsonl, process, run, wait_for

pytestmark = pytest.mark.e2e

MODELS = ["claude-opus-4-5-20251101", "claude-sonnet-4-5", "claude-3-haiku-20240307", ""]
PHASES = ["spec", "implement", "test", "review"]


def make_events(count: int) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        at = NOW - timedelta(hours=7 * i + (i % 5) * 0.25)  # spread over ~58 days
        event = {
            "event_id": f"api-{i}", "project_id": f"proj-{i % 2}", "task_id": f"T-{i % 9}",
            "phase": PHASES[i % 4], "model": MODELS[i % 4], "input_tokens": 2000 + 13 * i,
            "output_tokens": 300 + i, "cache_read_tokens": 50 * (i % 3),
            "initiative_id": f"I-{i % 3}" if i % 4 else "",
            "timestamp": at.isoformat().replace("+00:00", "Z"),
        }
        if i % 6:
            event["cost_usd"] = round(0.01 * (i % 23) + 0.002, 6)
        events.append(event)
    return events


def expected_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prices = PriceTable()
    rows = []
    for raw in events:
        event = parse_event(raw, now=NOW)
        rows.append({"project": event.project_id, "task": event.task_id, "phase": event.phase,
                     "model": detect_model(event.model, event.provider),
                     "initiative": event.initiative_id, "at": event.timestamp,
                     "cost": price_event(event, prices).cost_usd, "tokens": event.total_tokens})
    return rows


def get(port: int, path: str, body: Any = None, method: str = "GET") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except (urllib.error.URLError, ConnectionError):
        return 0, None


def sums(rows: list[dict[str, Any]], key) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        k = key(row)
        if k is not None:
            totals[k] += row["cost"]
    return totals


def assert_costs(actual: dict[str, Any], expected: dict[str, float]) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert actual[key]["cost"] == pytest.approx(value, abs=1e-8), key


def test_every_endpoint_over_http(tmp_path: Path, redis_url: str, queue_name: str) -> None:
    env = costlog_env(tmp_path, redis_url, queue_name) | {"COSTLOG_NOW": NOW.isoformat()}
    port = free_port()
    events = make_events(200)
    assert run(env, "migrate").returncode == 0
    with process(env, "worker", log=tmp_path / "worker.log"), \
            process(env, "api", "--port", str(port), log=tmp_path / "api.log"):
        wait_for(lambda: get(port, "/healthz")[0] == 200, 30, "the API")
        emitted = run(env, "emit", "-", stdin=jsonl(events[:150]))
        assert emitted.returncode == 0, emitted.stderr
        status, body = get(port, "/api/cost/events", events[150:], method="POST")
        assert (status, body["accepted"], body["rejected"]) == (202, 50, [])
        assert body["ids"] == [f"api-{i}" for i in range(150, 200)]
        wait_for(lambda: count_rows(tmp_path / "costlog.db") == 200, 60, "200 rows")

        rows = expected_rows(events)
        for period, span in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
                             ("30d", timedelta(days=30)), ("all", None)):
            window = [r for r in rows if span is None or r["at"] >= NOW - span]
            for by, key in (("model", lambda r: r["model"]), ("phase", lambda r: r["phase"]),
                            ("task", lambda r: f"{r['project']}/{r['task']}"),
                            ("initiative", lambda r: r["initiative"] or None)):
                status, body = get(port, f"/api/cost/breakdown?by={by}&period={period}")
                assert status == 200
                expected = sums(window, key)
                assert_costs(body["breakdown"], expected)
                assert body["total_cost_usd"] == pytest.approx(math.fsum(expected.values()),
                                                               abs=1e-8)
        status, body = get(port, "/api/cost/breakdown?by=task&project=proj-1&limit=2")
        by_task = sums([r for r in rows if r["project"] == "proj-1"], lambda r: r["task"])
        top = sorted(by_task.items(), key=lambda kv: -kv[1])
        assert list(body["breakdown"]) == [task for task, _ in top[:2]]
        assert body["other"]["count"] == len(top) - 2

        ny = ZoneInfo("America/New_York")
        status, body = get(port, "/api/cost/timeseries?granularity=day&start=2026-10-25"
                                 "&end=2026-11-05&tz=America/New_York")
        assert status == 200
        per_day = sums(rows, lambda r: r["at"].astimezone(ny).date().isoformat())
        assert [p["date"] for p in body["series"]] == [
            f"2026-{d.month:02d}-{d.day:02d}" for d in
            (datetime(2026, 10, 25) + timedelta(days=n) for n in range(12))]
        for point in body["series"]:
            assert point["cost"] == pytest.approx(per_day.get(point["date"], 0.0), abs=1e-8)

        status, body = get(port, "/api/cost/budget", {"monthly_limit_usd": 10},
                           method="PUT")
        november = math.fsum(r["cost"] for r in rows if r["at"] >= datetime(2026, 11, 1,
                                                                             tzinfo=NOW.tzinfo))
        assert status == 200
        assert body["current_spent_usd"] == pytest.approx(november, abs=1e-8)
        assert (body["monthly_limit_usd"], body["month"]) == (10.0, "2026-11")
        assert get(port, "/api/cost/budget")[1] == body

        status, body = get(port, "/api/initiatives/I-1/cost")
        initiative = [r for r in rows if r["initiative"] == "I-1"]
        assert status == 200
        assert body["total_cost_usd"] == pytest.approx(math.fsum(r["cost"] for r in initiative),
                                                       abs=1e-8)
        assert body["total_tokens"] == sum(r["tokens"] for r in initiative)
        assert get(port, "/api/initiatives/nope/cost") == (404, {"error": "initiative not found"})

        status, metrics = 0, ""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            status, metrics = response.status, response.read().decode()
        assert status == 200
        assert "costlog_events_ingested_total 200" in metrics
