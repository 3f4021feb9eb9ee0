"""The read queries against direct recomputations from cost_log rows.

Time series are summed in SQL from day, hour and quarter-hour rollups at once (signed ranges
around each bucket edge); these tests recompute every bucket straight from cost_log over the
bucket's UTC bounds, built here independently of ``costlog.domain.buckets``: New York across the
2026-11-01 fall-back (a 25-hour day), Asia/Kolkata's half-hour offset, ISO weeks, months.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costlog.domain import buckets
from costlog.store import budgets, queries, rollups
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from tests.conftest import NOW
from tests.support.api import FAMILY, NANOS, TOKENS, seed, without_token_kinds

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
MODELS = (("claude-opus-4-5-20251101", "claude"), ("claude-sonnet-4-5", "claude"),
          ("claude-haiku-4-5", "claude"), ("gpt-5", "openai"), ("", "claude"))
PROJECTS = ("alpha", "beta", "alpha-2")
PHASES = ("implement", "review", "plan", "test")
FIRST_DAY, LAST_DAY = date(2026, 9, 20), date(2026, 11, 19)


def _events() -> Iterator[dict[str, Any]]:
    """Rows every 97 minutes (so at every minute of the hour over time), and rows on and one
    second before each New York, Kolkata and UTC midnight of the period."""
    instant = datetime.combine(FIRST_DAY, time(), tzinfo=UTC)
    end = datetime.combine(LAST_DAY, time(23, 59), tzinfo=UTC)
    stamps = []
    while instant < end:
        stamps.append(instant)
        instant += timedelta(minutes=97)
    day = FIRST_DAY
    while day <= LAST_DAY:
        for zone in (NEW_YORK, KOLKATA, UTC):
            midnight = datetime.combine(day, time(), tzinfo=zone)
            stamps += [midnight, midnight - timedelta(seconds=1)]
        day += timedelta(days=1)
    for number, stamp in enumerate(stamps):
        model, provider = MODELS[number % len(MODELS)]
        event: dict[str, Any] = {
            "event_id": f"q-{number}", "project_id": PROJECTS[number % 3],
            "task_id": f"T-{number % 40}", "phase": PHASES[number // 3 % 4], "model": model,
            "provider": provider, "input_tokens": 100 + number, "output_tokens": number % 7,
            "timestamp": stamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        if number % 4:  # one in four priced by costlog (or unpriced)
            event["cost_usd"] = round(0.000123457 * (number % 1000 + 1), 9)
        yield event


@pytest.fixture(scope="module")
def series_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite_utils.Database]:
    database = connect(tmp_path_factory.mktemp("queries") / "costlog.db")
    migrate(database)
    seed(database, list(_events()))
    yield database
    database.close()


def _storage(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _direct(db: sqlite_utils.Database, start: datetime, end: datetime, project: str | None,
            model: str | None, *, phase: str | None = None) -> tuple[int, int]:
    """(nano-USD, tokens) of the cost_log rows in ``[start, end)``."""
    where, params = "timestamp >= ? AND timestamp < ?", [_storage(start), _storage(end)]
    if project:
        where, params = where + " AND project_id = ?", [*params, project]
    if phase is not None:
        where, params = where + " AND COALESCE(phase, '') = ?", [*params, phase]
    if model:
        where, params = where + f" AND {FAMILY} = ?", [*params, model]
    nanos, tokens = db.execute(
        f"SELECT COALESCE(SUM({NANOS}), 0), COALESCE(SUM({TOKENS}), 0) FROM cost_log"
        f" WHERE {where}", params).fetchone()
    return nanos, tokens


def _local_buckets(first: date, last: date, granularity: str,
                   tz: ZoneInfo) -> list[tuple[str, datetime, datetime]]:
    """(label, start, end) of each local day, ISO week (Monday) or month from ``first``'s to
    ``last``'s, from calendar arithmetic alone."""
    if granularity == "week":
        first -= timedelta(days=first.weekday())
    elif granularity == "month":
        first = first.replace(day=1)

    def after(day: date) -> date:
        if granularity == "day":
            return day + timedelta(days=1)
        if granularity == "week":
            return day + timedelta(days=7)
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)

    result, day = [], first
    while day <= last:
        following = after(day)
        result.append((day.isoformat(), datetime.combine(day, time(), tzinfo=tz),
                       datetime.combine(following, time(), tzinfo=tz)))
        day = following
    return result


