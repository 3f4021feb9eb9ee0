"""Every write to the database goes through this module (SPEC §5).

:func:`record_rows` is the one idempotent write path: the worker and the seed's
:func:`record_cost_extended` reach it through :func:`record_events`, ``costlog import`` with the
rows its parser process built by :func:`event_row`. In one ``BEGIN IMMEDIATE`` transaction it
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
from ingest.constants import ALL_PROJECTS, COST_UNPRICED
from ingest.database import immediate
from ingest.event import CostEvent, parse_event
from ingest.models import detect_model
from ingest.pricing import PriceTable, cost_of

#: The cost_log columns of a row from :func:`event_row`, in order.
COLUMNS = (
    "event_id", "project_id", "task_id", "phase", "model", "model_id", "provider", "iteration",
    "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
    "cost_usd", "cost_source", "duration_ms", "initiative_id", "timestamp",
)
_INSERT = (
    f"INSERT INTO cost_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    " ON CONFLICT(event_id) DO NOTHING"
)


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int


def event_row(event: CostEvent, prices: PriceTable) -> tuple:
    """``event`` as a cost_log row for :func:`record_rows`: priced, its model family detected."""
    cost, source = cost_of(event, prices)
    return (
        event.event_id, event.project_id, event.task_id, event.phase,
        detect_model(event.model, event.provider), event.model, event.provider, event.iteration,
        event.input_tokens, event.output_tokens, event.cache_creation_tokens,
        event.cache_read_tokens, event.total_tokens, cost, source, event.duration_ms,
        event.initiative_id, buckets.storage_text(event.timestamp),
    )


_SOURCE = COLUMNS.index("cost_source")


def record_events(
    db: sqlite_utils.Database, events: Sequence[CostEvent], prices: PriceTable
) -> WriteResult:
    """Price ``events`` and record them, exactly once (:func:`record_rows`)."""
    return record_rows(db, [event_row(event, prices) for event in events])


def record_rows(db: sqlite_utils.Database, rows: list[tuple]) -> WriteResult:
    """Insert ``rows`` (built by :func:`event_row`) and add the new ones into every rollup, all
    in one transaction. ``costlog import`` builds the rows in another process."""
    with immediate(db):
        (lo,) = db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()
        inserted = db.conn.executemany(_INSERT, rows).rowcount
        bounds = {"lo": lo, "hi": lo}
        if inserted:
            # The new rows are the ones above lo, up to the last one inserted. (lo cannot be
            # derived from it: a duplicate row still uses up an AUTOINCREMENT id.)
            (bounds["hi"],) = db.conn.execute("SELECT last_insert_rowid()").fetchone()
            db.conn.execute(rollups.CREATE_STAGED_ROWS)
            db.conn.execute(rollups.STAGE_ROWS, bounds)
            for statement in rollups.ADD_STATEMENTS:
                db.conn.execute(statement, bounds)
            db.conn.execute(rollups.CLEAR_STAGED_ROWS)
        _bump_counters(db, rows, inserted, bounds)
    return WriteResult(inserted=inserted, duplicates=len(rows) - inserted)


def _bump_counters(db: sqlite_utils.Database, rows: list[tuple], inserted: int,
                   bounds: dict[str, int]) -> None:
    if inserted == len(rows):
        unpriced = sum(row[_SOURCE] == COST_UNPRICED for row in rows)
    else:
        # Some rows were duplicates: only the database knows which of them are new.
        (unpriced,) = db.conn.execute(
            "SELECT COUNT(*) FROM cost_log WHERE id > :lo AND id <= :hi"
            " AND cost_source = 'unpriced'", bounds,
        ).fetchone()
    counts = {"events_ingested": inserted, "duplicates_ignored": len(rows) - inserted,
              "events_unpriced": unpriced}
    db.conn.executemany(
        "INSERT INTO costlog_counters(name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        [(name, value) for name, value in counts.items() if value],
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
        # A key table's only value is whether the key is there.
        columns, present = (rollup.value_columns, ()) if rollup.values else (["rows"], (1,))
        expected = {row[:width]: row[width:] + present for row in
                    db.execute(rollup.expected(), {"lo": 0, "hi": hi}).fetchall()}
        actual = {row[:width]: row[width:] + present for row in db.execute(
            f"SELECT {', '.join(rollup.key_columns + rollup.value_columns)} FROM {rollup.table}"
        ).fetchall()}
        zero = (0,) * len(columns)
        for key in sorted(expected.keys() | actual.keys(), key=repr):
            want, have = expected.get(key, zero), actual.get(key, zero)
            for column, a, b in zip(columns, want, have, strict=True):
                if not _values_equal(a, b):
                    yield Drift(rollup.table, key, column, a, b)


def rebuild_aggregates(db: sqlite_utils.Database) -> None:
    """Recompute every rollup from cost_log in one transaction."""
    with immediate(db):
        migrations.backfill(db)
