"""The API's alert side with a real redis-server and a real receiver on loopback: a PUT that
fires, the budget check from the gate's state, and the test send."""

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from rq.job import Job
from starlette.testclient import TestClient

from costlog import constants
from ingest.queue import alerts_queue_name, make_queue
from ingest.redis_conn import connect
from tests.support.api import client_for, seed, settings_for
from tests.support.receiver import Receiver, receiver

SECRET = "another-secret"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def client(db: sqlite_utils.Database, db_path: Path, tmp_path: Path, redis_url: str,
           queue_name: str, hook: Receiver):
    seed(db)
    settings = settings_for(db_path, tmp_path, redis_url=redis_url, queue_name=queue_name,
                            alert_webhooks=(f"{hook.url}/a?key=x", f"{hook.url}/b"),
                            alert_secret=SECRET)
    with client_for(settings) as test_client:
        yield test_client


def test_put_below_the_spend_fires_enqueues_and_closes_the_gate(
        client: TestClient, redis_url: str, queue_name: str, hook: Receiver) -> None:
    check = client.get("/api/cost/budget/check", params={"project": "beta"}).json()
    assert (check["allowed"], check["budgets"]) == (True, [])
    response = client.put("/api/cost/budget", params={"project": "beta"},
                          json={"monthly_limit_usd": 2.0, "hard_limit": True})
    assert response.json()["over_budget"] is True
    # Both alerts' deliveries (two webhooks each) are on the alerts queue, by webhook key only;
    # none on the events' queue, where a slow receiver would hold up recording.
    assert make_queue(queue_name, connect(redis_url)).count == 0
    queue = make_queue(alerts_queue_name(queue_name), connect(redis_url))
    assert queue.name == f"{queue_name}-alerts"
    jobs = [Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
            for job_id in queue.get_job_ids()]
    assert sorted(job.args[0] for job in jobs) == [
        "budget.exceeded:beta:2026-11"] * 2 + ["budget.threshold:beta:2026-11"] * 2
    assert {job.func_name for job in jobs} == {constants.DELIVER_FUNCTION}
    assert all("key=x" not in (job.description or "") for job in jobs)
    alerts = client.get("/api/cost/alerts", params={"project": "beta"}).json()["alerts"]
    assert sorted((d["url"], d["status"]) for alert in alerts for d in alert["deliveries"]) == [
        (f"{hook.url}/a", "pending")] * 2 + [(f"{hook.url}/b", "pending")] * 2
    assert client.get("/healthz").json()["alerts"] == {
        "fired": 2, "pending": 4, "failed": 0, "unqueued": 0}
    # The PUT published the budget's state; the gate has the whole state once a worker sweeps:
    # until then it fails open, and says so.
    check = client.get("/api/cost/budget/check", params={"project": "beta"}).json()
    assert (check["allowed"], check["reason"]) == (
        True, "budget state unavailable: no worker has published it yet")
    connect(redis_url).hset(f"{constants.BUDGET_STATE_KEY_PREFIX}{queue_name}",
                            constants.BUDGET_STATE_READY_FIELD, "1")
    check = client.get("/api/cost/budget/check", params={"project": "beta"}).json()
    assert (check["allowed"], check["reason"]) == (
        False, "budget exceeded: $2.10 spent of $2.00 limit for November 2026")
    assert [b["project"] for b in check["budgets"]] == ["beta"]


def test_test_send_reaches_every_webhook_signed(client: TestClient, hook: Receiver) -> None:
    hook.paths = {"/a": "fail"}
    response = client.post("/api/cost/alerts/test", params={"project": "beta"}, json={})
    assert response.status_code == 200
    assert response.json() == {"results": [
        {"url": f"{hook.url}/a", "delivered": False, "error": "HTTP 500"},
        {"url": f"{hook.url}/b", "delivered": True, "error": None}]}
    assert sorted(r.path for r in hook.received) == ["/a?key=x", "/b"]
    [received] = [r for r in hook.received if r.path == "/b"]
    body = json.loads(received.body)
    assert (body["type"], body["project"], body["month"]) == ("budget.test", "beta", "2026-11")
    assert received.headers["X-Costlog-Event"] == "budget.test"
    expected = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["X-Costlog-Signature"] == f"sha256={expected}"


@pytest.mark.parametrize("action", ["trickle", "hang"])
def test_test_send_obeys_the_attempt_deadline(client: TestClient, hook: Receiver,
                                              monkeypatch: pytest.MonkeyPatch, action: str) -> None:
    """A receiver trickling its answer a byte every 0.3 s never trips a per-read timeout: the
    deadline is the whole attempt's (1 s here), and the answer says it passed."""
    monkeypatch.setattr(constants, "ALERT_ATTEMPT_SECONDS", 1.0)
    hook.paths, hook.delay = {"/a": action}, 0.3
    response = client.post("/api/cost/alerts/test", params={"project": "beta"}, json={})
    assert response.status_code == 200
    assert response.json() == {"results": [
        {"url": f"{hook.url}/a", "delivered": False, "error": "timed out after 1 s"},
        {"url": f"{hook.url}/b", "delivered": True, "error": None}]}
