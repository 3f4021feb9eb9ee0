"""The store: the one idempotent write path and the seed's operations."""

import json
import math
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import genai_prices
import pytest
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from costlog import clock
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store import queries, rollups
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.orchestrator import (
    get_budget,
    get_budget_status,
    get_cost_aggregates,
    get_cost_by_model,
    get_cost_timeseries,
    get_initiative_cost,
    record_cost_extended,
    set_budget,
    update_cost_aggregate,
)
from costlog.store.queries import read_counters
from costlog.store.write import check_aggregates, rebuild_aggregates, record_events
from tests.conftest import FIXTURES, NOW
from tests.support.api import without_token_kinds
from tests.support.events import wire_event

PRICES = PriceTable()


def event(**fields: Any):
    payload = wire_event(event_id=..., task_id="T-1", model="claude-sonnet-4-5", cost_usd=1.0,
                         timestamp="2026-11-19T10:00:00Z", input_tokens=..., output_tokens=...)
    return parse_event({**payload, **fields}, now=NOW)


def record(db: sqlite_utils.Database, *events_fields: dict[str, Any]):
    return record_events(db, [event(**fields) for fields in events_fields], PRICES)


def test_record_cost_extended_all_fields(db: sqlite_utils.Database) -> None:
    result = record_cost_extended(
        db, event_id="evt-1", project_id="/home/dev/webapp", task_id="TASK-7", phase="review",
        model="claude-opus-4-5-20251101", provider="claude", iteration=2, input_tokens=1000,
        output_tokens=200, cache_creation_tokens=300, cache_read_tokens=4000, total_tokens=5500,
        cost_usd=0.75, duration_ms=12_345, initiative_id="INIT-1",
        timestamp="2026-11-19T23:30:15+02:00",
    )
    assert (result.inserted, result.duplicates) == (1, 0)
    row = dict(db.query("SELECT * FROM cost_log").__next__())
    row.pop("id")
    assert row == {
        "event_id": "evt-1", "project_id": "/home/dev/webapp", "task_id": "TASK-7",
        "phase": "review", "model": "opus", "model_id": "claude-opus-4-5-20251101",
        "provider": "claude", "iteration": 2, "input_tokens": 1000, "output_tokens": 200,
        "cache_creation_tokens": 300, "cache_read_tokens": 4000, "total_tokens": 5500,
        "cost_usd": 0.75, "cost_source": "reported", "duration_ms": 12_345,
        "initiative_id": "INIT-1", "timestamp": "2026-11-19 21:30:15",
        "revision": 0, "voided_at": None, "void_reason": None,
        "cache_creation_1h_tokens": 0, "web_search_requests": 0, "service_tier": "",
        "price_source": "", "cost_input_usd": None, "cost_output_usd": None,
        "cost_cache_read_usd": None, "cost_cache_write_usd": None,
        "cost_cache_write_1h_usd": None, "cost_web_search_usd": None,
    }


def test_record_events_is_idempotent_by_event_id(db: sqlite_utils.Database) -> None:
    batch = [event(event_id=f"e{i}", cost_usd=0.1 * i) for i in range(5)]
    assert record_events(db, batch, PRICES).inserted == 5
    again = record_events(db, batch + [event(event_id="e9", cost_usd=2.5)], PRICES)
    assert (again.inserted, again.duplicates) == (1, 5)
    assert db.execute("SELECT COUNT(*), SUM(cost_usd) FROM cost_log").fetchone() == (6, 3.5)
    assert db.execute(
        "SELECT SUM(cost_nanos), SUM(events) FROM rollup_model_q WHERE project_id = '*'"
    ).fetchone() == (3_500_000_000, 6)
    assert read_counters(db) == {"events_ingested": 6, "duplicates_ignored": 5,
                                 "events_unpriced": 0}
    assert list(check_aggregates(db)) == []


def test_computed_and_unpriced_costs(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "a", "cost_usd": None, "model": "claude-haiku-4-5",
                "input_tokens": 1_000_000, "output_tokens": 100_000},
           {"event_id": "b", "cost_usd": None, "model": "in-house-7b", "provider": "local",
            "input_tokens": 10})
    assert db.execute(
        "SELECT event_id, model, cost_usd, cost_source FROM cost_log ORDER BY event_id"
    ).fetchall() == [("a", "haiku", 1.5, "computed"), ("b", "in-house-7b", 0.0, "unpriced")]
    assert read_counters(db)["events_unpriced"] == 1


