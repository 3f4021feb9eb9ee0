"""POST /api/cost/events/{id}/void: the event leaves every figure; its receipt says so."""

import sqlite_utils
from starlette.testclient import TestClient

from costlog.store.write import check_aggregates
from tests.support.api import EVENTS, NANOS, sql_sums


def first_event(seeded: sqlite_utils.Database) -> tuple[str, str, int]:
    return seeded.execute(
        f"SELECT event_id, project_id, {NANOS} FROM cost_log ORDER BY id LIMIT 1").fetchone()


def figures(client: TestClient) -> dict:
    return {
        "breakdown": client.get("/api/cost/breakdown", params={"by": "project"}).json(),
        "series": client.get("/api/cost/timeseries", params={
            "start": "2026-11-01", "end": "2026-11-20"}).json()["series"],
        "projects": client.get("/api/cost/projects").json(),
        "initiative": client.get("/api/initiatives/INIT-A/cost").json(),
        "export": client.get("/api/cost/export", params={"format": "jsonl"}).text,
    }


def test_a_voided_event_leaves_every_figure(client: TestClient,
                                            seeded: sqlite_utils.Database) -> None:
    event_id, project, nanos = first_event(seeded)
    before = figures(client)
    total = sum(cost for cost, _ in sql_sums(seeded, "'all'").values())
    response = client.post(f"/api/cost/events/{event_id}/void",
                           json={"reason": "recorded against the wrong task"})
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["revision"] == 1
    assert receipt["voided"]["reason"] == "recorded against the wrong task"
    assert receipt["voided"]["at"] == "2026-11-20T12:00:00+00:00"
    assert [(old["revision"], old["superseded_by"], old["voided"]) for old in
            receipt["revisions"]] == [(0, "void", None)]
    assert client.get(f"/api/cost/events/{event_id}").json() == receipt
    after = figures(client)
    breakdown = after["breakdown"]
    assert round(breakdown["total_cost_usd"] * 1e9) == total - nanos
    assert (round(breakdown["breakdown"][project]["cost"] * 1e9)
            == round(before["breakdown"]["breakdown"][project]["cost"] * 1e9) - nanos)
    assert event_id in before["export"] and event_id not in after["export"]
    assert after["projects"] != before["projects"]
    assert after["initiative"]["total_cost_usd"] < before["initiative"]["total_cost_usd"]
    assert (sum(point["cost"] for point in after["series"])
            < sum(point["cost"] for point in before["series"]))
    assert list(check_aggregates(seeded)) == []
    # Voiding it again: nothing changes, 200 with the same receipt.
    again = client.post(f"/api/cost/events/{event_id}/void", json={"reason": "once more"})
    assert (again.status_code, again.json()) == (200, receipt)
    assert len(EVENTS) == seeded.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]


def test_metrics_count_voids(client: TestClient, seeded: sqlite_utils.Database) -> None:
    event_id, *_ = first_event(seeded)
    client.post(f"/api/cost/events/{event_id}/void", json={"reason": "a test run"})
    client.post(f"/api/cost/events/{event_id}/void", json={"reason": "again"})
    lines = client.get("/metrics").text.splitlines()
    assert "costlog_events_voided_total 1.0" in lines
    assert "costlog_events_revised_total 0.0" in lines


def test_an_event_at_the_last_revision_cannot_be_voided(client: TestClient,
                                                        seeded: sqlite_utils.Database) -> None:
    event_id, *_ = first_event(seeded)
    seeded.execute("UPDATE cost_log SET revision = 2147483647 WHERE event_id = ?", [event_id])
    seeded.conn.commit()
    response = client.post(f"/api/cost/events/{event_id}/void", json={"reason": "x"})
    assert (response.status_code, response.json()) == (
        409, {"error": f"event {event_id}: revision 2147483647 is the last one"})


def test_voiding_an_unknown_event_is_404(client: TestClient) -> None:
    response = client.post("/api/cost/events/no-such-event/void", json={"reason": "typo"})
    assert (response.status_code, response.json()) == (404, {"error": "event not found"})


def test_a_void_needs_a_reason(client: TestClient, seeded: sqlite_utils.Database) -> None:
    event_id, *_ = first_event(seeded)
    message = "reason must be a non-empty string of at most 1000 characters"
    for body in ({}, {"reason": ""}, {"reason": "  "}, {"reason": 3}, {"reason": "x" * 1001}):
        response = client.post(f"/api/cost/events/{event_id}/void", json=body)
        assert (response.status_code, response.json()) == (400, {"error": message}), body
    response = client.post(f"/api/cost/events/{event_id}/void", json=["reason"])
    assert (response.status_code, response.json()) == (
        400, {"error": "invalid request body: expected a JSON object"})
    response = client.post(f"/api/cost/events/{event_id}/void", content=b'{"reason": "x"}',
                           headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json()) == (
        415, {"error": "unsupported content type: use application/json"})
    response = client.post(f"/api/cost/events/{event_id}/void", json={"reason": "x"},
                           headers={"Origin": "https://evil.example"})
    assert (response.status_code, response.json()) == (403, {"error": "cross-origin write refused"})
    assert client.get(f"/api/cost/events/{event_id}").json()["voided"] is None


def test_the_openapi_document_describes_the_void(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    void = paths["/api/cost/events/{event_id}/void"]["post"]
    assert void["operationId"] == "voidCostEvent"
    body = void["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["reason"]
    assert set(void["responses"]) >= {"200", "400", "401", "403", "404", "409", "415"}
    receipt = paths["/api/cost/events/{event_id}"]["get"]["responses"]["200"]
    schema = receipt["content"]["application/json"]["schema"]["properties"]
    assert {"revision", "voided", "revisions"} <= set(schema)
