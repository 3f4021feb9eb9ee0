"""End to end with real processes: redis-server, `costlog worker`, `costlog emit`."""

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.registry import StartedJobRegistry

from costlog.cli.redis_server import RedisServer
from costlog.domain.models import detect_model
from costlog.store.connection import connect
from costlog.store.write import check_aggregates
from ingest.queue import make_queue
from tests.support.processes import costlog_env, count_rows, jsonl, process, run, wait_for

pytestmark = pytest.mark.e2e

MODELS = ["claude-opus-4-5-20251101", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5", ""]
PHASES = ["spec", "implement", "test", "review"]


def make_events(count: int, prefix: str = "e") -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        events.append({
            "event_id": f"{prefix}-{i}",
            "project_id": f"proj-{i % 3}",
            "task_id": f"T-{i % 17}",
            "phase": PHASES[i % 4],
            "model": MODELS[i % 5],
            "provider": "openai" if MODELS[i % 5] == "gpt-5" else "claude",
            "input_tokens": 1000 + i,
            "output_tokens": 10 * i,
            "cache_read_tokens": i % 7,
            "cost_usd": round(0.013 * (i % 41) + 0.001, 6),
            "initiative_id": f"I-{i % 4}" if i % 5 else "",
            "timestamp": f"2026-11-{1 + i % 19:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
        })
    return events


def assert_counted_once(db_path: Path, events: list[dict[str, Any]]) -> None:
    db = connect(db_path)
    unique = {event["event_id"]: event for event in events}
    rows = db.execute("SELECT event_id, cost_usd FROM cost_log").fetchall()
    assert sorted(event_id for event_id, _ in rows) == sorted(unique)
    expected_total = math.fsum(event["cost_usd"] for event in unique.values())
    assert round(math.fsum(cost for _, cost in rows), 2) == round(expected_total, 2)
    by_family: dict[str, int] = defaultdict(int)
    for event in unique.values():
        by_family[detect_model(event["model"], event["provider"])] += round(
            event["cost_usd"] * 1e9)
    assert dict(db.execute(
        "SELECT model, SUM(cost_nanos) FROM rollup_model_q WHERE project_id = '*' GROUP BY model"
    ).fetchall()) == by_family
    assert list(check_aggregates(db)) == []
    db.close()


def test_emit_worker_exactly_once(tmp_path: Path, redis_url: str, queue_name: str) -> None:
    env = costlog_env(tmp_path, redis_url, queue_name)
    db_path = tmp_path / "costlog.db"
    assert run(env, "migrate").returncode == 0
    events = make_events(500)
    with process(env, "worker", log=tmp_path / "worker.log"):
        first = run(env, "emit", "-", stdin=jsonl(events))
        assert (first.returncode, first.stderr) == (0, "published 500 events, rejected 0\n")
        again = run(env, "emit", "-", stdin=jsonl(events[100:200]))
        assert again.returncode == 0
        wait_for(lambda: count_rows(db_path) == 500, 60, "500 rows")
        # The 100 re-sent events are also processed (as duplicates) before we check.
        wait_for(lambda: _queue_empty(redis_url, queue_name), 30, "the queue to drain")
    assert_counted_once(db_path, events)
    db = connect(db_path)
    counters = dict(db.execute("SELECT name, value FROM costlog_counters").fetchall())
    assert (counters["events_ingested"], counters["duplicates_ignored"]) == (500, 100)
    db.close()


def _queue_empty(redis_url: str, queue_name: str) -> bool:
    connection = redis.Redis.from_url(redis_url)
    try:
        queue = make_queue(queue_name, connection)
        return queue.count == 0 and StartedJobRegistry(queue=queue).count == 0
    finally:
        connection.close()


def test_emit_spools_while_redis_is_down(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        env = costlog_env(tmp_path, server.url, "costlog")
        db_path = tmp_path / "costlog.db"
        assert run(env, "migrate").returncode == 0
        events = make_events(50, prefix="down")
        with process(env, "worker", log=tmp_path / "worker.log"):
            server.stop(kill=True)
            result = run(env, "emit", "-", stdin=jsonl(events))
            assert result.returncode == 0, result.stderr
            assert "50 spooled" in result.stderr
            status = run(env, "spool", "status")
            assert " 50 events " in status.stdout
            assert count_rows(db_path) == 0
            server.start()
            wait_for(lambda: count_rows(db_path) == 50, 90, "the spooled events to arrive")
            wait_for(lambda: " 0 events " in run(env, "spool", "status").stdout, 30,
                     "the spool to empty")
        assert_counted_once(db_path, events)
    finally:
        server.stop()