def test_unpriced_counter_counts_new_rows_only(db: sqlite_utils.Database) -> None:
    unpriced = {"cost_usd": None, "model": "in-house-7b", "provider": "local"}
    record(db, {"event_id": "a", **unpriced}, {"event_id": "b", "cost_usd": 1.0})
    # A batch with duplicates: only the database knows which rows are new.
    record(db, {"event_id": "a", **unpriced}, {"event_id": "c", **unpriced},
           {"event_id": "c", **unpriced}, {"event_id": "d", "cost_usd": 1.0})
    assert read_counters(db) == {"events_ingested": 4, "duplicates_ignored": 2,
                                 "events_unpriced": 2}


def test_get_cost_by_model_groups_correctly(db: sqlite_utils.Database) -> None:
    record(db,
           {"event_id": "1", "model": "claude-opus-4-5", "cost_usd": 2.0, "total_tokens": 10},
           {"event_id": "2", "model": "claude-3-opus-20240229", "cost_usd": 3.0,
            "total_tokens": 20},
           {"event_id": "3", "model": "claude-sonnet-4-5", "cost_usd": 4.0, "total_tokens": 30},
           {"event_id": "4", "model": "", "cost_usd": 1.0, "total_tokens": 40},
           {"event_id": "5", "model": "claude-haiku-4-5", "cost_usd": 0.0, "total_tokens": 50,
            "project_id": "other"})
    by_model = without_token_kinds(get_cost_by_model(db))
    assert by_model == {
        "opus": {"cost": 5.0, "tokens": 30, "percent": 50.0},
        "sonnet": {"cost": 4.0, "tokens": 30, "percent": 40.0},
        "unknown": {"cost": 1.0, "tokens": 40, "percent": 10.0},
        "haiku": {"cost": 0.0, "tokens": 50, "percent": 0.0},
    }
    expected = dict(db.execute("SELECT model, SUM(cost_usd) FROM cost_log GROUP BY model"))
    assert {k: v["cost"] for k, v in by_model.items() if k != "unknown"} == {
        k: v for k, v in expected.items() if k != "unknown"}
    assert set(get_cost_by_model(db, "other")) == {"haiku"}


def test_get_cost_timeseries_daily_granularity(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "1", "timestamp": "2026-11-16T08:00:00Z", "cost_usd": 1.25},
           {"event_id": "2", "timestamp": "2026-11-16T23:59:59Z", "cost_usd": 0.5},
           {"event_id": "3", "timestamp": "2026-11-18T00:00:00Z", "cost_usd": 2.0})
    series = get_cost_timeseries(db, "day", start="2026-11-15", end="2026-11-18")
    assert [(p["date"], p["cost"]) for p in series] == [
        ("2026-11-15", 0.0), ("2026-11-16", 1.75), ("2026-11-17", 0.0), ("2026-11-18", 2.0)]
    assert series[1]["start"] == "2026-11-16T00:00:00+00:00"


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [
        ("day", [("2026-10-30", 1.0), ("2026-10-31", 0.0), ("2026-11-01", 2.0),
                 ("2026-11-02", 4.0)]),
        ("week", [("2026-10-26", 3.0), ("2026-11-02", 4.0)]),
        ("month", [("2026-10-01", 1.0), ("2026-11-01", 6.0)]),
    ],
)
def test_get_cost_timeseries_granularities(db: sqlite_utils.Database, granularity: str,
                                           expected: list[tuple[str, float]]) -> None:
    record(db, {"event_id": "1", "timestamp": "2026-10-30T12:00:00Z", "cost_usd": 1.0},
           {"event_id": "2", "timestamp": "2026-11-01T00:00:00Z", "cost_usd": 2.0},
           {"event_id": "3", "timestamp": "2026-11-02T09:00:00Z", "cost_usd": 4.0})
    series = get_cost_timeseries(db, granularity, start="2026-10-30", end="2026-11-02")
    assert [(p["date"], p["cost"]) for p in series] == expected