@pytest.mark.parametrize("project", [None, "alpha"])
@pytest.mark.parametrize("model", [None, "opus", "Unknown"])
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
@pytest.mark.parametrize(("tz", "first", "last"), [
    (NEW_YORK, date(2026, 10, 3), date(2026, 11, 16)),  # across the 2026-11-01 fall-back
    (KOLKATA, FIRST_DAY, LAST_DAY),
])
def test_series_matches_cost_log(series_db: sqlite_utils.Database, tz: ZoneInfo, first: date,
                                 last: date, granularity: str, model: str | None,
                                 project: str | None) -> None:
    body = queries.timeseries(series_db, granularity=granularity, start=first.isoformat(),
                              end=last.isoformat(), model=model, project=project, tz=tz,
                              now=NOW)
    expected = _local_buckets(first, last, granularity, tz)
    assert [point["date"] for point in body["series"]] == [label for label, _, _ in expected]
    counted = 0
    for point, (_, start, end) in zip(body["series"], expected, strict=True):
        nanos, tokens = _direct(series_db, start, end, project, model and model.lower())
        assert point["start"] == start.isoformat(timespec="seconds")
        assert (point["cost"], point["tokens"]) == (nanos / 1_000_000_000, tokens)
        assert point.get("model") == (model and model.lower())
        counted += tokens
    assert counted > 0  # the data reaches into the series


