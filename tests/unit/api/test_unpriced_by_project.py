"""Each project's events stored without a price (GET /api/cost/projects unpriced_events): the
dashboard's queue panel shows them for the chosen project."""

import sqlite_utils
from starlette.testclient import TestClient

from costlog.store.write import void_event


def sql_unpriced(db: sqlite_utils.Database) -> dict[str, int]:
    return dict(db.execute(
        "SELECT project_id, COUNT(*) FROM cost_log WHERE cost_source = 'unpriced'"
        " AND voided_at IS NULL GROUP BY project_id").fetchall())


def test_unpriced_events_per_project(client: TestClient, seeded: sqlite_utils.Database) -> None:
    expected = sql_unpriced(seeded)
    assert expected and sum(expected.values()) >= 1
    body = client.get("/api/cost/projects").json()
    assert {p["project_id"]: p["unpriced_events"] for p in body["projects"]} == {
        p["project_id"]: expected.get(p["project_id"], 0) for p in body["projects"]}
    # Across all projects they add up to what /healthz counts (nothing voided or re-priced).
    assert sum(p["unpriced_events"] for p in body["projects"]) == \
        client.get("/healthz").json()["events"]["unpriced"]
    alone = client.get("/api/cost/projects", params={"project": "beta"}).json()["projects"]
    assert [p["unpriced_events"] for p in alone] == [expected.get("beta", 0)]

    # A voided event is out of every figure, this one too.
    (event_id,) = seeded.execute(
        "SELECT event_id FROM cost_log WHERE cost_source = 'unpriced' AND project_id = 'beta'"
    ).fetchone()
    void_event(seeded, event_id, "test")
    after = {p["project_id"]: p["unpriced_events"]
             for p in client.get("/api/cost/projects").json()["projects"]}
    assert after["beta"] == expected["beta"] - 1


def test_the_count_reads_only_the_unpriced_rows(seeded: sqlite_utils.Database) -> None:
    plan = " ".join(str(row) for row in seeded.execute(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM cost_log AS n WHERE n.project_id = 'beta'"
        " AND n.cost_source = 'unpriced' AND n.voided_at IS NULL").fetchall())
    assert "idx_cost_unpriced" in plan
