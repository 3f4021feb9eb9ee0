"""End to end: redis-server, `costlog worker`, `costlog api` and a webhook receiver on loopback.
A hard budget is crossed: the threshold and exceeded alerts arrive once each, signed, and the
budget gate closes."""

import hashlib
import hmac
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from costlog.cli.redis_server import free_port
from ingest.gate import Gate
from ingest.redis_conn import connect
from tests.conftest import NOW
from tests.support.processes import costlog_env, count_rows, jsonl, process, run, wait_for
from tests.support.receiver import receiver

pytestmark = pytest.mark.e2e
SECRET = "e2e-signing-secret"


def call(port: int, path: str, body: Any = None, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def spend(event_id: str, cost: float) -> dict[str, Any]:
    return {"event_id": event_id, "project_id": "webapp", "task_id": "T-1", "phase": "implement",
            "model": "claude-sonnet-4-5", "cost_usd": cost, "timestamp": "2026-11-20T09:00:00Z"}


def test_alerts_arrive_once_signed_and_the_gate_closes(tmp_path: Path, redis_url: str,
                                                       queue_name: str) -> None:
    with receiver() as hook:
        env = costlog_env(tmp_path, redis_url, queue_name) | {
            "COSTLOG_NOW": NOW.isoformat(), "COSTLOG_ALERT_SECRET": SECRET,
            "COSTLOG_ALERT_WEBHOOKS": f"{hook.url}/slack?token=abc"}
        port = free_port()
        assert run(env, "migrate").returncode == 0
        with process(env, "worker", log=tmp_path / "worker.log"), \
                process(env, "worker", "--alerts", log=tmp_path / "alerts.log"), \
                process(env, "api", "--port", str(port), log=tmp_path / "api.log"):
            wait_for(lambda: _up(port), 30, "the API")
            status, body = call(port, "/api/cost/budget?project=webapp",
                                {"monthly_limit_usd": 10, "hard_limit": True}, "PUT")
            assert (status, body["hard_limit"], body["timezone"]) == (200, True, "UTC")

            assert run(env, "emit", "-", stdin=jsonl([spend("a", 5.0), spend("b", 3.5)])
                       ).returncode == 0
            wait_for(lambda: len(hook.received) == 1, 30, "the threshold alert")
            assert run(env, "emit", "-", stdin=jsonl([spend("c", 2.0)])).returncode == 0
            wait_for(lambda: len(hook.received) == 2, 30, "the exceeded alert")
            # The same events again: counted once, alerted once.
            assert run(env, "emit", "-", stdin=jsonl([spend("a", 5.0), spend("c", 2.0)])
                       ).returncode == 0
            gate = Gate(connect(redis_url, fail_fast=True), queue_name)
            reason = "budget exceeded: $10.50 spent of $10.00 limit for November 2026"
            wait_for(lambda: gate.allows("webapp") == (False, reason), 30, "the gate")
            assert call(port, "/api/cost/budget/check?project=webapp")[1]["allowed"] is False
            time.sleep(1)  # time for a wrong third delivery to show up
            assert count_rows(tmp_path / "costlog.db") == 3
            _, listed = call(port, "/api/cost/alerts?project=webapp")
        log = (tmp_path / "worker.log").read_text() + (tmp_path / "alerts.log").read_text()
    assert [(r.headers["X-Costlog-Event"], json.loads(r.body)["id"]) for r in hook.received] == [
        ("budget.threshold", "budget.threshold:webapp:2026-11"),
        ("budget.exceeded", "budget.exceeded:webapp:2026-11")]
    for received in hook.received:
        expected = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
        assert received.headers["X-Costlog-Signature"] == f"sha256={expected}"
    assert [(a["type"], [(d["url"], d["status"]) for d in a["deliveries"]])
            for a in listed["alerts"]] == [
        ("budget.exceeded", [(f"{hook.url}/slack", "delivered")]),
        ("budget.threshold", [(f"{hook.url}/slack", "delivered")])]
    assert "token=abc" not in log and SECRET not in log


def _up(port: int) -> bool:
    try:
        return call(port, "/healthz")[0] == 200
    except OSError:
        return False