def test_cost_aggregate_upsert(db: sqlite_utils.Database) -> None:
    update_cost_aggregate(db, "proj", "opus", "spec", "2026-11-01", total_cost_usd=1.5,
                          turn_count=3)
    update_cost_aggregate(db, "proj", "opus", "spec", "2026-11-01", total_cost_usd=2.5,
                          turn_count=4, task_count=2)
    rows = get_cost_aggregates(db, "proj")
    assert [(r["date"], r["total_cost_usd"], r["turn_count"], r["task_count"]) for r in rows] == [
        ("2026-11-01", 2.5, 4, 2)]
    with pytest.raises(ValueError, match="^bogus: not a cost_aggregates value$"):
        update_cost_aggregate(db, "proj", "opus", "spec", "2026-11-01", bogus=1)


def test_cost_aggregates_follow_writes(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "1", "task_id": "A", "cost_usd": 1.0, "input_tokens": 5,
                "cache_read_tokens": 7},
           {"event_id": "2", "task_id": "A", "cost_usd": 2.0})
    record(db, {"event_id": "3", "task_id": "B", "cost_usd": 4.0},
           {"event_id": "4", "task_id": "A", "cost_usd": 8.0})
    rows = get_cost_aggregates(db, start_date="2026-11-19", end_date="2026-11-19")
    assert [(r["model"], r["phase"], r["total_cost_usd"], r["total_input_tokens"],
             r["total_cache_tokens"], r["turn_count"], r["task_count"]) for r in rows] == [
        ("sonnet", "implement", 15.0, 5, 7, 4, 2)]
    # The key table takes task A's two rows of one write, added row by row, once.
    assert db.execute("SELECT task_id FROM cost_aggregates_tasks ORDER BY task_id").fetchall() \
        == [("A",), ("B",)]
    assert list(check_aggregates(db)) == []


def test_budget_crud(db: sqlite_utils.Database) -> None:
    assert get_budget(db, "proj") is None
    set_budget(db, "proj", 100.0, 75)
    assert get_budget(db, "proj") == {"project_id": "proj", "monthly_limit_usd": 100.0,
                                      "alert_threshold_percent": 75, "timezone": "UTC",
                                      "hard_limit": False}
    set_budget(db, "proj", 100.0, 75, timezone="Asia/Kolkata", hard_limit=True)
    # Left out, the zone and the hard limit stay as they were.
    set_budget(db, "proj", 100.0, 75)
    assert get_budget(db, "proj") == {"project_id": "proj", "monthly_limit_usd": 100.0,
                                      "alert_threshold_percent": 75,
                                      "timezone": "Asia/Kolkata", "hard_limit": True}
    set_budget(db, "proj", 250.0, 0)
    assert get_budget(db, "proj")["alert_threshold_percent"] == 80
    set_budget(db, None, 1000.0)
    assert get_budget(db)["project_id"] == "*"
    assert db.execute("SELECT COUNT(*) FROM cost_budgets").fetchone() == (2,)
    with pytest.raises(ValueError, match="^monthly_limit_usd must be non-negative$"):
        set_budget(db, "proj", float("nan"))
    with pytest.raises(ValueError, match="^alert_threshold_percent must be between 0 and 100$"):
        set_budget(db, "proj", 1.0, 101)