def test_new_york_fall_back_day_holds_25_hours(series_db: sqlite_utils.Database) -> None:
    body = queries.timeseries(series_db, granularity="day", start="2026-10-31",
                              end="2026-11-02", model=None, project=None, tz=NEW_YORK, now=NOW)
    starts = [datetime.fromisoformat(point["start"]) for point in body["series"]]
    assert [point["start"] for point in body["series"]] == [
        "2026-10-31T00:00:00-04:00", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"]
    assert starts[2] - starts[1] == timedelta(hours=25)
    fall_back = _direct(series_db, starts[1], starts[2], None, None)
    assert (body["series"][1]["cost"], body["series"][1]["tokens"]) == (
        fall_back[0] / 1_000_000_000, fall_back[1])
    week = queries.timeseries(series_db, granularity="week", start="2026-11-01",
                              end="2026-11-01", model=None, project=None, tz=NEW_YORK, now=NOW)
    assert [point["date"] for point in week["series"]] == ["2026-10-26"]  # a Monday


def test_hour_series_matches_cost_log(series_db: sqlite_utils.Database) -> None:
    for tz in (NEW_YORK, KOLKATA):
        body = queries.timeseries(series_db, granularity="hour", start="2026-10-31",
                                  end="2026-11-02", model=None, project="beta", tz=tz, now=NOW)
        for point in body["series"]:
            start = datetime.fromisoformat(point["start"])
            nanos, tokens = _direct(series_db, start, start + timedelta(hours=1), "beta", None)
            assert (point["cost"], point["tokens"]) == (nanos / 1_000_000_000, tokens)
    assert len(queries.timeseries(series_db, granularity="hour", start="2026-11-01",
                                  end="2026-11-01", model=None, project=None, tz=NEW_YORK,
                                  now=NOW)["series"]) == 25


def _cost_and_tokens(by_key: dict[str, list[int]]) -> tuple[int, int]:
    return (sum(values[0] for values in by_key.values()),
            sum(values[1] for values in by_key.values()))


def _quarter_floor(instant: datetime) -> datetime:
    utc = instant.astimezone(UTC)
    return utc.replace(minute=utc.minute // 15 * 15, second=0, microsecond=0)


SPAN_MINUTES = int((datetime.combine(LAST_DAY, time(), tzinfo=UTC)
                    - datetime.combine(FIRST_DAY, time(), tzinfo=UTC)).total_seconds() // 60)


# The module's database is only read; the function-scoped fixture is conftest's fixed clock.
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(0, SPAN_MINUTES), min_size=2, max_size=12, unique=True),
       coarsest=st.sampled_from([0, 1]), project=st.sampled_from([None, "beta"]),
       model=st.sampled_from([None, "sonnet", "gpt-5"]))
def test_bucket_sums_match_cost_log(series_db: sqlite_utils.Database, offsets: list[int],
                                    coarsest: int, project: str | None,
                                    model: str | None) -> None:
    """Any increasing edges, on the quarter-hour grid or not: each range is summed exactly,
    an edge off the grid counting from its own quarter as its rollup key does."""
    origin = datetime.combine(FIRST_DAY, time(), tzinfo=UTC)
    edges = [origin + timedelta(minutes=offset, seconds=offset % 3 * 20)
             for offset in sorted(offsets)]
    found = queries.bucket_sums(series_db, edges, project=project, model=model,
                                 levels=queries.MODEL_LEVELS[coarsest:])
    assert not any(found.costs)
    assert [_cost_and_tokens(by_key) for by_key in found.sums] == [
        _direct(series_db, _quarter_floor(lo), _quarter_floor(hi), project, model)
        for lo, hi in zip(edges, edges[1:], strict=False)]


@pytest.mark.parametrize("tz", [NEW_YORK, KOLKATA, UTC])
@pytest.mark.parametrize(("key", "granularity", "levels"), [
    ("project_id", "day", queries.PROJECT_LEVELS), ("project_id", "week", queries.PROJECT_LEVELS),
    ("project_id", "hour", queries.PROJECT_LEVELS[2:]), ("project_id", "day", queries.MODEL_LEVELS),
    ("project_id", "hour", queries.MODEL_LEVELS[1:]), ("model", "day", queries.MODEL_LEVELS),
    ("model", "week", queries.MODEL_LEVELS), ("phase", "day", queries.PHASE_LEVELS),
])
def test_bucket_sums_by_key_match_cost_log(series_db: sqlite_utils.Database, tz: ZoneInfo,
                                           key: str, granularity: str,
                                           levels: tuple[queries.Level, ...]) -> None:
    """Each bucket's sums by project (every project's own rows: their cost, and the bucket's
    totals under None), by model family or by phase: daily buckets read the day rows in one
    scan grouped by day, weekly ones a range per week."""
    first = datetime.combine(date(2026, 10, 25), time(), tzinfo=tz)
    last = first + timedelta(days=3 if granularity == "hour" else 30)
    points = buckets.buckets(first, last, granularity, tz, 1_000)
    found = queries.bucket_sums(series_db, [p.start for p in points] + [points[-1].end],
                                 project=None, model=None, levels=levels, key=key)
    names = {"project_id": PROJECTS, "phase": PHASES,
             "model": ("opus", "sonnet", "haiku", "gpt-5", "unknown")}[key]
    for point, by_key, by_cost in zip(points, found.sums, found.costs, strict=True):
        expected = {name: _direct(series_db, point.start, point.end,
                                  name if key == "project_id" else None,
                                  name if key == "model" else None,
                                  phase=name if key == "phase" else None)
                    for name in names}
        if key == "project_id":
            # The cost alone per project; every value of the bucket's total.
            total = by_key.pop(None, [0, 0])
            assert tuple(total[:2]) == _direct(series_db, point.start, point.end, None, None)
            assert by_key == {}
            assert {name: cost for name, cost in by_cost.items() if cost} == {
                name: sums[0] for name, sums in expected.items() if sums[0]}
            continue
        assert by_cost == {}
        # A key whose ranges cancel out (summed in, then out) is left with zeros.
        assert {name: tuple(values[:2]) for name, values in by_key.items() if any(values)} == {
            name: found for name, found in expected.items() if found != (0, 0)}


@pytest.mark.parametrize("instant", [
    datetime(1, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 45, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC), datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    datetime(2028, 2, 29, 18, 15, tzinfo=UTC), datetime(9999, 12, 31, 23, 45, tzinfo=UTC),
])
def test_level_keys_are_the_rollup_keys(db: sqlite_utils.Database, instant: datetime) -> None:
    index = (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(minutes=15)
    keys = [db.execute("SELECT strftime(?, ? * 900, 'unixepoch')",
                       [level.key_format, index]).fetchone()[0]
            for level in queries.MODEL_LEVELS]
    assert keys == [buckets.day_key(instant), buckets.hour_key(instant),
                    buckets.quarter_key(instant)]
    assert [level.key(instant) for level in queries.MODEL_LEVELS] == keys


@pytest.mark.parametrize(("stored", "key"), [
    ("2026-11-20 00:00:00", "2026-11-20 00"), ("2026-11-20 05:59:59", "2026-11-20 00"),
    ("2026-11-20 06:00:00", "2026-11-20 06"), ("2026-11-20 11:15:00", "2026-11-20 06"),
    ("2026-11-20 12:00:00", "2026-11-20 12"), ("2026-11-20 17:59:59", "2026-11-20 12"),
    ("2026-11-20 18:00:00", "2026-11-20 18"), ("2026-11-20 23:59:59", "2026-11-20 18"),
])
def test_six_hours_key_is_the_rollup_key(db: sqlite_utils.Database, stored: str,
                                         key: str) -> None:
    """The project rollup by six hours keys a row as buckets.six_hours_key keys its instant,
    and a six-hour period's first quarter has the same key as the period's strftime()."""
    (in_sql,) = db.execute(f"SELECT {rollups.SIX_HOURS} FROM (SELECT ? AS timestamp) AS n",
                           [stored]).fetchone()
    instant = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    assert in_sql == buckets.six_hours_key(instant) == key
    level = queries.PROJECT_LEVELS[1]
    start = datetime.fromisoformat(key + ":00").replace(tzinfo=UTC)
    index = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(minutes=15)
    assert level.anchor(index) == index
    assert db.execute("SELECT strftime(?, ? * 900, 'unixepoch')",
                      [level.key_format, index]).fetchone()[0] == key


def test_edges_at_the_end_of_year_9999(db: sqlite_utils.Database) -> None:
    # One row at 9999-12-31 23:15Z, written into the rollups directly (events cannot be
    # timestamped that far ahead).
    for table, column, key in (("rollup_model_d", "day", "9999-12-31"),
                               ("rollup_model_h", "hour", "9999-12-31 23"),
                               ("rollup_model_q", "bucket", "9999-12-31 23:15")):
        db.execute(f"INSERT INTO {table} (project_id, {column}, model, cost_nanos, tokens,"
                   " events) VALUES ('*', ?, 'opus', 7, 3, 1)", [key])
    # Newfoundland's hours end at :30 UTC: the last one's nearest hour would be year 10000.
    body = queries.timeseries(db, granularity="hour", start="9999-12-31T18:00:00-03:30",
                              end="9999-12-31T19:59:00-03:30", model=None, project=None,
                              tz=ZoneInfo("America/St_Johns"), now=NOW)
    assert [(point["start"], point["tokens"]) for point in body["series"]] == [
        ("9999-12-31T18:00:00-03:30", 0), ("9999-12-31T19:00:00-03:30", 3)]
    edge = datetime(9999, 12, 31, 23, 45, tzinfo=UTC)  # its nearest midnight is year 10000
    assert queries.bucket_sums(db, [edge - timedelta(days=3), edge], project=None,
                                model=None) == ([{"": [7, 3, 0, 0, 0, 0]}], [{}])


def test_first_midnight_of_year_1_east_of_utc_is_out_of_range(db: sqlite_utils.Database) -> None:
    with pytest.raises(queries.QueryError, match="dates out of range"):
        queries.timeseries(db, granularity="day", start="0001-01-01", end="0001-01-02",
                           model=None, project=None, tz=ZoneInfo("Asia/Tokyo"), now=NOW)
    body = queries.timeseries(db, granularity="day", start="0001-01-01", end="0001-01-02",
                              model=None, project=None, tz=NEW_YORK, now=NOW)
    assert [point["date"] for point in body["series"]] == ["0001-01-01", "0001-01-02"]


@pytest.mark.parametrize("tz", [UTC, NEW_YORK, KOLKATA])
def test_budget_month_spend_matches_cost_log(series_db: sqlite_utils.Database,
                                             tz: ZoneInfo) -> None:
    now = datetime(2026, 10, 17, 9, tzinfo=UTC)
    start = datetime(2026, 10, 1, tzinfo=tz)
    for project in (None, "alpha"):
        status = budgets.budget_status(series_db, project=project, tz=tz, now=now)
        nanos, _ = _direct(series_db, start, datetime(2026, 11, 1, tzinfo=tz), project, None)
        assert status["current_spent_usd"] == nanos / 1_000_000_000


# -- task breakdown over all time ----------------------------------------------------------------

TIE_EVENTS: list[dict[str, Any]] = [
    # Equal costs, and project ids where pair order and key order differ: 'a-b/…' < 'a/…'.
    {"project_id": "a", "task_id": "x", "cost_usd": 1.0},
    {"project_id": "a-b", "task_id": "y", "cost_usd": 1.0},
    {"project_id": "a", "task_id": "z", "cost_usd": 1.0},
    {"project_id": "b", "task_id": "x", "cost_usd": 2.5},
    {"project_id": "b", "task_id": "x", "cost_usd": 0.5},
    {"project_id": "c", "task_id": "w"},  # unpriced: 0
    {"project_id": "c", "task_id": "v"},
    {"project_id": "a", "task_id": "big", "cost_usd": 3.0},
]
SHARED_KEY_EVENTS: list[dict[str, Any]] = [
    # 'p/q' + 't' and 'p' + 'q/t' are both 'p/q/t': one key, summed.
    {"project_id": "p/q", "task_id": "t", "cost_usd": 1.0},
    {"project_id": "p", "task_id": "q/t", "cost_usd": 1.5},
    {"project_id": "p", "task_id": "s", "cost_usd": 2.0},
    {"project_id": "z", "task_id": "u", "cost_usd": 0.25},
]


def _with_defaults(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"phase": "implement", "model": "mystery-model", "provider": "other",
             "input_tokens": 10 * (number + 1), "event_id": f"e-{number}",
             "timestamp": "2026-06-01T10:00:00Z"} | event
            for number, event in enumerate(events)]


def _expected_tasks(db: sqlite_utils.Database, project: str | None,
                    limit: int | None) -> dict[str, Any]:
    """The breakdown recomputed from cost_log and ranked in Python."""
    key = "task_id" if project else "project_id || '/' || task_id"
    where = "project_id = ?" if project else "1"
    sums = db.execute(f"SELECT {key}, SUM({NANOS}), SUM({TOKENS}) FROM cost_log WHERE {where}"
                      " GROUP BY 1", [project] if project else []).fetchall()
    ranked = sorted(sums, key=lambda row: (-row[1], row[0]))
    total, tokens = sum(row[1] for row in sums), sum(row[2] for row in sums)
    shown = ranked if limit is None else ranked[:limit]

    def percent(nanos: int) -> float:
        return nanos / total * 100 if total else 0.0

    result: dict[str, Any] = {"period": "all", "total_cost_usd": total / 1e9, "breakdown": {
        key: {"cost": nanos / 1e9, "tokens": tok, "percent": percent(nanos)}
        for key, nanos, tok in shown}}
    if limit is not None:
        rest = total - sum(row[1] for row in shown)
        result["other"] = {"cost": rest / 1e9, "tokens": tokens - sum(row[2] for row in shown),
                           "percent": percent(rest), "count": len(sums) - len(shown)}
    return result


@pytest.mark.parametrize("limit", [None, 1, 2, 3, 4, 6, 100])
@pytest.mark.parametrize("project", [None, "a", "c", "nobody"])
@pytest.mark.parametrize("events", [TIE_EVENTS, SHARED_KEY_EVENTS], ids=["ties", "shared"])
def test_task_breakdown_all_time(db: sqlite_utils.Database, events: list[dict[str, Any]],
                                 project: str | None, limit: int | None) -> None:
    seed(db, _with_defaults(events))
    body = queries.breakdown(db, by="task", period="all", project=project, limit=limit, now=NOW)
    expected = _expected_tasks(db, project, limit)
    assert without_token_kinds(body) == expected
    assert list(body["breakdown"]) == list(expected["breakdown"])  # the rank order too


def test_task_breakdown_ties_rank_by_key(db: sqlite_utils.Database) -> None:
    seed(db, _with_defaults(TIE_EVENTS))
    body = queries.breakdown(db, by="task", period="all", project=None, limit=4, now=NOW)
    assert list(body["breakdown"]) == ["a/big", "b/x", "a-b/y", "a/x"]
    assert body["other"]["count"] == 3


def test_task_breakdown_shared_key_is_summed(db: sqlite_utils.Database) -> None:
    seed(db, _with_defaults(SHARED_KEY_EVENTS))
    body = queries.breakdown(db, by="task", period="all", project=None, limit=1, now=NOW)
    assert without_token_kinds(body["breakdown"]) == {
        "p/q/t": {"cost": 2.5, "tokens": 30, "percent": 2_500_000_000 / 4_750_000_000 * 100}}
    assert body["other"]["count"] == 2


# -- task breakdown over a range (ranked in two steps) --------------------------------------------

#: Beside the series events: a key two (project, task) pairs share, and a task with cache
#: tokens, inside the ranges below.
RANGE_EXTRAS: list[dict[str, Any]] = [
    {"project_id": "p/q", "task_id": "t", "cost_usd": 7.0, "timestamp": "2026-10-09T08:00:00Z"},
    {"project_id": "p", "task_id": "q/t", "cost_usd": 6.5, "timestamp": "2026-11-02T03:04:05Z"},
    {"project_id": "alpha", "task_id": "solo", "cost_usd": 5.0, "timestamp": "2026-09-25T12:00:00Z",
     "cache_read_tokens": 1234},
]
#: (start, end) as a client sends them: whole months, days and raw rows at both edges; raw rows
#: only; one whole month; nothing in range.
RANGES = [("2026-09-21T05:07:00Z", "2026-11-18T13:20:00Z"),
          ("2026-10-05T01:00:00Z", "2026-10-05T09:00:00Z"),
          ("2026-10-01", "2026-10-31"),
          ("2025-01-01", "2025-02-01")]


@pytest.fixture(scope="module")
def range_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite_utils.Database]:
    database = connect(tmp_path_factory.mktemp("ranges") / "costlog.db")
    migrate(database)
    seed(database, list(_events()) + _with_defaults(RANGE_EXTRAS))
    yield database
    database.close()


