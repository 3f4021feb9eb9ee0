"""An initiative's cost over a period or a range, as the breakdown reads them, against SQL
over cost_log."""

import pytest
import sqlite_utils
from starlette.testclient import TestClient

from tests.support.api import NANOS, TOKENS, usd

# (query, SQL condition on the timestamp): NOW is 2026-11-20 12:00Z.
WINDOWS = [
    ({"period": "7d"}, "timestamp >= '2026-11-13 12:00:00'"),
    ({"period": "24h"}, "timestamp >= '2026-11-19 12:00:00'"),
    ({"period": "month", "tz": "Asia/Tokyo"}, "timestamp >= '2026-10-31 15:00:00'"),
    ({"start": "2026-10-31", "end": "2026-11-01"},
     "timestamp >= '2026-10-31' AND timestamp < '2026-11-02'"),
]


@pytest.mark.parametrize("initiative", ["INIT-A", "INIT-B"])
@pytest.mark.parametrize(("query", "where"), WINDOWS)
def test_initiative_cost_over_a_window(client: TestClient, seeded: sqlite_utils.Database,
                                       initiative: str, query: dict[str, str],
                                       where: str) -> None:
    response = client.get(f"/api/initiatives/{initiative}/cost", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    nanos, tokens = seeded.execute(
        f"SELECT COALESCE(SUM({NANOS}), 0), COALESCE(SUM({TOKENS}), 0) FROM cost_log"
        f" WHERE initiative_id = ? AND {where}", [initiative]).fetchone()
    assert body["total_cost_usd"] == usd(nanos)
    assert body["total_tokens"] == tokens
    assert body["period"] == query.get("period", "custom")
    assert body["start"] and body["end"]
    by_task = seeded.execute(
        f"SELECT project_id, task_id, SUM({NANOS}) FROM cost_log WHERE initiative_id = ?"
        f" AND {where} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2", [initiative]).fetchall()
    assert [(t["project_id"], t["task_id"], t["cost"]) for t in body["by_task"]] == [
        (project, task, usd(cost)) for project, task, cost in by_task]
    assert sum(body["by_model"].values()) == pytest.approx(usd(nanos), abs=1e-9)
    assert sum(body["by_phase"].values()) == pytest.approx(usd(nanos), abs=1e-9)


def test_an_initiative_with_nothing_in_the_window_is_zero_not_404(client: TestClient) -> None:
    body = client.get("/api/initiatives/INIT-B/cost", params={"period": "24h"}).json()
    assert (body["total_cost_usd"], body["by_task"], body["by_model"]) == (0.0, [], {})
    assert client.get("/api/initiatives/nobody/cost", params={"period": "7d"}).status_code == 404


@pytest.mark.parametrize(("query", "message"), [
    ({"period": "8d"}, "invalid 'period' parameter: use 24h, 7d, 30d, month, last-month, or all"),
    ({"period": "7d", "start": "2026-11-01"}, "invalid range: use either period or start/end"),
    ({"start": "yesterday"}, "invalid start date: use YYYY-MM-DD or RFC3339"),
])
def test_initiative_window_errors(client: TestClient, query: dict[str, str],
                                  message: str) -> None:
    response = client.get("/api/initiatives/INIT-A/cost", params=query)
    assert (response.status_code, response.json()) == (400, {"error": message})
