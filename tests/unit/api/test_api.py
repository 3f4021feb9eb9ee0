"""The read endpoints, each checked against SQL over the same cost_log rows."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils
from starlette.testclient import TestClient

from costlog import clock
from costlog.store.orchestrator import set_budget
from tests.conftest import NOW
from tests.support.api import (
    FAMILY,
    client_for,
    settings_for,
    sql_float_cost,
    sql_sums,
    usd,
    without_token_kinds,
)


def storage(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- breakdown -----------------------------------------------------------------------------------

PERIOD_START = {"24h": NOW - timedelta(hours=24), "7d": NOW - timedelta(days=7),
                "30d": NOW - timedelta(days=30), "all": None}
KEYS = {"model": FAMILY, "phase": "phase", "initiative": "initiative_id"}


def expected_breakdown(db: sqlite_utils.Database, by: str, period: str,
                       project: str | None) -> dict[str, tuple[int, int]]:
    where, params = ["1"], []
    if PERIOD_START[period] is not None:
        where.append("timestamp >= ?")
        params.append(storage(PERIOD_START[period]))
    if project is not None:
        where.append("project_id = ?")
        params.append(project)
    if by == "initiative":
        where.append("initiative_id <> ''")
    task_key = "task_id" if project else "project_id || '/' || task_id"
    key = task_key if by == "task" else KEYS[by]
    return sql_sums(db, key, " AND ".join(where), tuple(params))


@pytest.mark.parametrize("project", [None, "alpha", "beta"])
@pytest.mark.parametrize("period", ["24h", "7d", "30d", "all"])
@pytest.mark.parametrize("by", ["model", "phase", "task", "initiative"])
def test_handle_cost_breakdown(client: TestClient, seeded: sqlite_utils.Database, by: str,
                               period: str, project: str | None) -> None:
    query = {"by": by, "period": period} | ({"project": project} if project else {})
    response = client.get("/api/cost/breakdown", params=query)
    assert response.status_code == 200
    body = response.json()
    expected = expected_breakdown(seeded, by, period, project)
    total = sum(nanos for nanos, _ in expected.values())
    # A rolling window names its range: from now minus the window to now.
    ranged = {"start", "end"} if period != "all" else set()
    assert set(body) == {"period", "total_cost_usd", "breakdown"} | ranged
    assert body["period"] == period
    if ranged:
        span = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
        assert body["start"] == (NOW - span[period]).isoformat()
        assert body["end"] == NOW.isoformat()
    assert body["total_cost_usd"] == usd(total)
    assert set(body["breakdown"]) == set(expected)
    for key, (nanos, tokens) in expected.items():
        entry = body["breakdown"][key]
        assert entry["cost"] == usd(nanos)
        assert entry["tokens"] == tokens
        assert entry["percent"] == pytest.approx(nanos / total * 100 if total else 0.0)
    if total:
        assert sum(e["percent"] for e in body["breakdown"].values()) == pytest.approx(100, abs=0.01)
    assert "" not in body["breakdown"]


def test_breakdown_figures_by_hand(client: TestClient, seeded: sqlite_utils.Database) -> None:
    """A few figures written out, so the SQL above is not the only witness."""
    body = client.get("/api/cost/breakdown").json()
    assert body["period"] == "all"
    assert without_token_kinds(body["breakdown"]["opus"]) == {
        "cost": 5.35, "tokens": 5410, "percent": pytest.approx(5.35 / 6.615856789 * 100)}
    assert body["breakdown"]["unknown"]["cost"] == 0.05  # '' model and an unpriced row
    assert body["breakdown"]["unknown"]["tokens"] == 570
    assert body["total_cost_usd"] == pytest.approx(sql_float_cost(seeded), abs=1e-9)
    # 24 h: from 2026-11-19 12:00:00 on (the unpriced row sits exactly on the edge).
    day = client.get("/api/cost/breakdown", params={"period": "24h", "by": "phase"}).json()
    assert without_token_kinds(day["breakdown"]) == {
        "implement": {"cost": 1.85, "tokens": 1760, "percent": pytest.approx(1.85 / 1.8605 * 100)},
        "review": {"cost": 0.0105, "tokens": 1500,
                   "percent": pytest.approx(0.0105 / 1.8605 * 100)},
    }


def test_breakdown_task_keys_across_projects(client: TestClient) -> None:
    every = client.get("/api/cost/breakdown", params={"by": "task"}).json()["breakdown"]
    assert {"alpha/T-1", "beta/T-1"} <= set(every)
    assert every["alpha/T-1"]["cost"] == 1.2605
    assert every["beta/T-1"]["cost"] == 2.6
    one = client.get("/api/cost/breakdown", params={"by": "task", "project": "beta"}).json()
    assert set(one["breakdown"]) == {"T-1", "T-2", "T-3", "T-9"}
    assert one["breakdown"]["T-1"]["cost"] == 2.6


def test_breakdown_initiative_leaves_out_rows_without_one(client: TestClient) -> None:
    body = client.get("/api/cost/breakdown", params={"by": "initiative"}).json()
    assert set(body["breakdown"]) == {"INIT-A", "INIT-B"}
    assert body["total_cost_usd"] == 3.2605 + 1.9019


def test_breakdown_limit_and_other(client: TestClient, seeded: sqlite_utils.Database) -> None:
    expected = expected_breakdown(seeded, "task", "all", None)
    ranked = sorted(expected.items(), key=lambda item: (-item[1][0], item[0]))
    total = sum(nanos for nanos, _ in expected.values())
    body = client.get("/api/cost/breakdown", params={"by": "task", "limit": "3"}).json()
    assert list(body["breakdown"]) == [key for key, _ in ranked[:3]]
    rest = ranked[3:]
    rest_nanos = sum(nanos for _, (nanos, _) in rest)
    assert without_token_kinds(body["other"]) == {
        "cost": usd(rest_nanos), "tokens": sum(tokens for _, (_, tokens) in rest),
        "percent": pytest.approx(rest_nanos / total * 100), "count": len(rest),
    }
    shown = sum(entry["percent"] for entry in body["breakdown"].values())
    assert shown + body["other"]["percent"] == pytest.approx(100, abs=0.01)
    # A limit above the number of keys: everything shown, an empty "other".
    body = client.get("/api/cost/breakdown", params={"by": "task", "limit": "1000"}).json()
    assert len(body["breakdown"]) == len(expected)
    assert without_token_kinds(body["other"]) == {"cost": 0.0, "tokens": 0, "percent": 0.0,
                                                  "count": 0}


def test_breakdown_empty_database(db: sqlite_utils.Database, db_path: Path,
                                  tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path)) as client:
        body = client.get("/api/cost/breakdown").json()
    assert body == {"period": "all", "total_cost_usd": 0.0, "breakdown": {}}


def test_breakdown_default_project_from_settings(seeded: sqlite_utils.Database, db_path: Path,
                                                 tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path, project="beta")) as client:
        default = client.get("/api/cost/breakdown", params={"by": "task"}).json()
        every = client.get("/api/cost/breakdown", params={"by": "task", "project": "*"}).json()
    assert set(default["breakdown"]) == {"T-1", "T-2", "T-3", "T-9"}
    assert "alpha/T-1" in every["breakdown"]


# -- time series ---------------------------------------------------------------------------------

LABEL_SQL = {
    "hour": "substr(timestamp, 1, 13) || ':00'",
    "day": "substr(timestamp, 1, 10)",
    "week": "date(substr(timestamp, 1, 10), 'weekday 0', '-6 days')",
    "month": "substr(timestamp, 1, 7) || '-01'",
}


def utc_labels(first: datetime, last: datetime, granularity: str) -> list[str]:
    """Every UTC bucket label from the bucket of ``first`` to that of ``last``."""
    labels, day = [], first.date()
    if granularity == "hour":
        current = first.replace(minute=0, second=0, microsecond=0)
        while current <= last:
            labels.append(current.strftime("%Y-%m-%d %H:00"))
            current += timedelta(hours=1)
        return labels
    if granularity == "week":
        day -= timedelta(days=day.weekday())
    if granularity == "month":
        day = day.replace(day=1)
    while day <= last.date():
        labels.append(day.isoformat())
        if granularity == "day":
            day += timedelta(days=1)
        elif granularity == "week":
            day += timedelta(days=7)
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return labels


@pytest.mark.parametrize(
    ("granularity", "start", "end", "first", "last"),
    [
        ("day", None, None, NOW - timedelta(days=30), NOW),
        ("hour", "2026-11-19T10:30:00Z", "2026-11-20T12:00:00Z",
         datetime(2026, 11, 19, 10, 30, tzinfo=UTC), NOW),
        ("week", "2026-09-01", "2026-11-20", datetime(2026, 9, 1, tzinfo=UTC),
         datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)),
        ("month", "2026-08-15", "2026-12-01", datetime(2026, 8, 15, tzinfo=UTC),
         datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("project", [None, "alpha"])
@pytest.mark.parametrize("model", [None, "opus", "unknown"])
def test_handle_cost_timeseries(client: TestClient, seeded: sqlite_utils.Database,
                                granularity: str, start: str | None, end: str | None,
                                first: datetime, last: datetime, project: str | None,
                                model: str | None) -> None:
    query = {"granularity": granularity}
    query |= {name: value for name, value in (("start", start), ("end", end),
                                              ("project", project), ("model", model)) if value}
    response = client.get("/api/cost/timeseries", params=query)
    assert response.status_code == 200
    body = response.json()
    assert body["granularity"] == granularity
    assert body["start"] == first.isoformat(timespec="seconds")
    assert body["end"] == last.isoformat(timespec="seconds")

    where, params = ["1"], []
    if project:
        where.append("project_id = ?")
        params.append(project)
    if model:
        where.append(f"{FAMILY} = ?")
        params.append(model)
    sums = sql_sums(seeded, LABEL_SQL[granularity], " AND ".join(where), tuple(params))
    labels = utc_labels(first, last, granularity)
    assert [point["date"] for point in body["series"]] == labels
    for point in body["series"]:
        nanos, tokens = sums.get(point["date"], (0, 0))
        assert point["cost"] == usd(nanos)
        assert point["tokens"] == tokens
        if model:
            assert point["model"] == model
        else:
            assert "model" not in point
    # Every row in the (whole) buckets is counted: nothing is clipped at start or end.
    in_range = sum(nanos for label, (nanos, _) in sums.items() if label in set(labels))
    assert sum(point["cost"] for point in body["series"]) == pytest.approx(usd(in_range))


def test_timeseries_point_start_and_labels(client: TestClient) -> None:
    body = client.get("/api/cost/timeseries",
                      params={"granularity": "week", "start": "2026-11-01",
                              "end": "2026-11-20"}).json()
    assert [(p["date"], p["start"]) for p in body["series"]] == [
        ("2026-10-26", "2026-10-26T00:00:00+00:00"),
        ("2026-11-02", "2026-11-02T00:00:00+00:00"),
        ("2026-11-09", "2026-11-09T00:00:00+00:00"),
        ("2026-11-16", "2026-11-16T00:00:00+00:00"),
    ]
    # 2026-10-26 week: beta 2.0 (Oct 31) + 1.5, 0.05, 0.07 (Nov 1)
    assert body["series"][0]["cost"] == 3.62


def test_timeseries_new_york_fall_back(client: TestClient, seeded: sqlite_utils.Database) -> None:
    body = client.get("/api/cost/timeseries", params={
        "granularity": "hour", "start": "2026-11-01", "end": "2026-11-01",
        "tz": "America/New_York"}).json()
    series = body["series"]
    assert body["start"] == "2026-11-01T00:00:00-04:00"
    assert body["end"] == "2026-11-01T23:59:59-05:00"
    assert len(series) == 25
    assert [p["date"][11:] for p in series[:4]] == ["00:00", "01:00", "01:00", "02:00"]
    assert [p["start"] for p in series[:4]] == [
        "2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]
    assert series[-1]["date"] == "2026-11-01 23:00"
    assert series[-1]["start"] == "2026-11-01T23:00:00-05:00"
    # 01:30 EDT (05:30Z) and 01:30 EST (06:30Z) land in different points.
    assert (series[1]["cost"], series[1]["tokens"]) == (0.05, 70)
    assert (series[2]["cost"], series[2]["tokens"]) == (0.07, 900)
    # 2026-11-01T02:00Z is 22:00 EDT on Oct 31: not in this day.
    day_total = sql_sums(seeded, "'x'", "timestamp >= ? AND timestamp < ?",
                         ("2026-11-01 04:00:00", "2026-11-02 05:00:00"))["x"][0]
    assert sum(p["cost"] for p in series) == pytest.approx(usd(day_total))
    # The daily view of the same zone: Oct 31 holds 2.0 (23:00Z = 19:00 EDT) and 1.5.
    days = client.get("/api/cost/timeseries", params={
        "granularity": "day", "start": "2026-10-31", "end": "2026-11-02",
        "tz": "America/New_York"}).json()["series"]
    assert [(p["date"], p["start"], p["cost"]) for p in days] == [
        ("2026-10-31", "2026-10-31T00:00:00-04:00", 3.5),
        ("2026-11-01", "2026-11-01T00:00:00-04:00", 0.12),
        ("2026-11-02", "2026-11-02T00:00:00-05:00", 0.0),
    ]


def test_timeseries_spring_forward_has_23_hours(client: TestClient) -> None:
    body = client.get("/api/cost/timeseries", params={
        "granularity": "hour", "start": "2026-03-08", "end": "2026-03-08",
        "tz": "America/New_York"}).json()
    assert len(body["series"]) == 23
    assert [p["date"][11:] for p in body["series"][:3]] == ["00:00", "01:00", "03:00"]


def test_timeseries_kolkata_half_hour_offset(client: TestClient,
                                            seeded: sqlite_utils.Database) -> None:
    body = client.get("/api/cost/timeseries", params={
        "granularity": "day", "start": "2026-11-10", "end": "2026-11-11",
        "tz": "Asia/Kolkata"}).json()
    assert body["start"] == "2026-11-10T00:00:00+05:30"
    assert [(p["date"], p["start"]) for p in body["series"]] == [
        ("2026-11-10", "2026-11-10T00:00:00+05:30"), ("2026-11-11", "2026-11-11T00:00:00+05:30")]
    # Day edges at 18:30Z: 18:29:59Z is Nov 10, 18:30:00Z is Nov 11 (Kolkata).
    for point, (lo, hi) in zip(body["series"], [
            ("2026-11-09 18:30:00", "2026-11-10 18:30:00"),
            ("2026-11-10 18:30:00", "2026-11-11 18:30:00")], strict=True):
        nanos, tokens = sql_sums(seeded, "'x'", "timestamp >= ? AND timestamp < ?",
                                 (lo, hi)).get("x", (0, 0))
        assert (point["cost"], point["tokens"]) == (usd(nanos), tokens)
    assert [p["cost"] for p in body["series"]] == [0.0019, 0.11]
    hours = client.get("/api/cost/timeseries", params={
        "granularity": "hour", "start": "2026-11-10T23:00:00+05:30",
        "end": "2026-11-11T00:59:00+05:30", "tz": "Asia/Kolkata"}).json()["series"]
    assert [(p["date"], p["start"], p["cost"]) for p in hours] == [
        ("2026-11-10 23:00", "2026-11-10T23:00:00+05:30", 0.0019),
        ("2026-11-11 00:00", "2026-11-11T00:00:00+05:30", 0.11),
    ]


def test_timeseries_zero_filled_and_end_date_is_whole_day(client: TestClient) -> None:
    body = client.get("/api/cost/timeseries", params={
        "start": "2026-11-02", "end": "2026-11-04"}).json()
    assert body["end"] == "2026-11-04T23:59:59+00:00"
    assert without_token_kinds(body["series"]) == [
        {"date": f"2026-11-0{d}", "start": f"2026-11-0{d}T00:00:00+00:00", "cost": 0.0,
         "tokens": 0} for d in (2, 3, 4)]


# -- budget --------------------------------------------------------------------------------------


def month_spend(db: sqlite_utils.Database, project: str | None, tz: str) -> int:
    zone = ZoneInfo(tz)
    local = NOW.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    where, params = "timestamp >= ? AND timestamp < ?", [storage(start), storage(end)]
    if project:
        where += " AND project_id = ?"
        params.append(project)
    return sql_sums(db, "'x'", where, tuple(params)).get("x", (0, 0))[0]


def expected_status(db: sqlite_utils.Database, project: str | None, tz: str, limit: float,
                    threshold: int) -> dict:
    zone = ZoneInfo(tz)
    local = NOW.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    spent = usd(month_spend(db, project, tz))
    elapsed = max((NOW - start).total_seconds(), 86400)
    projected = spent / (elapsed / (end - start).total_seconds())
    last_day = (end - timedelta(days=1)).date()
    has = limit > 0
    percent = spent / limit * 100 if has else 0.0
    return {
        "project": project or "*", "month": start.strftime("%Y-%m"),
        "monthly_limit_usd": limit, "alert_threshold_percent": threshold,
        "timezone": "UTC", "hard_limit": False,
        "current_spent_usd": spent, "remaining_usd": limit - spent if has else 0.0,
        "percent_used": pytest.approx(percent), "projected_monthly": pytest.approx(projected),
        "days_remaining": (last_day - local.date()).days,
        "on_track": projected <= limit if has else True,
        "at_alert_threshold": has and percent >= threshold, "over_budget": has and spent > limit,
    }


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Asia/Kolkata"])
@pytest.mark.parametrize(("project", "limit", "threshold"), [
    ("alpha", 10.0, 80), ("beta", 5.0, 50), ("beta", 4.0, 80), (None, 3.0, 90)])
def test_handle_cost_budget(client: TestClient, seeded: sqlite_utils.Database, tz: str,
                            project: str | None, limit: float, threshold: int) -> None:
    set_budget(seeded, project or "*", limit, threshold)
    query = {"tz": tz} | ({"project": project} if project else {})
    response = client.get("/api/cost/budget", params=query)
    assert response.status_code == 200
    assert response.json() == expected_status(seeded, project, tz, limit, threshold)


def test_budget_figures_by_hand(client: TestClient, seeded: sqlite_utils.Database) -> None:
    set_budget(seeded, "beta", 4.0, 50)
    utc = client.get("/api/cost/budget", params={"project": "beta"}).json()
    # November (UTC): 0.6 + 0.0 + 1.5; elapsed 19.5 of 30 days.
    assert utc["current_spent_usd"] == 2.1
    assert utc["projected_monthly"] == pytest.approx(2.1 / (19.5 / 30))
    assert utc["remaining_usd"] == pytest.approx(1.9)
    assert utc["percent_used"] == pytest.approx(52.5)
    assert (utc["days_remaining"], utc["on_track"], utc["at_alert_threshold"],
            utc["over_budget"]) == (10, True, True, False)
    # Tokyo: Oct 31 23:00Z is November; Los Angeles: Nov 1 02:00Z is still October.
    tokyo = client.get("/api/cost/budget", params={"project": "beta", "tz": "Asia/Tokyo"}).json()
    assert tokyo["current_spent_usd"] == 4.1
    assert tokyo["over_budget"] is True
    assert tokyo["remaining_usd"] == pytest.approx(-0.1)
    la = client.get("/api/cost/budget",
                    params={"project": "beta", "tz": "America/Los_Angeles"}).json()
    assert la["current_spent_usd"] == 0.6


def test_budget_without_a_budget(client: TestClient, seeded: sqlite_utils.Database) -> None:
    body = client.get("/api/cost/budget", params={"project": "alpha"}).json()
    spent = usd(month_spend(seeded, "alpha", "UTC"))
    assert body == {
        "project": "alpha", "month": "2026-11", "monthly_limit_usd": 0.0,
        "alert_threshold_percent": 80, "timezone": "UTC", "hard_limit": False,
        "current_spent_usd": spent, "remaining_usd": 0.0,
        "percent_used": 0.0, "projected_monthly": pytest.approx(spent / (19.5 / 30)),
        "days_remaining": 10, "on_track": True, "at_alert_threshold": False,
        "over_budget": False,
    }


def test_budget_all_projects(client: TestClient, seeded: sqlite_utils.Database) -> None:
    set_budget(seeded, "*", 2.0, 80)
    set_budget(seeded, "alpha", 100.0, 80)
    body = client.get("/api/cost/budget").json()
    assert body["project"] == "*"
    assert body["monthly_limit_usd"] == 2.0
    assert body["current_spent_usd"] == usd(month_spend(seeded, None, "UTC"))
    assert body["over_budget"] is True
    assert client.get("/api/cost/budget", params={"project": "*"}).json() == body


def test_budget_month_start_counts_as_one_day(seeded: sqlite_utils.Database, db_path: Path,
                                              tmp_path: Path) -> None:
    clock.set_clock(clock.fixed(datetime(2026, 11, 1, 6, 0, tzinfo=UTC)))
    with client_for(settings_for(db_path, tmp_path)) as client:
        body = client.get("/api/cost/budget", params={"project": "alpha"}).json()
    # Every row timestamped in the month counts (later ones too); 6 h elapsed count as a day.
    spent = usd(month_spend(seeded, "alpha", "UTC"))
    assert body["current_spent_usd"] == spent == 2.015856789
    assert body["projected_monthly"] == pytest.approx(spent * 30)
    assert body["days_remaining"] == 29


# -- PUT budget ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("project", "tz"), [("alpha", "UTC"), (None, "Asia/Tokyo"),
                                              ("beta", "America/Los_Angeles")])
def test_handle_update_cost_budget(client: TestClient, seeded: sqlite_utils.Database,
                                   project: str | None, tz: str) -> None:
    query = {"tz": tz} | ({"project": project} if project else {})
    response = client.put("/api/cost/budget", params=query,
                          json={"monthly_limit_usd": 2.5, "alert_threshold_percent": 60})
    assert response.status_code == 200
    assert response.json() == expected_status(seeded, project, tz, 2.5, 60)
    row = seeded.execute("SELECT monthly_limit_usd, alert_threshold_percent FROM cost_budgets"
                         " WHERE project_id = ?", [project or "*"]).fetchone()
    assert row == (2.5, 60)
    assert client.get("/api/cost/budget", params=query).json() == response.json()
    # Replacing it: threshold missing or 0 means 80; an integer limit is fine.
    for body in ({"monthly_limit_usd": 7}, {"monthly_limit_usd": 7,
                                            "alert_threshold_percent": 0}):
        response = client.put("/api/cost/budget", params=query, json=body)
        assert response.status_code == 200
        assert response.json() == expected_status(seeded, project, tz, 7.0, 80)
    assert seeded.execute("SELECT COUNT(*) FROM cost_budgets").fetchone()[0] == 1


@pytest.mark.parametrize(("threshold", "stored"), [
    (74.0, 74), (100.0, 100), (1e2, 100), (0.0, 80), (-0.0, 80), (74, 74)])
def test_update_budget_integral_threshold_is_an_integer(
        client: TestClient, seeded: sqlite_utils.Database, threshold: float, stored: int) -> None:
    response = client.put("/api/cost/budget", params={"project": "alpha"},
                          json={"monthly_limit_usd": 10, "alert_threshold_percent": threshold})
    assert response.status_code == 200
    assert response.json()["alert_threshold_percent"] == stored
    assert isinstance(response.json()["alert_threshold_percent"], int)
    assert seeded.execute("SELECT alert_threshold_percent, typeof(alert_threshold_percent)"
                          " FROM cost_budgets").fetchone() == (stored, "integer")


def test_update_budget_zero_limit_means_no_budget(client: TestClient,
                                                  seeded: sqlite_utils.Database) -> None:
    body = client.put("/api/cost/budget", params={"project": "alpha"},
                      json={"monthly_limit_usd": 0, "alert_threshold_percent": 100}).json()
    assert body["monthly_limit_usd"] == 0.0
    assert (body["remaining_usd"], body["percent_used"], body["on_track"],
            body["at_alert_threshold"], body["over_budget"]) == (0.0, 0.0, True, False, False)
    assert body["alert_threshold_percent"] == 100


@pytest.mark.parametrize(("body", "message"), [
    (b"", "invalid request body: Expecting value (line 1, column 1)"),
    (b"{", "invalid request body: Expecting property name enclosed in double quotes"
           " (line 1, column 2)"),
    (b"[1]", "invalid request body: expected a JSON object"),
    (b"\xff\xfe\x00", "invalid request body: not UTF-8 text"),
    (b"[" * 100_000, "invalid request body: nested too deeply"),
    (b"{}", "invalid request body: monthly_limit_usd is required"),
    (b'{"monthly_limit_usd": null}', "invalid request body: monthly_limit_usd is required"),
    (b'{"monthly_limit_usd": -1}', "monthly_limit_usd must be non-negative"),
    (b'{"monthly_limit_usd": -0.01}', "monthly_limit_usd must be non-negative"),
    (b'{"monthly_limit_usd": NaN}', "monthly_limit_usd must be non-negative"),
    (b'{"monthly_limit_usd": Infinity}', "monthly_limit_usd must be non-negative"),
    (b'{"monthly_limit_usd": 1e400}', "monthly_limit_usd must be non-negative"),
    (b'{"monthly_limit_usd": 1' + b"0" * 400 + b"}", "monthly_limit_usd must be non-negative"),
    (b'{"monthly_limit_usd": true}', "monthly_limit_usd must be a number"),
    (b'{"monthly_limit_usd": "10"}', "monthly_limit_usd must be a number"),
    (b'{"monthly_limit_usd": "500"}', "monthly_limit_usd must be a number"),
    (b'{"monthly_limit_usd": [10]}', "monthly_limit_usd must be a number"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": 101}',
     "alert_threshold_percent must be between 0 and 100"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": -1}',
     "alert_threshold_percent must be between 0 and 100"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": 101.0}',
     "alert_threshold_percent must be between 0 and 100"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": 50.5}',
     "alert_threshold_percent must be an integer"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": 1e400}',
     "alert_threshold_percent must be an integer"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": NaN}',
     "alert_threshold_percent must be an integer"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": "50"}',
     "alert_threshold_percent must be an integer"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": true}',
     "alert_threshold_percent must be an integer"),
    (b'{"monthly_limit_usd": 10, "alert_threshold_percent": false}',
     "alert_threshold_percent must be an integer"),
])
def test_update_budget_errors(client: TestClient, seeded: sqlite_utils.Database, body: bytes,
                              message: str) -> None:
    response = client.put("/api/cost/budget", content=body,
                          headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert seeded.execute("SELECT COUNT(*) FROM cost_budgets").fetchone()[0] == 0


def test_update_budget_body_too_large(client: TestClient) -> None:
    response = client.put("/api/cost/budget", content=b" " * (1024 * 1024 + 1),
                          headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (413, {"error": "request body too large"})


# -- initiative ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("initiative", "project"), [
    ("INIT-A", None), ("INIT-B", None), ("INIT-A", "alpha"), ("INIT-B", "beta")])
def test_handle_initiative_cost(client: TestClient, seeded: sqlite_utils.Database,
                                initiative: str, project: str | None) -> None:
    query = {"project": project} if project else {}
    response = client.get(f"/api/initiatives/{initiative}/cost", params=query)
    assert response.status_code == 200
    body = response.json()
    where, params = "initiative_id = ?", [initiative]
    if project:
        where += " AND project_id = ?"
        params.append(project)
    tasks = sql_sums(seeded, "project_id || '/' || task_id", where, tuple(params))
    models = sql_sums(seeded, FAMILY, where, tuple(params))
    phases = sql_sums(seeded, "phase", where, tuple(params))
    total = sum(nanos for nanos, _ in tasks.values())
    assert body["initiative_id"] == initiative
    assert body["total_cost_usd"] == usd(total)
    assert body["total_tokens"] == sum(tokens for _, tokens in tasks.values())
    assert [(f"{t['project_id']}/{t['task_id']}", t["cost"], t["tokens"])
            for t in body["by_task"]] == [
        (key, usd(nanos), tokens)
        for key, (nanos, tokens) in sorted(tasks.items(), key=lambda i: (-i[1][0], i[0]))]
    costs = [t["cost"] for t in body["by_task"]]
    assert costs == sorted(costs, reverse=True)
    assert body["by_model"] == {key: usd(nanos) for key, (nanos, _) in models.items()}
    assert body["by_phase"] == {key: usd(nanos) for key, (nanos, _) in phases.items()}


def test_initiative_cost_by_hand(client: TestClient) -> None:
    body = client.get("/api/initiatives/INIT-A/cost").json()
    assert body["total_cost_usd"] == 3.2605
    assert body["by_model"] == {"opus": 3.25, "sonnet": 0.0105}
    assert body["by_phase"] == {"implement": 3.25, "review": 0.0105}
    assert [t["cost"] for t in body["by_task"]] == [2.0, 1.2605]


@pytest.mark.parametrize(("path", "query"), [
    ("/api/initiatives/NOPE/cost", {}),
    ("/api/initiatives/INIT-A/cost", {"project": "gamma"}),
    ("/api/initiatives/%00/cost", {}),
    ("/api/initiatives/" + "x" * 5000 + "/cost", {}),
])
def test_initiative_not_found(client: TestClient, path: str, query: dict) -> None:
    response = client.get(path, params=query)
    assert (response.status_code, response.json()) == (404, {"error": "initiative not found"})


# -- database unavailable ------------------------------------------------------------------------

READS = ["/api/cost/breakdown", "/api/cost/timeseries", "/api/cost/budget",
         "/api/initiatives/INIT-A/cost"]


def _not_a_database(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 100)


def _unmigrated(path: Path) -> None:
    sqlite_utils.Database(path)["other"].insert({"x": 1})


@pytest.mark.parametrize("make", [None, _not_a_database, _unmigrated],
                         ids=["missing", "garbage", "unmigrated"])
def test_cost_analytics_unavailable(tmp_path: Path, make) -> None:
    path = tmp_path / "data" / "costlog.db"
    if make is not None:
        path.parent.mkdir()
        make(path)
    with client_for(settings_for(path, tmp_path)) as client:
        for url in READS:
            response = client.get(url)
            assert (response.status_code, response.json()) == (
                503, {"error": "cost analytics not available"}), url
        response = client.put("/api/cost/budget", json={"monthly_limit_usd": 1})
        assert (response.status_code, response.json()) == (
            503, {"error": "cost analytics not available"})
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"] == {"ok": False}
    # Never created by a request.
    assert make is not None or not path.exists()


def test_cost_analytics_unavailable_after_start(seeded: sqlite_utils.Database, db_path: Path,
                                                tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path)) as client:
        assert client.get("/api/cost/breakdown").status_code == 200
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        response = client.get("/api/cost/breakdown")
        assert (response.status_code, response.json()) == (
            503, {"error": "cost analytics not available"})