def test_budget_status(db: sqlite_utils.Database) -> None:
    # now = 2026-11-20 12:00Z: 19.5 of 30 days elapsed in UTC.
    record(db, {"event_id": "oct", "timestamp": "2026-10-31T23:59:59Z", "cost_usd": 100.0},
           {"event_id": "n1", "timestamp": "2026-11-01T00:00:00Z", "cost_usd": 30.0},
           {"event_id": "n2", "timestamp": "2026-11-20T11:00:00Z", "cost_usd": 10.5},
           {"event_id": "x", "project_id": "other", "timestamp": "2026-11-02T00:00:00Z",
            "cost_usd": 5.0})
    set_budget(db, "proj", 60.0, 50)
    status = get_budget_status(db, "proj")
    assert status == {
        "project": "proj", "month": "2026-11", "monthly_limit_usd": 60.0,
        "alert_threshold_percent": 50, "timezone": "UTC", "hard_limit": False,
        "current_spent_usd": 40.5, "remaining_usd": 19.5,
        "percent_used": 67.5, "projected_monthly": 40.5 / (19.5 / 30),
        "days_remaining": 10, "on_track": False, "at_alert_threshold": True,
        "over_budget": False,
    }
    # In New York the October row (19:59 local on Oct 31) stays in October, and "n1" too.
    ny = get_budget_status(db, "proj", tz="America/New_York")
    assert (ny["current_spent_usd"], ny["month"]) == (10.5, "2026-11")
    # No budget: limit 0, defaults, the live spend and its projection.
    assert get_budget_status(db) | {"projected_monthly": None} == {
        "project": "*", "month": "2026-11", "monthly_limit_usd": 0.0,
        "alert_threshold_percent": 80, "timezone": "UTC", "hard_limit": False,
        "current_spent_usd": 45.5, "remaining_usd": 0.0,
        "percent_used": 0.0, "projected_monthly": None, "days_remaining": 10, "on_track": True,
        "at_alert_threshold": False, "over_budget": False}


def test_budget_projection_counts_at_least_one_day(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "1", "timestamp": "2026-11-01T00:30:00Z", "cost_usd": 3.0})
    status = get_budget_status(db, "proj", now=datetime(2026, 11, 1, 1, 0, tzinfo=UTC))
    assert status["projected_monthly"] == pytest.approx(90.0)
    assert status["days_remaining"] == 29


def test_get_initiative_cost(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "1", "initiative_id": "I-1", "task_id": "A", "cost_usd": 1.0,
                "total_tokens": 10, "phase": "spec", "model": "claude-opus-4"},
           {"event_id": "2", "initiative_id": "I-1", "task_id": "B", "cost_usd": 3.0,
            "total_tokens": 20, "phase": "test"},
           {"event_id": "3", "initiative_id": "I-1", "task_id": "A", "cost_usd": 0.5,
            "total_tokens": 5, "phase": "test"},
           {"event_id": "4", "initiative_id": "I-2", "task_id": "C", "cost_usd": 9.0})
    assert without_token_kinds(get_initiative_cost(db, "I-1")) == {
        "initiative_id": "I-1", "total_cost_usd": 4.5, "total_tokens": 35,
        "by_task": [{"task_id": "B", "project_id": "proj", "cost": 3.0, "tokens": 20},
                    {"task_id": "A", "project_id": "proj", "cost": 1.5, "tokens": 15}],
        "by_model": {"opus": 1.0, "sonnet": 3.5},
        "by_phase": {"spec": 1.0, "test": 3.5},
    }
    assert get_initiative_cost(db, "nope") is None
    assert get_initiative_cost(db, "I-1", project_id="elsewhere") is None


def test_global_db_cost_workflow(tmp_path: Path) -> None:
    path = tmp_path / "global.db"
    shutil.copy(FIXTURES / "orc-global-v1.db", path)
    db = connect(path)
    migrate(db)
    old_total = db.execute("SELECT SUM(cost_usd) FROM cost_log").fetchone()[0]
    record(db, {"event_id": "new-1", "project_id": "/home/dev/cli", "cost_usd": 10.0,
                "model": "claude-opus-4-5", "timestamp": "2026-11-20T09:00:00Z"})
    by_model = get_cost_by_model(db)
    assert set(by_model) == {"unknown", "opus"}
    assert by_model["opus"]["cost"] == 10.0
    assert by_model["unknown"]["cost"] == pytest.approx(old_total, abs=1e-9)
    set_budget(db, None, 500.0)
    (november,) = db.execute(
        "SELECT SUM(cost_usd) FROM cost_log WHERE timestamp >= '2026-11-01'").fetchone()
    status = get_budget_status(db)
    assert status["current_spent_usd"] == pytest.approx(november, abs=1e-9)
    assert status["percent_used"] == pytest.approx(november / 5, abs=1e-9)
    assert list(check_aggregates(db)) == []
    db.close()