def _expected_range(db: sqlite_utils.Database, project: str | None, since: datetime,
                    until: datetime, limit: int) -> dict[str, Any]:
    """The breakdown of the rows in ``[since, until)`` recomputed from cost_log and ranked in
    Python: every sum, the rest and its count."""
    key = ("COALESCE(task_id, '')" if project else
           "COALESCE(project_id, '') || '/' || COALESCE(task_id, '')")
    kinds = ", ".join(f"SUM(COALESCE({kind}, 0))" for kind in rollups.TOKEN_KINDS)
    where, params = "timestamp >= ? AND timestamp < ?", [_storage(since), _storage(until)]
    if project:
        where, params = where + " AND project_id = ?", [*params, project]
    rows = db.execute(f"SELECT {key}, COALESCE(SUM({NANOS}), 0), SUM({TOKENS}), {kinds}"
                      f" FROM cost_log WHERE {where} GROUP BY 1", params).fetchall()
    ranked = sorted(rows, key=lambda row: (-row[1], row[0]))
    totals = [sum(row[index] for row in rows) for index in range(1, 7)]
    shown = ranked[:limit]

    def amounts(sums: list[int]) -> dict[str, Any]:
        return {"cost": sums[0] / 1e9, "tokens": sums[1],
                **dict(zip(rollups.TOKEN_KINDS, sums[2:], strict=True)),
                "percent": sums[0] / totals[0] * 100 if totals[0] else 0.0}

    rest = [total - sum(row[index + 1] for row in shown) for index, total in enumerate(totals)]
    return {"total_cost_usd": totals[0] / 1e9,
            "breakdown": {row[0]: amounts(list(row[1:])) for row in shown},
            "other": {**amounts(rest), "count": len(rows) - len(shown)}}


