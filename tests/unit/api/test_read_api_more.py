"""Projects, token kinds, breakdowns over any range, the split series, receipts and export:
every figure against SQL over the same cost_log rows (or the input events themselves)."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils
from starlette.testclient import TestClient

from costlog.domain import export
from tests.conftest import NOW
from tests.support.api import EVENTS, FAMILY, NANOS, TOKENS, client_for, seed, settings_for, usd

KINDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
# Keys written out over cost_log, independently of the rollups' expressions.
KEYS = {
    "model": FAMILY,
    "phase": "phase",
    "initiative": "initiative_id",
    "model_id": "CASE WHEN COALESCE(model_id, '') = '' THEN 'unknown' ELSE model_id END",
    "provider": "CASE WHEN COALESCE(provider, '') = '' THEN 'claude' ELSE provider END",
    "project": "project_id",
}
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Tokyo"]


def storage(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def sql_by_key(db: sqlite_utils.Database, key: str, where: str = "1",
               params: tuple = ()) -> dict[str, tuple[int, ...]]:
    """key -> (nano-USD, tokens, the four token kinds) straight from cost_log."""
    rows = db.execute(
        f"SELECT {key}, SUM({NANOS}), SUM({TOKENS}), {', '.join(f'SUM({k})' for k in KINDS)}"
        f" FROM cost_log WHERE {where} GROUP BY 1", params).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def assert_entry(entry: dict, sums: tuple[int, ...]) -> None:
    assert entry["cost"] == usd(sums[0])
    assert entry["tokens"] == sums[1]
    assert [entry[kind] for kind in KINDS] == list(sums[2:])


def month_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=tz)


def calendar_range(period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    this = month_start(NOW.astimezone(tz).date(), tz)
    following = month_start((this + timedelta(days=32)).date(), tz)
    previous = month_start((this - timedelta(days=1)).date(), tz)
    return (this, following) if period == "month" else (previous, this)


# -- breakdown: every dimension, token kinds, calendar months, chosen ranges ---------------------

@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("period", ["month", "last-month"])
@pytest.mark.parametrize("by", [*KEYS, "task"])
def test_breakdown_calendar_months(client: TestClient, seeded: sqlite_utils.Database, by: str,
                                   period: str, tz: str) -> None:
    zone = ZoneInfo(tz)
    lo, hi = calendar_range(period, zone)
    body = client.get("/api/cost/breakdown", params={"by": by, "period": period,
                                                     "tz": tz}).json()
    assert body["period"] == period
    assert body["start"] == lo.isoformat()
    assert body["end"] == (hi - timedelta(seconds=1)).astimezone(zone).isoformat()
    where = "timestamp >= ? AND timestamp < ?" + (" AND initiative_id <> ''"
                                                  if by == "initiative" else "")
    key = "project_id || '/' || task_id" if by == "task" else KEYS[by]
    expected = sql_by_key(seeded, key, where, (storage(lo), storage(hi)))
    assert set(body["breakdown"]) == set(expected)
    for name, sums in expected.items():
        assert_entry(body["breakdown"][name], sums)
    assert body["total_cost_usd"] == usd(sum(sums[0] for sums in expected.values()))


# Edges that matter: the Kolkata day edge at 18:30Z (one second either side), the New York
# fall-back day, a window shorter than a quarter hour, one inside a single day, and a range
# covering whole days plus partial days at both ends.
RANGES = [
    ("2026-11-10T18:29:59Z", "2026-11-10T18:30:00Z", "UTC"),
    ("2026-11-10T18:30:00Z", "2026-11-20T11:59:59Z", "UTC"),
    ("2026-11-01", "2026-11-01", "America/New_York"),
    ("2026-11-10", "2026-11-11", "Asia/Kolkata"),
    ("2026-10-31T22:50:00Z", "2026-11-01T02:05:00Z", "UTC"),
    ("2026-09-01", "2026-11-20", "America/Los_Angeles"),
    # A whole UTC month (tasks: read by month) between partial days and raw rows at both ends.
    ("2026-09-15T10:00:01Z", "2026-11-01T02:00:00Z", "UTC"),
    ("2026-11-20T11:59:59+00:00", "2026-11-20T11:59:59+00:00", "UTC"),
]


@pytest.mark.parametrize(("start", "end", "tz"), RANGES)
@pytest.mark.parametrize("project", [None, "alpha"])
@pytest.mark.parametrize("by", [*KEYS, "task"])
def test_breakdown_start_end(client: TestClient, seeded: sqlite_utils.Database, by: str,
                             project: str | None, start: str, end: str, tz: str) -> None:
    zone = ZoneInfo(tz)
    lo = (datetime.fromisoformat(start) if "T" in start
          else datetime.combine(date.fromisoformat(start), datetime.min.time(), zone))
    hi = (datetime.fromisoformat(end) if "T" in end
          else datetime.combine(date.fromisoformat(end) + timedelta(days=1),
                                datetime.min.time(), zone) - timedelta(seconds=1))
    query = {"by": by, "start": start, "end": end, "tz": tz} | (
        {"project": project} if project else {})
    body = client.get("/api/cost/breakdown", params=query).json()
    assert (body["period"], body["start"], body["end"]) == (
        "custom", lo.astimezone(zone).isoformat(), hi.astimezone(zone).isoformat())
    where, params = "timestamp >= ? AND timestamp <= ?", [storage(lo), storage(hi)]
    if project:
        where, params = where + " AND project_id = ?", [*params, project]
    if by == "initiative":
        where += " AND initiative_id <> ''"
    key = ("task_id" if project else "project_id || '/' || task_id") if by == "task" \
        else KEYS[by]
    expected = sql_by_key(seeded, key, where, tuple(params))
    assert set(body["breakdown"]) == set(expected)
    for name, sums in expected.items():
        assert_entry(body["breakdown"][name], sums)
    total = sum(sums[0] for sums in expected.values())
    assert body["total_cost_usd"] == usd(total)
    if total:
        assert sum(e["percent"] for e in body["breakdown"].values()) == pytest.approx(100)


@pytest.mark.parametrize("period", ["24h", "7d", "30d", "all"])
@pytest.mark.parametrize("by", ["model_id", "provider", "project", "model", "phase", "task"])
def test_breakdown_new_dimensions_and_token_kinds_over_rolling_windows(
        client: TestClient, seeded: sqlite_utils.Database, by: str, period: str) -> None:
    span = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    where, params = ("1", ()) if period == "all" else (
        "timestamp >= ?", (storage(NOW - span[period]),))
    key = "project_id || '/' || task_id" if by == "task" else KEYS[by]
    expected = sql_by_key(seeded, key, where, params)
    body = client.get("/api/cost/breakdown", params={"by": by, "period": period,
                                                     "limit": "2"}).json()
    ranked = sorted(expected.items(), key=lambda item: (-item[1][0], item[0]))
    assert list(body["breakdown"]) == [name for name, _ in ranked[:2]]
    for name, sums in ranked[:2]:
        assert_entry(body["breakdown"][name], sums)
    rest = [sum(sums[i] for _, sums in ranked[2:]) for i in range(6)]
    assert_entry(body["other"], tuple(rest))
    assert body["other"]["count"] == max(len(ranked) - 2, 0)


def test_breakdown_new_dimensions_by_hand(client: TestClient) -> None:
    providers = client.get("/api/cost/breakdown", params={"by": "provider"}).json()
    assert providers["breakdown"]["openai"]["cost"] == 0.07
    assert providers["breakdown"]["openai"]["tokens"] == 900
    ids = client.get("/api/cost/breakdown", params={"by": "model_id"}).json()["breakdown"]
    assert ids["claude-opus-4-1"]["cost"] == 2.0
    assert ids["claude-opus-4-1"]["input_tokens"] == 4000
    assert ids["unknown"]["cost"] == 0.05  # the two '' model ids: one reported, one unpriced
    projects = client.get("/api/cost/breakdown", params={"by": "project"}).json()
    assert list(projects["breakdown"]) == ["beta", "alpha"]


@pytest.mark.parametrize(("query", "message"), [
    ({"period": "7d", "start": "2026-11-01"}, "invalid range: use either period or start/end"),
    ({"period": "all", "end": "2026-11-01"}, "invalid range: use either period or start/end"),
    ({"start": "2026-11-02", "end": "2026-11-01"}, "invalid range: start is after end"),
    ({"start": "yesterday"}, "invalid start date: use YYYY-MM-DD or RFC3339"),
    ({"end": "2026-13-01"}, "invalid end date: use YYYY-MM-DD or RFC3339"),
    ({"period": "month", "tz": "Mars/Base"}, "invalid 'tz' parameter: unknown time zone"),
    ({"by": "models"}, "invalid 'by' parameter: use model, phase, task, initiative, model_id,"
                       " provider, or project"),
    ({"period": "last_month"}, "invalid 'period' parameter: use 24h, 7d, 30d, month,"
                               " last-month, or all"),
])
def test_breakdown_range_errors(client: TestClient, query: dict, message: str) -> None:
    response = client.get("/api/cost/breakdown", params=query)
    assert (response.status_code, response.json()) == (400, {"error": message})


# -- time series split ---------------------------------------------------------------------------

SERIES_KEYS = {"model": FAMILY, "phase": "phase", "project": "project_id"}


def local_buckets(first: date, last: date, tz: ZoneInfo) -> list[tuple[str, datetime,
                                                                        datetime]]:
    days = []
    day = first
    while day <= last:
        start = datetime.combine(day, datetime.min.time(), tz)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
        days.append((day.isoformat(), start, end))
        day += timedelta(days=1)
    return days


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("project", [None, "beta"])
@pytest.mark.parametrize("by", ["model", "phase", "project"])
def test_timeseries_by_splits_each_point(client: TestClient, seeded: sqlite_utils.Database,
                                         by: str, project: str | None, tz: str) -> None:
    zone = ZoneInfo(tz)
    query = {"granularity": "day", "start": "2026-09-14", "end": "2026-11-20", "by": by,
             "tz": tz} | ({"project": project} if project else {})
    body = client.get("/api/cost/timeseries", params=query).json()
    days = local_buckets(date(2026, 9, 14), date(2026, 11, 20), zone)
    assert [point["date"] for point in body["series"]] == [label for label, _, _ in days]
    for point, (_, lo, hi) in zip(body["series"], days, strict=True):
        where, params = "timestamp >= ? AND timestamp < ?", [storage(lo), storage(hi)]
        if project:
            where, params = where + " AND project_id = ?", [*params, project]
        expected = sql_by_key(seeded, SERIES_KEYS[by], where, tuple(params))
        assert point["breakdown"] == {key: usd(sums[0]) for key, sums in expected.items()
                                      if sums[0]}
        totals = [sum(sums[i] for sums in expected.values()) for i in range(6)]
        assert_entry(point, tuple(totals))
        assert sum(point["breakdown"].values()) == pytest.approx(point["cost"], abs=1e-9)


def test_timeseries_by_hour_and_month(client: TestClient, seeded: sqlite_utils.Database) -> None:
    hours = client.get("/api/cost/timeseries", params={
        "granularity": "hour", "start": "2026-11-01", "end": "2026-11-01",
        "tz": "America/New_York", "by": "model"}).json()["series"]
    assert len(hours) == 25
    repeated = [point for point in hours if point["date"] == "2026-11-01 01:00"]
    assert [point["breakdown"] for point in repeated] == [{"unknown": 0.05}, {"gpt-5": 0.07}]
    months = client.get("/api/cost/timeseries", params={
        "granularity": "month", "start": "2026-09-01", "end": "2026-11-30",
        "by": "project"}).json()["series"]
    for point, (lo, hi) in zip(months, [("2026-09-01", "2026-10-01"), ("2026-10-01", "2026-11-01"),
                                        ("2026-11-01", "2026-12-01")], strict=True):
        expected = sql_by_key(seeded, "project_id", "timestamp >= ? AND timestamp < ?",
                              (lo, hi))
        assert point["breakdown"] == {key: usd(sums[0]) for key, sums in expected.items()
                                      if sums[0]}


def test_timeseries_model_filter_with_split_and_unknown_family(client: TestClient) -> None:
    body = client.get("/api/cost/timeseries", params={
        "start": "2026-11-20", "end": "2026-11-20", "model": "opus", "by": "project"}).json()
    assert body["series"][0]["breakdown"] == {"alpha": 1.25, "beta": 0.6}
    assert body["series"][0]["model"] == "opus"
    body = client.get("/api/cost/timeseries", params={
        "start": "2026-11-19", "end": "2026-11-20", "model": "mistral"})
    assert body.status_code == 200
    assert [(p["cost"], p["tokens"], p["input_tokens"]) for p in body.json()["series"]] == [
        (0.0, 0, 0), (0.0, 0, 0)]


@pytest.mark.parametrize(("query", "message"), [
    ({"by": "task"}, "invalid 'by' parameter: use model, phase, or project"),
    ({"by": "phase", "model": "opus"},
     "invalid 'by' parameter: by=phase cannot be combined with model"),
])
def test_timeseries_by_errors(client: TestClient, query: dict, message: str) -> None:
    response = client.get("/api/cost/timeseries", params=query)
    assert (response.status_code, response.json()) == (400, {"error": message})


# -- projects ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tz", ZONES)
def test_projects(client: TestClient, seeded: sqlite_utils.Database, tz: str) -> None:
    zone = ZoneInfo(tz)
    body = client.get("/api/cost/projects", params={"tz": tz}).json()
    expected = sql_by_key(seeded, "project_id")
    lo, hi = calendar_range("month", zone)
    month = sql_by_key(seeded, "project_id", "timestamp >= ? AND timestamp < ?",
                       (storage(lo), storage(hi)))
    ranked = sorted(expected.items(), key=lambda item: (-item[1][0], item[0]))
    assert [entry["project_id"] for entry in body["projects"]] == [key for key, _ in ranked]
    for entry in body["projects"]:
        sums = expected[entry["project_id"]]
        assert entry["total_cost_usd"] == usd(sums[0])
        assert entry["total_tokens"] == sums[1]
        assert [entry[kind] for kind in KINDS] == list(sums[2:])
        assert entry["month_to_date_usd"] == usd(month.get(entry["project_id"], (0,))[0])
        events = [e for e in EVENTS if e["project_id"] == entry["project_id"]]
        assert entry["events"] == len(events)
        instants = sorted(datetime.fromisoformat(e["timestamp"]) for e in events)
        assert entry["first_event"] == instants[0].astimezone(zone).isoformat()
        assert entry["last_event"] == instants[-1].astimezone(zone).isoformat()


def test_projects_empty_and_bad_tz(db: sqlite_utils.Database, db_path: Path,
                                   tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path)) as client:
        assert client.get("/api/cost/projects").json() == {"projects": []}
        response = client.get("/api/cost/projects", params={"tz": "Nowhere/Else"})
    assert (response.status_code, response.json()) == (
        400, {"error": "invalid 'tz' parameter: unknown time zone"})


# -- initiative token kinds ----------------------------------------------------------------------

@pytest.mark.parametrize("initiative", ["INIT-A", "INIT-B"])
def test_initiative_token_kinds(client: TestClient, seeded: sqlite_utils.Database,
                                initiative: str) -> None:
    body = client.get(f"/api/initiatives/{initiative}/cost").json()
    expected = sql_by_key(seeded, "project_id || '|' || task_id", "initiative_id = ?",
                          (initiative,))
    assert len(body["by_task"]) == len(expected)
    for entry in body["by_task"]:
        assert_entry(entry, expected[f"{entry['project_id']}|{entry['task_id']}"])
    for index, kind in enumerate(KINDS, 2):
        assert body[kind] == sum(sums[index] for sums in expected.values())


# -- receipts ------------------------------------------------------------------------------------

def test_receipt_of_every_event(client: TestClient, seeded: sqlite_utils.Database) -> None:
    rows = seeded.execute("SELECT event_id FROM cost_log ORDER BY id").fetchall()
    assert len(rows) == len(EVENTS)
    for (event_id,), sent in zip(rows, EVENTS, strict=True):
        body = client.get(f"/api/cost/events/{event_id}").json()
        assert set(body) == {*export.COLUMNS, *export.PRICING_COLUMNS, "cost_parts", "revision",
                             "voided", "revisions"}
        assert (body["revision"], body["voided"], body["revisions"]) == (0, None, [])
        assert body["event_id"] == event_id
        for field in ("project_id", "task_id", "phase"):
            assert body[field] == sent[field]
        assert body["model_id"] == sent["model"]
        assert body["provider"] == sent.get("provider", "claude")
        assert body["initiative_id"] == sent.get("initiative_id", "")
        assert body["timestamp"] == datetime.fromisoformat(sent["timestamp"]).astimezone(
            UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for kind in KINDS:
            assert body[kind] == sent.get(kind, 0)
        if "cost_usd" in sent:
            assert (body["cost_usd"], body["cost_source"]) == (sent["cost_usd"], "reported")
        assert body["total_tokens"] == sent.get("total_tokens", sum(sent.get(k, 0)
                                                                    for k in KINDS))
    unknown = client.get(f"/api/cost/events/{rows[3][0]}").json()
    assert unknown["model"] == "unknown"


def test_receipt_not_found(client: TestClient) -> None:
    response = client.get("/api/cost/events/no-such-event")
    assert (response.status_code, response.json()) == (404, {"error": "event not found"})


# -- export --------------------------------------------------------------------------------------

RISKY = [
    {"event_id": "risk-1", "project_id": "=HYPERLINK(\"x\")", "task_id": "+1", "phase": "-2",
     "model": "@sum", "cost_usd": 0.5, "timestamp": "2026-11-18T10:00:00Z"},
    {"event_id": "risk-2", "project_id": "alpha", "task_id": "\tT", "phase": "\rP",
     "model": "claude-opus-4-5", "cost_usd": 0.25, "initiative_id": "a,b \"q\"",
     "timestamp": "2026-11-18T10:00:00Z"},
]
HEADER = ("event_id,timestamp,project_id,task_id,phase,iteration,model,model_id,provider,"
          "initiative_id,input_tokens,output_tokens,cache_creation_tokens,cache_read_tokens,"
          "total_tokens,cost_usd,cost_source,duration_ms")


def sql_rows(db: sqlite_utils.Database, where: str = "1", params: tuple = ()) -> list[dict]:
    """Rows straight from cost_log, ordered by timestamp then event_id."""
    cursor = db.execute(f"SELECT * FROM cost_log WHERE {where} ORDER BY timestamp, event_id",
                        params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_export_csv(client: TestClient, seeded: sqlite_utils.Database) -> None:
    seed(seeded, RISKY)
    response = client.get("/api/cost/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="costlog-export.csv"')
    assert response.text.split("\r\n", 1)[0] == HEADER
    parsed = list(csv.DictReader(io.StringIO(response.text, newline="")))
    expected = sql_rows(seeded)
    assert [row["event_id"] for row in parsed] == [row["event_id"] for row in expected]
    for row, stored in zip(parsed, expected, strict=True):
        assert row["timestamp"] == stored["timestamp"].replace(" ", "T") + "Z"
        assert float(row["cost_usd"]) == stored["cost_usd"]
        for kind in (*KINDS, "total_tokens", "iteration", "duration_ms"):
            assert int(row[kind]) == stored[kind]
        if not row["event_id"].startswith("risk"):
            for field in ("project_id", "task_id", "phase", "model_id", "provider",
                          "initiative_id", "cost_source"):
                assert row[field] == stored[field]
    risky = {row["event_id"]: row for row in parsed if row["event_id"].startswith("risk")}
    assert [risky["risk-1"][f] for f in ("project_id", "task_id", "phase", "model_id")] == [
        "'=HYPERLINK(\"x\")", "'+1", "'-2", "'@sum"]
    assert [risky["risk-2"][f] for f in ("task_id", "phase", "initiative_id")] == [
        "'\tT", "'\rP", "a,b \"q\""]


def test_export_jsonl_equals_receipts(client: TestClient, seeded: sqlite_utils.Database) -> None:
    response = client.get("/api/cost/export", params={"format": "jsonl"})
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["event_id"] for line in lines] == [row["event_id"] for row in
                                                    sql_rows(seeded)]
    for line in lines:
        receipt = client.get(f"/api/cost/events/{line['event_id']}").json()
        assert line == {column: receipt[column]
                        for column in (*export.COLUMNS, *export.PRICING_COLUMNS, "cost_parts")}


@pytest.mark.parametrize(("query", "where", "params"), [
    ({"start": "2026-11-10", "end": "2026-11-19"}, "timestamp >= ? AND timestamp <= ?",
     ("2026-11-10 00:00:00", "2026-11-19 23:59:59")),
    ({"start": "2026-11-10", "tz": "Asia/Kolkata"}, "timestamp >= ?", ("2026-11-09 18:30:00",)),
    ({"end": "2026-11-01T02:00:00Z", "project": "beta"}, "timestamp <= ? AND project_id = ?",
     ("2026-11-01 02:00:00", "beta")),
])
def test_export_range_and_project(client: TestClient, seeded: sqlite_utils.Database,
                                  query: dict, where: str, params: tuple) -> None:
    response = client.get("/api/cost/export", params=query | {"format": "jsonl"})
    assert [json.loads(line)["event_id"] for line in response.text.splitlines()] == [
        row["event_id"] for row in sql_rows(seeded, where, params)]


def test_export_many_rows_cross_chunks(db: sqlite_utils.Database, db_path: Path,
                                       tmp_path: Path) -> None:
    events = [{"event_id": f"e{i:05d}", "project_id": "p", "task_id": f"T{i % 7}",
               "phase": "spec", "model": "claude-haiku-4-5", "cost_usd": i / 1000,
               "timestamp": f"2026-11-{1 + i % 18:02d}T10:00:00Z"} for i in range(2500)]
    seed(db, events)
    with client_for(settings_for(db_path, tmp_path)) as client:
        text = client.get("/api/cost/export").text
    lines = text.splitlines()
    assert len(lines) == 2501
    assert [line.split(",", 1)[0] for line in lines[1:]] == [
        row["event_id"] for row in sql_rows(db)]


@pytest.mark.parametrize(("query", "message"), [
    ({"format": "xlsx"}, "invalid 'format' parameter: use csv or jsonl"),
    ({"start": "2026-11-02", "end": "2026-11-01"}, "invalid range: start is after end"),
    ({"start": "soon"}, "invalid start date: use YYYY-MM-DD or RFC3339"),
    ({"project": ""}, "invalid 'project' parameter"),
])
def test_export_errors(client: TestClient, query: dict, message: str) -> None:
    response = client.get("/api/cost/export", params=query)
    assert (response.status_code, response.json()) == (400, {"error": message})


# -- exactly once --------------------------------------------------------------------------------

def test_new_reads_count_each_event_once(client: TestClient,
                                         seeded: sqlite_utils.Database) -> None:
    paths = ["/api/cost/projects", "/api/cost/breakdown?by=provider&period=month",
             "/api/cost/breakdown?by=model_id&start=2026-09-01&end=2026-11-20",
             "/api/cost/timeseries?by=project&start=2026-10-01&end=2026-11-20",
             "/api/cost/timeseries?by=model&start=2026-09-01&end=2026-11-20"
             "&tz=America/New_York",
             "/api/cost/breakdown?by=task&start=2026-09-01&end=2026-11-20",
             "/api/cost/export?format=jsonl"]
    before = [client.get(path).content for path in paths]
    seed(seeded)  # the same events, delivered again
    assert [client.get(path).content for path in paths] == before


def test_projects_one_project(client: TestClient, seeded: sqlite_utils.Database) -> None:
    body = client.get("/api/cost/projects", params={"project": "beta"}).json()
    assert [entry["project_id"] for entry in body["projects"]] == ["beta"]
    assert body["projects"][0]["total_cost_usd"] == usd(sql_by_key(seeded, "project_id")[
        "beta"][0])