def test_aggregates_check_reports_and_rebuild_repairs_drift(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "1", "cost_usd": 1.0}, {"event_id": "2", "task_id": "T-2"})
    db.execute("UPDATE rollup_task SET cost_nanos = cost_nanos + 5 WHERE task_id = 'T-2'")
    db.execute("DELETE FROM rollup_phase_q WHERE project_id = '*'")
    db.conn.commit()
    assert [str(d) for d in check_aggregates(db)] == [
        "rollup_phase_q */2026-11-19 10:00/implement cost_nanos: expected 2000000000, found 0",
        "rollup_phase_q */2026-11-19 10:00/implement events: expected 2, found 0",
        "rollup_task proj/T-2 cost_nanos: expected 1000000000, found 1000000005",
    ]
    rebuild_aggregates(db)
    assert list(check_aggregates(db)) == []


def test_aggregates_check_covers_the_task_count_keys(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "1", "task_id": "A"}, {"event_id": "2", "task_id": "B"})
    db.execute("DELETE FROM cost_aggregates_tasks WHERE task_id = 'A'")
    db.execute("INSERT INTO cost_aggregates_tasks VALUES ('proj', 'sonnet', 'spec', 'x', 'Z')")
    db.conn.commit()
    assert [str(d) for d in check_aggregates(db)] == [
        "cost_aggregates_tasks proj/sonnet/implement/2026-11-19/A rows: expected 1, found 0",
        "cost_aggregates_tasks proj/sonnet/spec/x/Z rows: expected 0, found 1",
    ]
    rebuild_aggregates(db)
    assert list(check_aggregates(db)) == []
    # Task A's next row in the same bucket does not count it again.
    record(db, {"event_id": "3", "task_id": "A"})
    assert [r["task_count"] for r in get_cost_aggregates(db)] == [2]


def test_a_failed_write_leaves_nothing_staged_or_written(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "1"})
    staged = f"SELECT COUNT(*) FROM {rollups.STAGED_ROWS}"
    assert db.execute(staged).fetchone() == (0,)
    # A rollup refuses the next write after its rows were staged and other rollups added.
    db.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.rollup_task"
               " BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError, match="^refused$"):
        record(db, {"event_id": "2", "task_id": "T-2"})
    db.execute("DROP TRIGGER refuse")
    assert db.execute(staged).fetchone() == (0,)
    assert db.execute("SELECT event_id FROM cost_log").fetchall() == [("1",)]
    assert list(check_aggregates(db)) == []
    record(db, {"event_id": "2", "task_id": "T-2"})
    assert [(r["task_count"], r["turn_count"]) for r in get_cost_aggregates(db)] == [(2, 2)]
    assert list(check_aggregates(db)) == []


EVENTS = st.builds(
    dict,
    event_id=st.sampled_from([f"e{i}" for i in range(12)]),
    project_id=st.sampled_from(["p1", "p2"]),
    task_id=st.sampled_from(["A", "B", "C"]),
    phase=st.sampled_from(["spec", "test"]),
    model=st.sampled_from(["claude-opus-4-5", "claude-haiku-4-5", "", "gpt-5"]),
    initiative_id=st.sampled_from(["", "I-1"]),
    input_tokens=st.integers(0, 10**6),
    cost_usd=st.one_of(st.none(), st.floats(0, 50, allow_nan=False)),
    timestamp=st.sampled_from(["2026-11-01T00:14:59Z", "2026-11-01T00:15:00Z",
                               "2026-10-31T23:59:00-05:00", "2026-11-19T10:00:00Z"]),
)


@given(batches=st.lists(st.lists(EVENTS, min_size=1, max_size=8), min_size=1, max_size=6))
def test_rollups_equal_recomputation_under_duplicates(tmp_path_factory, batches) -> None:
    db = connect(tmp_path_factory.mktemp("prop") / "p.db")
    migrate(db)
    for batch in batches:
        record_events(db, [parse_event(e, now=clock.now()) for e in batch], PRICES)
    ids = {e["event_id"] for batch in batches for e in batch}
    assert db.execute("SELECT COUNT(*) FROM cost_log").fetchone() == (len(ids),)
    assert list(check_aggregates(db)) == []
    counters = read_counters(db)
    assert counters["events_ingested"] == len(ids)
    assert counters["duplicates_ignored"] == sum(map(len, batches)) - len(ids)
    db.close()