@pytest.mark.parametrize("limit", [1, 5, 1000])
@pytest.mark.parametrize("project", [None, "alpha", "nobody"])
@pytest.mark.parametrize(("start", "end"), RANGES)
def test_task_breakdown_over_a_range_matches_cost_log(
        range_db: sqlite_utils.Database, start: str, end: str, project: str | None,
        limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ranked in two steps whatever the number of rows (these ranges hold few).
    monkeypatch.setattr(queries.breakdowns, "ROWS_PER_PROBE", 0)
    _, since, until = queries.breakdown_range(None, start, end, UTC, NOW)
    assert since is not None and until is not None
    body = queries.breakdown(range_db, by="task", period=None, project=project, limit=limit,
                             now=NOW, start=start, end=end)
    expected = _expected_range(range_db, project, since, until, limit)
    assert {name: body[name] for name in expected} == expected
    assert list(body["breakdown"]) == list(expected["breakdown"])  # the rank order too
    # The answer came from the two-step ranking, not the grouping of every row (which a range
    # of raw rows only still is: no rollup to probe).
    two_steps = queries.top_rows(range_db, "task", project, since, until, limit)
    assert (two_steps is not None) == ((start, end) != RANGES[1])


def test_task_range_ranks_a_shared_key_as_one(range_db: sqlite_utils.Database,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries.breakdowns, "ROWS_PER_PROBE", 0)
    body = queries.breakdown(range_db, by="task", period=None, project=None, limit=2, now=NOW,
                             start="2026-09-21T05:07:00Z", end="2026-11-18T13:20:00Z")
    assert list(body["breakdown"]) == ["p/q/t", "alpha/solo"]
    assert body["breakdown"]["p/q/t"]["cost"] == 13.5
    assert body["breakdown"]["alpha/solo"]["cache_read_tokens"] == 1234


@pytest.mark.parametrize(("setting", "value"), [
    ("MAX_PROBED_PERIODS", 3),  # the range reads a month, then 9 and 17 days
    ("ROWS_PER_PROBE", 5),  # 27 periods of five probes: 675 rows needed, the range holds 643
])
def test_task_range_is_grouped_whole_where_probes_cost_more(
        range_db: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch, setting: str,
        value: int) -> None:
    start, end = RANGES[0]
    monkeypatch.setattr(queries.breakdowns, "ROWS_PER_PROBE", 0)
    expected = queries.breakdown(range_db, by="task", period=None, project=None, limit=5,
                                 now=NOW, start=start, end=end)
    _, since, until = queries.breakdown_range(None, start, end, UTC, NOW)
    assert since is not None and until is not None
    assert queries.top_rows(range_db, "task", None, since, until, 5) is not None
    monkeypatch.setattr(queries.breakdowns, setting, value)
    assert queries.top_rows(range_db, "task", None, since, until, 5) is None
    assert queries.breakdown(range_db, by="task", period=None, project=None, limit=5, now=NOW,
                             start=start, end=end) == expected


@pytest.mark.parametrize("period", ["24h", "7d", "30d", "all"])
@pytest.mark.parametrize("by", ["model", "phase", "task", "initiative"])
def test_breakdown_empty_database(db: sqlite_utils.Database, by: str, period: str) -> None:
    body = queries.breakdown(db, by=by, period=period, project=None, limit=10, now=NOW)
    span = queries.PERIODS[period]
    if span is not None:  # a rolling window names its range
        assert (body.pop("start"), body.pop("end")) == ((NOW - span).isoformat(),
                                                        NOW.isoformat())
    assert without_token_kinds(body) == {
        "period": period, "total_cost_usd": 0.0, "breakdown": {},
        "other": {"cost": 0.0, "tokens": 0, "percent": 0.0, "count": 0}}
    assert all(body["other"][kind] == 0 for kind in rollups.TOKEN_KINDS)


@pytest.mark.parametrize(("before", "keys", "costs", "sign", "after"), [
    ({}, ["a", "b"], [5, 7], 1, {"a": 5, "b": 7}),
    ({"a": 1}, ["a", "b"], [5, 7], -1, {"a": -4, "b": -7}),
    # A range over two periods holds a key once per period: both add up.
    ({"a": 1}, ["a", "b", "a"], [5, 7, 10], 1, {"a": 16, "b": 7}),
    ({"a": 20}, ["a", "a"], [5, 10], -1, {"a": 5}),
    ({"a": 3}, [], [], 1, {"a": 3}),
])
def test_add_costs_adds_each_key_however_often_it_comes(
        before: dict[str, int], keys: list[str], costs: list[int], sign: int,
        after: dict[str, int]) -> None:
    queries.add_costs(before, keys, costs, sign)
    assert before == after


@pytest.mark.parametrize(("before", "sign", "after"), [
    ({}, 1, {"a": 5, "b": 7}),  # a bucket's first period: taken as it is
    ({"a": 1}, 1, {"a": 6, "b": 7}),
    ({}, -1, {"a": -5, "b": -7}),
])
def test_add_costs_of_a_period_with_each_key_once(before: dict[str, int], sign: int,
                                                  after: dict[str, int]) -> None:
    queries.add_costs(before, ["a", "b"], [5, 7], sign, once=True)
    assert before == after


NEW_YORK = ZoneInfo("America/New_York")


def midnights(first: date, days: int, tz: ZoneInfo = NEW_YORK) -> list[datetime]:
    return [datetime.combine(first + timedelta(days=n), time(), tz) for n in range(days + 1)]


@pytest.mark.parametrize(("edges", "offsets", "runs"), [
    # Nothing registered: one run, read as before.
    (midnights(date(2026, 3, 6), 4), {}, [(0, 4, None)]),
    # New York's spring change on March 8: the day that starts at -05:00 is read with the
    # -05:00 days, and corrected at its end by hours.
    (midnights(date(2026, 3, 6), 4), {1140: -300, 1200: -240}, [(0, 3, -300), (3, 4, -240)]),
    (midnights(date(2026, 3, 6), 4), {1200: -240}, [(0, 3, None), (3, 4, -240)]),
    # Kolkata's days: not New York's offsets.
    (midnights(date(2026, 3, 6), 2, ZoneInfo("Asia/Kolkata")), {1140: -300}, [(0, 2, None)]),
    ([datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)], {1140: -300},
     [(0, 1, None)]),
])
def test_buckets_run_by_the_registered_offset_of_their_first_edge(
        edges: list[datetime], offsets: dict[int, int],
        runs: list[tuple[int, int, int | None]]) -> None:
    assert queries.offset_runs(edges, offsets) == runs


