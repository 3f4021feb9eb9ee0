"""Every write to the database goes through this module (SPEC §5).

:func:`record_events` is the one idempotent write path: the worker, ``costlog import`` and the
seed's :func:`record_cost_extended` all call it. In one ``BEGIN IMMEDIATE`` transaction it
inserts the rows keyed by ``event_id`` (a duplicate is ignored) and adds only the new rows into
every rollup by additive upsert in SQL.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from ingest import buckets, clock, migrations, queries, rollups
from ingest.constants import ALL_PROJECTS
from ingest.database import immediate
from ingest.event import CostEvent, parse_event
from ingest.models import detect_model
from ingest.pricing import PriceTable, cost_of

_COLUMNS = (
    "event_id", "project_id", "task_id", "phase", "model", "model_id", "provider", "iteration",
    "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
    "cost_usd", "cost_source", "duration_ms", "initiative_id", "timestamp",
)
_INSERT = (
    f"INSERT INTO cost_log ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
    " ON CONFLICT(event_id) DO NOTHING"
)


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int


def _row(event: CostEvent, prices: PriceTable) -> tuple:
    cost, source = cost_of(event, prices)
    return (
        event.event_id, event.project_id, event.task_id, event.phase,
        detect_model(event.model, event.provider), event.model, event.provider, event.iteration,
        event.input_tokens, event.output_tokens, event.cache_creation_tokens,
        event.cache_read_tokens, event.total_tokens, cost, source, event.duration_ms,
        event.initiative_id, buckets.storage_text(event.timestamp),
    )


def _max_id(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()[0]


def record_events(
    db: sqlite_utils.Database, events: Sequence[CostEvent], prices: PriceTable
) -> WriteResult:
    """Insert ``events`` and add the new ones into every rollup, all in one transaction."""
    rows = [_row(event, prices) for event in events]
    with immediate(db):
        lo = _max_id(db)
        before = db.conn.total_changes
        db.conn.executemany(_INSERT, rows)
        inserted = db.conn.total_changes - before
        hi = lo
        if inserted:
            hi = _max_id(db)
            for rollup in rollups.ROLLUPS:
                for statement in rollup.add_statements():
                    db.execute(statement, {"lo": lo, "hi": hi})
        _bump_counters(db, lo, hi, inserted, len(rows) - inserted)
    return WriteResult(inserted=inserted, duplicates=len(rows) - inserted)


def _bump_counters(db: sqlite_utils.Database, lo: int, hi: int, inserted: int,
                   duplicates: int) -> None:
    (unpriced,) = db.execute(
        "SELECT COUNT(*) FROM cost_log WHERE id > ? AND id <= ? AND cost_source = 'unpriced'",
        [lo, hi],
    ).fetchone()
    db.conn.executemany(
        "INSERT INTO costlog_counters(name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        [("events_ingested", inserted), ("duplicates_ignored", duplicates),
         ("events_unpriced", unpriced)],
    )


def read_counters(db: sqlite_utils.Database) -> dict[str, int]:
    """Monotonic counters for /metrics: events_ingested, duplicates_ignored, events_unpriced."""
    counters = dict.fromkeys(("events_ingested", "duplicates_ignored", "events_unpriced"), 0)
    counters.update(db.execute("SELECT name, value FROM costlog_counters").fetchall())
    return counters


# --- The seed's operations under Python names (SPEC §5) ------------------------------------


def record_cost_extended(db: sqlite_utils.Database, prices: PriceTable | None = None,
                         **fields: Any) -> WriteResult:
    """Validate one event given as keyword fields (§2 names) and record it, exactly once."""
    event = parse_event(fields, now=clock.now(), fill_id="hash")
    return record_events(db, [event], prices or PriceTable())


def get_cost_by_model(db: sqlite_utils.Database, project_id: str | None = None,
                      period: str = "all") -> dict[str, dict[str, Any]]:
    """Cost, tokens and share per model family."""
    return queries.breakdown(db, by="model", period=period, project=project_id, limit=None,
                             now=clock.now())["breakdown"]


def get_cost_timeseries(db: sqlite_utils.Database, granularity: str = "day",
                        start: str | None = None, end: str | None = None,
                        project_id: str | None = None, tz: str = "UTC",
                        model: str | None = None) -> list[dict[str, Any]]:
    """Gap-filled points per day/week/month (or hour) in ``tz``."""
    return queries.timeseries(db, granularity=granularity, start=start, end=end, model=model,
                              project=project_id, tz=ZoneInfo(tz), now=clock.now())["series"]


_AGGREGATE_VALUES = ("total_cost_usd", "total_input_tokens", "total_output_tokens",
                     "total_cache_tokens", "turn_count", "task_count")


def update_cost_aggregate(db: sqlite_utils.Database, project_id: str, model: str, phase: str,
                          date: str, **values: float) -> None:
    """Replace one cost_aggregates row's values (the seed's operator override).

    The live path never calls this: it adds into cost_aggregates. A replaced row shows up as
    drift in ``costlog aggregates check`` until ``rebuild``.
    """
    unknown = sorted(set(values) - set(_AGGREGATE_VALUES))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a cost_aggregates value")
    columns = ["project_id", "model", "phase", "date", *values, "created_at"]
    updates = ", ".join(f"{column} = excluded.{column}" for column in values) or "date = date"
    with immediate(db):
        db.execute(
            f"INSERT INTO cost_aggregates ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns[:-1])}, datetime('now'))"
            f" ON CONFLICT(project_id, model, phase, date) DO UPDATE SET {updates}",
            [project_id, model, phase, date, *values.values()],
        )


def get_cost_aggregates(db: sqlite_utils.Database, project_id: str | None = None,
                        start_date: str | None = None,
                        end_date: str | None = None) -> list[dict[str, Any]]:
    """cost_aggregates rows (UTC dates, inclusive bounds), oldest first."""
    where, params = ["1"], []
    for clause, value in (("project_id = ?", project_id), ("date >= ?", start_date),
                          ("date <= ?", end_date)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return list(db.query(
        f"SELECT * FROM cost_aggregates WHERE {' AND '.join(where)}"
        " ORDER BY date, project_id, model, phase", params,
    ))


def get_budget(db: sqlite_utils.Database, project_id: str | None = None) -> dict[str, Any] | None:
    """The budget of ``project_id`` (None: the all-projects budget), or None when unset."""
    return queries.get_budget(db, project_id)


def set_budget(db: sqlite_utils.Database, project_id: str | None, monthly_limit_usd: float,
               alert_threshold_percent: int = queries.DEFAULT_ALERT_THRESHOLD) -> None:
    """Create or replace a monthly budget; a threshold of 0 means the default 80."""
    if not math.isfinite(monthly_limit_usd) or monthly_limit_usd < 0:
        raise ValueError("monthly_limit_usd must be non-negative")
    if not 0 <= alert_threshold_percent <= 100:
        raise ValueError("alert_threshold_percent must be between 0 and 100")
    threshold = alert_threshold_percent or queries.DEFAULT_ALERT_THRESHOLD
    with immediate(db):
        db.execute(
            "INSERT INTO cost_budgets(project_id, monthly_limit_usd, alert_threshold_percent,"
            " created_at, updated_at) VALUES (?, ?, ?, datetime('now'), datetime('now'))"
            " ON CONFLICT(project_id) DO UPDATE SET monthly_limit_usd = excluded.monthly_limit_usd,"
            " alert_threshold_percent = excluded.alert_threshold_percent,"
            " updated_at = excluded.updated_at",
            [project_id or ALL_PROJECTS, float(monthly_limit_usd), threshold],
        )


def get_budget_status(db: sqlite_utils.Database, project_id: str | None = None,
                      tz: str = "UTC", now: datetime | None = None) -> dict[str, Any]:
    """Live month-to-date spend against the budget (calendar month in ``tz``)."""
    return queries.budget_status(db, project=project_id, tz=ZoneInfo(tz),
                                 now=now or clock.now())


def get_initiative_cost(db: sqlite_utils.Database, initiative_id: str,
                        project_id: str | None = None) -> dict[str, Any] | None:
    return queries.initiative_cost(db, initiative_id, project=project_id)


# --- aggregates check | rebuild ---------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    table: str
    key: tuple
    column: str
    expected: float
    actual: float

    def __str__(self) -> str:
        return (f"{self.table} {'/'.join(map(str, self.key))} {self.column}:"
                f" expected {self.expected}, found {self.actual}")


def _values_equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        # cost_aggregates keeps REAL sums whose last bits depend on the order of addition.
        return math.isclose(expected or 0, actual or 0, rel_tol=1e-9, abs_tol=1e-9)
    return (expected or 0) == (actual or 0)


def check_aggregates(db: sqlite_utils.Database) -> Iterator[Drift]:
    """Every difference between a rollup and its recomputation from cost_log."""
    (hi,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()
    for rollup in rollups.ROLLUPS:
        width = len(rollup.key_columns)
        expected = {row[:width]: row[width:] for row in
                    db.execute(rollup.expected(), {"lo": 0, "hi": hi}).fetchall()}
        actual = {row[:width]: row[width:] for row in db.execute(
            f"SELECT {', '.join(rollup.key_columns + rollup.value_columns)} FROM {rollup.table}"
        ).fetchall()}
        zero = (0,) * len(rollup.value_columns)
        for key in sorted(expected.keys() | actual.keys(), key=repr):
            want, have = expected.get(key, zero), actual.get(key, zero)
            for column, a, b in zip(rollup.value_columns, want, have, strict=True):
                if not _values_equal(a, b):
                    yield Drift(rollup.table, key, column, a, b)


def rebuild_aggregates(db: sqlite_utils.Database) -> None:
    """Recompute every rollup from cost_log in one transaction."""
    with immediate(db):
        migrations.backfill(db)
