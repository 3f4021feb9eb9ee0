"""Every write to the database goes through this module (SPEC §5).

:func:`record_events` is the one idempotent write path: the worker, ``costlog import`` and the
seed's :func:`record_cost_extended` all call it. In one ``BEGIN IMMEDIATE`` transaction it
inserts the rows keyed by ``event_id`` (a duplicate is ignored) and adds only the new rows into
every rollup by additive upsert in SQL.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from ingest import clock, migrations, rollups
from ingest.constants import ALL_PROJECTS
from ingest.database import immediate
from ingest.event import CostEvent, parse_event
from ingest.models import detect_model
from ingest.pricing import PriceTable, cost_of

DEFAULT_ALERT_THRESHOLD = 80

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


def storage_timestamp(instant: datetime) -> str:
    """cost_log's timestamp text: UTC ``YYYY-MM-DD HH:MM:SS`` (SPEC §5)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(event: CostEvent, prices: PriceTable) -> tuple:
    cost, source = cost_of(event, prices)
    return (
        event.event_id, event.project_id, event.task_id, event.phase,
        detect_model(event.model, event.provider), event.model, event.provider, event.iteration,
        event.input_tokens, event.output_tokens, event.cache_creation_tokens,
        event.cache_read_tokens, event.total_tokens, cost, source, event.duration_ms,
        event.initiative_id, storage_timestamp(event.timestamp),
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
        if inserted:
            hi = _max_id(db)
            for rollup in rollups.ROLLUPS:
                for statement in rollup.add_statements():
                    db.execute(statement, {"lo": lo, "hi": hi})
    return WriteResult(inserted=inserted, duplicates=len(rows) - inserted)