@pytest.mark.parametrize(("offset", "tables"), [
    (-300, ["rollup_model_ld", "rollup_model_h", "rollup_model_q"]),
    (-360, ["rollup_model_ld", "rollup_model_h", "rollup_model_q"]),
    (330, ["rollup_model_ld", "rollup_model_q"]),  # half hours: no hour starts a local day
])
def test_local_levels_keep_the_finer_levels_that_nest(offset: int, tables: list[str]) -> None:
    levels = queries.with_local_days(queries.MODEL_LEVELS, offset)
    assert levels is not None and [level.table for level in levels] == tables
    # Each level's periods start at the local midnights: the anchor of a midnight is itself.
    midnight = (datetime(2026, 11, 20, tzinfo=UTC) - timedelta(minutes=offset)
                - queries.EPOCH) // queries.QUARTER_LENGTH
    assert [level.anchor(midnight) for level in levels] == [midnight] * len(levels)


def test_project_levels_keep_six_hours_where_they_nest() -> None:
    levels = queries.with_local_days(queries.PROJECT_LEVELS, -360)
    assert levels is not None and [level.table for level in levels] == [
        "rollup_project_ld", "rollup_project_6h", "rollup_project_h", "rollup_model_q"]
    assert queries.with_local_days(queries.levels_for("hour", queries.MODEL_LEVELS), -300) is None


RFC3339_INSTANT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"


@pytest.mark.parametrize("granularity", ["hour", "day", "month"])
def test_every_instant_of_a_local_mean_time_answer_is_rfc3339(db: sqlite_utils.Database,
                                                              granularity: str) -> None:
    """New York kept its local mean time (-04:56:02) until 1883: no offset with seconds."""
    start, end = "1883-11-17", "1883-11-18"
    series = queries.timeseries(db, granularity=granularity, start=start, end=end, model=None,
                                project=None, tz=NEW_YORK, now=NOW)
    ranged = queries.breakdown(db, by="model", period=None, start=start, end=end,
                               project=None, limit=None, now=NOW, tz=NEW_YORK)
    instants = [series["start"], series["end"], ranged["start"], ranged["end"],
                *(point["start"] for point in series["series"])]
    assert [text for text in instants if not re.fullmatch(RFC3339_INSTANT, text)] == []
    assert series["start"] == ranged["start"] == "1883-11-17T00:00:02-04:56"
