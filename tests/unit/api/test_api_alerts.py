"""Budget zone and hard limit, the alerts list, the budget check and alert counts, through the
API (no Redis: the gate fails open)."""

from pathlib import Path

import pytest
import sqlite_utils
from starlette.testclient import TestClient

from costlog.store.orchestrator import set_budget
from tests.support.api import client_for, settings_for


def test_put_sets_zone_and_hard_limit(client: TestClient, seeded: sqlite_utils.Database) -> None:
    body = client.put("/api/cost/budget", params={"project": "beta"},
                      json={"monthly_limit_usd": 4.0, "timezone": "Asia/Tokyo",
                            "hard_limit": True}).json()
    # In Tokyo, Oct 31 23:00Z is November: beta's November is 4.1 there, 2.1 in UTC.
    assert (body["timezone"], body["hard_limit"], body["current_spent_usd"]) == (
        "Asia/Tokyo", True, 4.1)
    assert body["over_budget"] is True
    # GET without tz: the budget's own zone; with tz: that zone.
    assert client.get("/api/cost/budget", params={"project": "beta"}).json() == body
    utc = client.get("/api/cost/budget", params={"project": "beta", "tz": "UTC"}).json()
    assert (utc["current_spent_usd"], utc["timezone"]) == (2.1, "Asia/Tokyo")
    # Left out, both are kept.
    again = client.put("/api/cost/budget", params={"project": "beta"},
                       json={"monthly_limit_usd": 5.0}).json()
    assert (again["timezone"], again["hard_limit"], again["monthly_limit_usd"]) == (
        "Asia/Tokyo", True, 5.0)
    # The PUT that set the limit below the spend fired both alerts at once.
    assert seeded.execute("SELECT id FROM cost_alerts ORDER BY id").fetchall() == [
        ("budget.exceeded:beta:2026-11",), ("budget.threshold:beta:2026-11",)]


def test_new_budget_takes_costlog_tz(seeded: sqlite_utils.Database, db_path: Path,
                                     tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path, tz="America/Los_Angeles")) as client:
        body = client.put("/api/cost/budget", params={"project": "beta"},
                          json={"monthly_limit_usd": 4.0}).json()
    # Nov 1 02:00Z is still October in Los Angeles.
    assert (body["timezone"], body["current_spent_usd"]) == ("America/Los_Angeles", 0.6)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"monthly_limit_usd": "500"}', "monthly_limit_usd must be a number"),
    (b'{"monthly_limit_usd": 5, "timezone": "Mars/Olympus"}',
     "timezone must be an IANA time zone name"),
    (b'{"monthly_limit_usd": 5, "timezone": 3}', "timezone must be an IANA time zone name"),
    (b'{"monthly_limit_usd": 5, "hard_limit": "yes"}', "hard_limit must be true or false"),
    (b'{"monthly_limit_usd": 5, "hard_limit": 1}', "hard_limit must be true or false"),
])
def test_put_budget_errors(client: TestClient, body: bytes, message: str) -> None:
    response = client.put("/api/cost/budget", params={"project": "beta"}, content=body,
                          headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_alerts_list(client: TestClient, seeded: sqlite_utils.Database) -> None:
    assert client.get("/api/cost/alerts").json() == {"alerts": []}
    set_budget(seeded, "beta", 2.0, 50)  # beta spent 2.1 in November (UTC)
    set_budget(seeded, None, 100.0, 1)
    listed = client.get("/api/cost/alerts").json()["alerts"]
    assert sorted(alert["id"] for alert in listed) == [
        "budget.exceeded:beta:2026-11", "budget.threshold:*:2026-11",
        "budget.threshold:beta:2026-11"]
    beta = client.get("/api/cost/alerts", params={"project": "beta", "month": "2026-11"}).json()
    assert [(a["type"], a["spent_usd"], a["limit_usd"], a["deliveries"])
            for a in beta["alerts"]] == [("budget.exceeded", 2.1, 2.0, []),
                                         ("budget.threshold", 2.1, 2.0, [])]
    assert [a["id"] for a in client.get("/api/cost/alerts",
                                        params={"project": "*"}).json()["alerts"]] == [
        "budget.threshold:*:2026-11"]
    assert client.get("/api/cost/alerts", params={"month": "2026-10"}).json() == {"alerts": []}


@pytest.mark.parametrize(("query", "message"), [
    ({"month": "2026-13"}, "invalid 'month' parameter: use YYYY-MM"),
    ({"month": "November"}, "invalid 'month' parameter: use YYYY-MM"),
    ({"project": ""}, "invalid 'project' parameter"),
    ({"tz": "Mars/Olympus"}, "invalid 'tz' parameter: unknown time zone"),
])
def test_alerts_list_errors(client: TestClient, query: dict[str, str], message: str) -> None:
    response = client.get("/api/cost/alerts", params=query)
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_budget_check_without_redis_fails_open(client: TestClient,
                                               seeded: sqlite_utils.Database) -> None:
    set_budget(seeded, "beta", 2.0, hard_limit=True)
    body = client.get("/api/cost/budget/check", params={"project": "beta"}).json()
    assert (body["allowed"], body["reason"]) == (
        True, "budget state unavailable: no Redis URL configured (COSTLOG_REDIS_URL)")
    assert [(b["project"], b["over_budget"], b["hard_limit"]) for b in body["budgets"]] == [
        ("beta", True, True)]


def test_alert_counts_in_healthz_and_metrics(client: TestClient,
                                             seeded: sqlite_utils.Database) -> None:
    set_budget(seeded, "beta", 2.0, 50)
    assert client.get("/healthz").json()["alerts"] == {
        "fired": 2, "pending": 0, "failed": 0, "unqueued": 2}
    text = client.get("/metrics").text
    assert "costlog_alerts_fired_total 2.0" in text
    assert 'costlog_alert_deliveries{status="pending"} 0.0' in text
    assert 'costlog_alert_deliveries{status="failed"} 0.0' in text
    assert "costlog_alerts_unqueued 2.0" in text


def test_test_alert_without_webhooks(client: TestClient) -> None:
    response = client.post("/api/cost/alerts/test", params={"project": "beta"}, json={})
    assert (response.status_code, response.json()) == (200, {"results": []})


def test_openapi_lists_the_alert_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/cost/alerts"]) == {"get"}
    assert set(paths["/api/cost/alerts/test"]) == {"post"}
    assert set(paths["/api/cost/budget/check"]) == {"get"}
    body = paths["/api/cost/budget"]["put"]["requestBody"]["content"]["application/json"]
    assert {"timezone", "hard_limit"} <= set(body["schema"]["properties"])
