"""Local days (``costlog local-days``): the same answers from the rollups by local day, on both
back ends; the rollups stay exact through redelivery and through zones added and removed."""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from costlog.domain.event import parse_event
from costlog.store import budgets, queries
from costlog.store.connection import Database, connect
from costlog.store.migrations import migrate
from costlog.store.write import check_aggregates, record_events, set_local_day_zones
from tests.conftest import NOW
from tests.integration.postgres.test_same_answers import varied_events
from tests.support.api import NANOS, PRICES

# Lord Howe's summer time is half an hour; Kathmandu's offset is +05:45 (quarter hours only).
ZONES = ("America/New_York", "Asia/Kathmandu", "Asia/Kolkata", "Australia/Lord_Howe")
OFFSETS = [-300, -240, 330, 345, 630, 660]
# Around New York's and Lord Howe's changes of offset in 2026 (March 8, April 5, October 4).
CHANGES = [f"2026-{day}T{hour:02d}:{minute:02d}:00Z"
           for day in ("03-07", "03-08", "03-09", "04-04", "04-05", "10-03", "10-04")
           for hour in (0, 3, 4, 5, 6, 13, 15, 16, 23) for minute in (0, 29, 44)]


def change_events(run: str) -> list[dict[str, Any]]:
    return [{"event_id": f"{run}-{number}", "project_id": ("alpha", "beta")[number % 2],
             "task_id": f"T-{number % 7}", "phase": ("spec", "test")[number % 3 == 0],
             "model": ("claude-opus-4-5", "claude-3-haiku")[number % 2],
             "input_tokens": 1000 + number, "output_tokens": 100, "cost_usd": 0.25 + number / 1000,
             "timestamp": stamp} for number, stamp in enumerate(CHANGES)]


def record(db: Database, events: list[dict[str, Any]]) -> int:
    parsed = [parse_event(fields, now=NOW, fill_id="hash") for fields in events]
    return sum(record_events(db, parsed[start:start + 101], PRICES).inserted
               for start in range(0, len(parsed), 101))


def answers(db: Database) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for zone in (*ZONES, "UTC", "Europe/Berlin"):
        tz = ZoneInfo(zone)
        for granularity, start, end in (("day", "2026-02-20", "2026-11-20"),
                                        ("week", "2026-02-20", "2026-11-20"),
                                        ("month", "2026-01-01", "2026-11-20"),
                                        ("day", "2026-03-08T01:30:00-05:00", "2026-03-09")):
            for by in (None, "model", "phase", "project"):
                for project, model in ((None, None), ("alpha", None), (None, "opus")):
                    if by == "phase" and model:
                        continue
                    found[f"{zone} {granularity} {start} {by} {project} {model}"] = (
                        queries.timeseries(db, granularity=granularity, start=start, end=end,
                                           model=model, project=project, tz=tz, now=NOW, by=by))
        for project in (None, "alpha"):
            found[f"budget {zone} {project}"] = budgets.budget_status(
                db, project=project, tz=tz, now=NOW)
    return found


def test_a_read_that_raced_a_removal_reads_again(store_target: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = connect(store_target)
    migrate(db)
    record(db, change_events("c"))
    utc_only = answers(db)
    set_local_day_zones(db, ZONES)
    # The offsets as a read found them before `costlog local-days remove` committed; the
    # statement after it sees no local days: the read is made again without them.
    stale = {offset % (24 * 60): offset for offset in OFFSETS}
    set_local_day_zones(db, [])
    monkeypatch.setattr(queries.planner, "_registered_offsets", lambda _db: stale)
    assert answers(db) == utc_only
    db.close()


def test_local_days_give_the_same_answers_exactly_once(store_target: str) -> None:
    db = connect(store_target)
    migrate(db)
    events = varied_events(1500) + change_events("c")
    assert record(db, events) == len(events)
    without = answers(db)

    assert set_local_day_zones(db, ZONES) == OFFSETS
    assert list(check_aggregates(db)) == []
    assert {offset for (offset,) in db.execute(
        "SELECT DISTINCT utc_offset FROM rollup_project_ld")} == set(OFFSETS)
    assert answers(db) == without
    # New York's daily costs by project, straight from cost_log's rows.
    tz, by_day = ZoneInfo("America/New_York"), defaultdict(lambda: defaultdict(int))
    for stamp, project, nanos in db.execute(f"SELECT timestamp, project_id, {NANOS} FROM cost_log"):
        local = datetime.fromisoformat(stamp).replace(tzinfo=UTC).astimezone(tz)
        by_day[local.date().isoformat()][project] += nanos
    series = queries.timeseries(db, granularity="day", start="2026-02-20", end="2026-11-20",
                                model=None, project=None, tz=tz, now=NOW, by="project")
    assert {point["date"]: point["breakdown"] for point in series["series"]} == {
        day: {project: nanos / 1e9 for project, nanos in sorted(by_day[day].items()) if nanos}
        for day in (point["date"] for point in series["series"])}
    assert [point["date"] for point in series["series"]][15:18] == [
        "2026-03-07", "2026-03-08", "2026-03-09"]

    # Delivered again: nothing changes. New rows are added at every offset.
    assert record(db, events) == 0
    assert answers(db) == without
    assert record(db, change_events("d")) == len(CHANGES)
    assert record(db, change_events("d")) == 0
    assert list(check_aggregates(db)) == []
    kept = answers(db)
    assert kept != without

    # Kept or not, the same answers; removing a zone removes its offsets' rows only.
    assert set_local_day_zones(db, ["Asia/Kolkata"]) == [330]
    assert {offset for (offset,) in db.execute(
        "SELECT DISTINCT utc_offset FROM rollup_model_ld")} == {330}
    assert answers(db) == kept
    assert set_local_day_zones(db, []) == []
    assert db.execute("SELECT COUNT(*) FROM rollup_phase_ld").fetchone()[0] == 0
    assert answers(db) == kept
    db.close()