def test_budget_status_with_a_sub_nano_limit_stays_finite(db: sqlite_utils.Database) -> None:
    # The API refuses such a limit; a row written another way must still give valid JSON.
    record(db, {"event_id": "n1", "timestamp": "2026-11-02T00:00:00Z", "cost_usd": 1.0})
    db.execute("INSERT INTO cost_budgets (project_id, monthly_limit_usd, alert_threshold_percent)"
               " VALUES ('proj', 5e-324, 80)")
    status = get_budget_status(db, "proj")
    assert status["percent_used"] == sys.float_info.max
    assert (status["over_budget"], status["at_alert_threshold"]) == (True, True)
    json.dumps(status, allow_nan=False)  # raises on Infinity or NaN


# --- how each cost was made ------------------------------------------------------------------

CATALOGUE = f"genai-prices {genai_prices.__version__}"
#: Sonnet 4.5 at list price: 5-minute writes $3.75, 1-hour $6, reads $0.30, searches $10/1,000.
PRICED = {"model": "claude-sonnet-4-5-20250929", "cost_usd": None, "input_tokens": 1_000,
          "output_tokens": 2_000, "cache_creation_tokens": 10_000,
          "cache_creation_1h_tokens": 4_000, "cache_read_tokens": 50_000,
          "web_search_requests": 2, "service_tier": "standard"}
PARTS = {"input": 0.003, "output": 0.03, "cache_read": 0.015, "cache_write": 0.0225,
         "cache_write_1h": 0.024, "web_search": 0.02}


def test_a_receipt_tells_how_its_cost_was_made(db: sqlite_utils.Database) -> None:
    record(db, {"event_id": "computed", **PRICED},
           {"event_id": "reported", **PRICED, "cost_usd": 0.5},
           {"event_id": "unpriced", **PRICED, "model": "in-house-7b", "provider": "local"})
    computed = queries.event(db, "computed")
    assert computed is not None
    assert {key: computed[key] for key in ("cache_creation_1h_tokens", "web_search_requests",
                                           "service_tier", "price_source", "cost_source")} == {
        "cache_creation_1h_tokens": 4_000, "web_search_requests": 2, "service_tier": "standard",
        "price_source": CATALOGUE, "cost_source": "computed"}
    assert computed["cost_parts"] == pytest.approx(PARTS, rel=1e-12)
    assert computed["cost_usd"] == math.fsum(computed["cost_parts"].values())
    assert computed["cost_usd"] == pytest.approx(0.1145, rel=1e-12)
    for event_id, cost, source in (("reported", 0.5, "reported"), ("unpriced", 0.0, "unpriced")):
        receipt = queries.event(db, event_id)
        assert receipt is not None
        assert (receipt["cost_usd"], receipt["cost_source"], receipt["price_source"],
                receipt["cost_parts"], receipt["cache_creation_1h_tokens"]) == (
            cost, source, "", None, 4_000)


def test_the_pricing_fields_delivered_twice_count_once(db: sqlite_utils.Database) -> None:
    # A batch big enough for PostgreSQL's COPY path, each event delivered twice, then again
    # with other pricing fields under the same ids: nothing changes.
    batch = [{"event_id": f"e{i}", **PRICED, "cost_usd": None if i % 3 else 0.25,
              "task_id": f"T-{i % 7}"} for i in range(150)]
    first = record(db, *batch, *batch)
    assert (first.inserted, first.duplicates) == (150, 150)
    changed = [{**fields, "cache_creation_1h_tokens": 0, "web_search_requests": 9,
                "service_tier": "priority"} for fields in batch]
    assert record(db, *changed).inserted == 0
    assert db.execute(
        "SELECT COUNT(*), SUM(cache_creation_1h_tokens), SUM(web_search_requests),"
        " MIN(service_tier), MAX(service_tier), COUNT(cost_web_search_usd)"
        " FROM cost_log").fetchone() == (150, 150 * 4_000, 300, "standard", "standard", 100)
    assert db.execute("SELECT SUM(cost_nanos) FROM rollup_project"
                      ).fetchone() == (100 * 114_500_000 + 50 * 250_000_000,)
    assert list(check_aggregates(db)) == []
