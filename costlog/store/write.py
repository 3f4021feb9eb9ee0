"""Every write to the database goes through this module.

:func:`record_rows` is the one idempotent write path: the worker and the seed's
:func:`record_cost_extended` reach it through :func:`record_events`, ``costlog import`` with the
rows its parser process built by :func:`event_row`. In one ``BEGIN IMMEDIATE`` transaction it
inserts the rows keyed by ``event_id`` (a duplicate is ignored) and adds only the new rows into
every rollup by additive upsert in SQL, and decides the budget alerts its new rows make due
(``costlog.store.alerts``) in the same transaction. New rows that would take a sum past the
exact range of a 64-bit integer are refused instead (:mod:`costlog.store.bounds`), the others
still recorded.
"""

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog import clock
from costlog.constants import (
    COST_UNPRICED,
    MAX_REVISION,
    SUPERSEDED_BY_EVENT,
    SUPERSEDED_BY_VOID,
)
from costlog.domain import buckets
from costlog.domain.cursors import Cursor
from costlog.domain.event import CostEvent
from costlog.domain.export import PART_COLUMNS
from costlog.domain.models import detect_model
from costlog.domain.pricing import PriceTable, price_event
from costlog.domain.rates import PARTS
from costlog.errors import CostlogError
from costlog.store import alerts, bounds, migrations, rollups
from costlog.store.bounds import Refusal
from costlog.store.connection import immediate, is_sqlite

#: The cost_log columns of a row from :func:`event_row`, in order.
COLUMNS = (
    "event_id", "project_id", "task_id", "phase", "model", "model_id", "provider", "iteration",
    "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
    "cost_usd", "cost_source", "duration_ms", "initiative_id", "timestamp", "revision",
    "cache_creation_1h_tokens", "web_search_requests", "service_tier", "price_source",
    *PART_COLUMNS,
)
_INSERT = (
    f"INSERT INTO cost_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    " ON CONFLICT(event_id) DO NOTHING"
)


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    #: Rows that changed nothing: an event_id recorded at the same or a higher revision.
    duplicates: int
    #: New rows that no exact sum could hold: not recorded (see costlog.store.bounds).
    refused: tuple[Refusal, ...] = ()
    #: The alerts this write fired and its budgets' month spend (nothing without new rows).
    decision: alerts.Decision = alerts.Decision()
    #: Rows that replaced a recorded version of their event (a higher revision).
    revised: int = 0


def event_row(event: CostEvent, prices: PriceTable) -> tuple:
    """``event`` as a cost_log row for :func:`record_rows`: priced, its model family detected."""
    priced = price_event(event, prices)
    return (
        event.event_id, event.project_id, event.task_id, event.phase,
        detect_model(event.model, event.provider), event.model, event.provider, event.iteration,
        event.input_tokens, event.output_tokens, event.cache_creation_tokens,
        event.cache_read_tokens, event.total_tokens, priced.cost_usd, priced.cost_source,
        event.duration_ms, event.initiative_id, buckets.storage_text(event.timestamp),
        event.revision, event.cache_creation_1h_tokens, event.web_search_requests,
        event.service_tier, priced.price_source, *(priced.parts or _NO_PARTS),
    )


_NO_PARTS = (None,) * len(PARTS)


_SOURCE = COLUMNS.index("cost_source")


def record_events(
    db: sqlite_utils.Database, events: Sequence[CostEvent], prices: PriceTable
) -> WriteResult:
    """Price ``events`` and record them, exactly once (:func:`record_rows`)."""
    return record_rows(db, [event_row(event, prices) for event in events])


_PROJECT = COLUMNS.index("project_id")
_EVENT_ID = COLUMNS.index("event_id")
_REVISION = COLUMNS.index("revision")
_TOKEN_COLUMNS = tuple(COLUMNS.index(name) for name in (
    "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens"))
_TOTAL_TOKENS = COLUMNS.index("total_tokens")
_KEY_SOURCES = {column: COLUMNS.index(column) for column in rollups.KEY_SOURCES}


def row_tokens(row: tuple) -> int:
    """A row's tokens as every rollup counts them (``rollups.TOKENS``)."""
    return row[_TOTAL_TOKENS] or sum(row[index] for index in _TOKEN_COLUMNS)


def _latest(rows: list[tuple], larger: bool) -> list[tuple]:
    """One row per event_id: its highest revision (with ``larger``, of those the copy with the
    most tokens), the first of equals, in the order the ids first appear."""
    if len(rows) < 2:
        return rows
    kept: dict[str, tuple] = {}
    for row in rows:
        best = kept.get(row[_EVENT_ID])
        if best is None or row[_REVISION] > best[_REVISION] or (
                larger and row[_REVISION] == best[_REVISION]
                and row_tokens(row) > row_tokens(best)):
            kept[row[_EVENT_ID]] = row
    return rows if len(kept) == len(rows) else list(kept.values())


def record_rows(db: sqlite_utils.Database, rows: list[tuple], now: datetime | None = None, *,
                source: str = SUPERSEDED_BY_EVENT, larger: bool = False) -> WriteResult:
    """Insert ``rows`` (built by :func:`event_row`), add the new ones into every rollup and fire
    the budget alerts they make due at ``now`` (default: the clock), all in one transaction.
    ``costlog import`` builds the rows in another process.

    A row whose event_id is recorded at a lower revision replaces it (:func:`_supersede`, the
    version it replaces kept in cost_log_revisions as superseded by ``source``). With
    ``larger``, so does a row holding more tokens than the recorded live version, as that
    version's next revision (a Claude Code response an earlier import read half-written).
    """
    decision = alerts.Decision()
    given = len(rows)
    rows = _latest(rows, larger)
    when = now or clock.now()
    with immediate(db):
        (lo,) = db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()
        inserted = db.conn.executemany(_INSERT, rows).rowcount
        revised, old_projects = 0, set()
        if inserted < len(rows) and (larger or any(row[_REVISION] for row in rows)):
            # Some ids were recorded before: those at a lower revision are replaced.
            revised, old_projects = _supersede(db, rows, lo, when, source, larger)
        duplicates = given - inserted - revised
        ids = {"lo": lo, "hi": lo}
        refused: list[Refusal] = []
        if inserted or revised:
            # The new rows are the ones above lo, up to the last one inserted. (lo cannot be
            # derived from it: a duplicate row still uses up an AUTOINCREMENT id.)
            (ids["hi"],) = db.conn.execute("SELECT last_insert_rowid()").fetchone()
            db.conn.execute(rollups.CREATE_STAGED_ROWS)
            db.conn.execute(rollups.STAGE_ROWS, ids)
            refused = bounds.refuse_staged(db)
            inserted -= len(refused)
            for statement in rollups.ADD_STATEMENTS:
                db.conn.execute(statement, ids)
            db.conn.execute(rollups.CLEAR_STAGED_ROWS)
            # Duplicates' projects too: deciding for a budget twice changes nothing.
            decision = alerts.decide(db, {row[_PROJECT] for row in rows} | old_projects, when)
        _bump_counters(db, rows, inserted, duplicates, len(refused), ids, revised)
    return WriteResult(inserted=inserted, duplicates=duplicates, refused=tuple(refused),
                       decision=decision, revised=revised)


def _supersede(db: sqlite_utils.Database, rows: list[tuple], lo: int, now: datetime,
               source: str, larger: bool) -> tuple[int, set[str]]:
    """Replace the recorded versions (ids up to ``lo``) that ``rows`` supersede: each taken out
    of every rollup and kept in cost_log_revisions, its row deleted, the new version inserted
    (above ``lo``: the caller adds it into the rollups with the write's new rows). Returns the
    rows that replaced one and the projects of the versions taken out."""
    wanted = {row[_EVENT_ID]: row for row in rows if larger or row[_REVISION]}
    stored = db.conn.execute(
        f"SELECT n.event_id, COALESCE(n.revision, 0), n.voided_at IS NOT NULL, {rollups.TOKENS},"
        f" {', '.join(f'n.{column}' for column in rollups.KEY_SOURCES)}"
        " FROM cost_log AS n WHERE n.event_id IN (SELECT value FROM json_each(:ids))"
        " AND n.id <= :lo", {"ids": json.dumps(list(wanted)), "lo": lo}).fetchall()
    replacing = []
    moved: set[str] = set()  # the key columns some replaced version changes
    for event_id, revision, voided, tokens, *keys in stored:
        row = wanted[event_id]
        if row[_REVISION] > revision:
            replacing.append(row)
        elif (larger and not voided and revision < MAX_REVISION
              and row_tokens(row) > tokens):
            replacing.append(row[:_REVISION] + (revision + 1,) + row[_REVISION + 1:])
        else:
            continue
        moved.update(column for column, old in zip(rollups.KEY_SOURCES, keys, strict=True)
                     if voided or old != row[_KEY_SOURCES[column]])
    if not replacing:
        return 0, set()
    ids = json.dumps([row[_EVENT_ID] for row in replacing])
    projects = _take_out(db, ids, now, source,
                         "DELETE FROM cost_log WHERE event_id IN (SELECT value FROM"
                         " json_each(:ids))", {}, moved=frozenset(moved))
    db.conn.executemany(_INSERT, replacing)
    return len(replacing), projects


def _take_out(db: sqlite_utils.Database, ids: str, now: datetime, source: str,
              change: str, params: dict[str, Any],
              moved: frozenset[str] = frozenset(rollups.KEY_SOURCES)) -> set[str]:
    """Supersede the recorded versions of the event ids ``ids`` (a JSON array): keep each in
    cost_log_revisions, ``change`` their cost_log rows (a statement over ``:ids`` and
    ``params``: delete them, or void them), and take the live ones out of every rollup — the
    sums subtracted, a task whose bucket no live row holds any more counted out, the keys left
    empty deleted. ``moved``: the key columns (``rollups.KEY_SOURCES``) whose values the new
    versions change; a rollup whose keys depend on none of them gets its keys back from the
    new versions, so nothing of it is deleted (every key moves for a void). Returns the
    projects of the rows taken out."""
    db.conn.execute(rollups.CREATE_STAGED_ROWS)
    db.conn.execute(rollups.STAGE_EVENT_ROWS, {"ids": ids})
    # Each version as it is stored, every column (whatever migrations added) but its row id.
    cursor = db.conn.execute("SELECT * FROM cost_log WHERE event_id IN (SELECT value FROM"
                             " json_each(:ids)) ORDER BY event_id", {"ids": ids})
    stored = cursor.fetchall()  # (PostgreSQL's pipeline describes a result once it is read)
    names = [column[0] for column in cursor.description]
    at = buckets.rfc3339(now.astimezone(UTC))
    versions = [dict(zip(names, row, strict=True)) for row in stored]
    db.conn.executemany(
        "INSERT INTO cost_log_revisions(event_id, revision, superseded_at, superseded_by, row)"
        " VALUES (?, ?, ?, ?, ?)",
        [(version["event_id"], version["revision"] or 0, at, source,
          json.dumps({name: value for name, value in version.items() if name != "id"},
                     ensure_ascii=False)) for version in versions])
    db.conn.execute(change, {"ids": ids, **params})
    # SQLite says which keys a subtraction emptied at no cost; on PostgreSQL reading the
    # answer would wait on each statement the write otherwise pipelines.
    sqlite = is_sqlite(db)
    for subtract, prune, depends_on in rollups.SUBTRACTIONS:
        counts = db.conn.execute(subtract)
        emptied = not all(count for (count,) in counts.fetchall()) if sqlite else True
        if emptied and moved & depends_on:
            db.conn.execute(prune)
    if moved & rollups.TASK_KEY_SOURCES:
        gone = db.conn.execute(rollups.TASK_KEYS_GONE).fetchall()
        if gone:
            db.conn.executemany(rollups.TASK_GONE, [tuple(key) for key in gone])
    projects = {project for (project,) in db.conn.execute(
        f"SELECT DISTINCT project FROM {rollups.STAGED_ROWS}")}
    db.conn.execute(rollups.CLEAR_STAGED_ROWS)
    return projects


class EventNotFound(CostlogError, LookupError):
    """No recorded event has that id."""


class LastRevision(CostlogError, ValueError):
    """The event is at the highest revision there is: it cannot be corrected again."""


@dataclass(frozen=True)
class VoidResult:
    event_id: str
    #: The revision the event has now (the void's own).
    revision: int
    #: False when the event was void already: nothing changed.
    changed: bool
    decision: alerts.Decision = alerts.Decision()


def void_event(db: sqlite_utils.Database, event_id: str, reason: str,
               now: datetime | None = None) -> VoidResult:
    """Record the next revision of ``event_id`` as void: its row stays, kept out of every
    figure; the version it supersedes goes into cost_log_revisions. Voiding a void changes
    nothing. Raises :class:`EventNotFound` for an id never recorded."""
    when = now or clock.now()
    with immediate(db):
        row = db.conn.execute(
            "SELECT COALESCE(revision, 0), voided_at IS NOT NULL FROM cost_log"
            " WHERE event_id = ?", [event_id]).fetchone()
        if row is None:
            raise EventNotFound(event_id)
        revision, voided = row
        if voided:
            return VoidResult(event_id, revision, changed=False)
        if revision >= MAX_REVISION:
            raise LastRevision(f"event {event_id}: revision {revision} is the last one")
        ids = json.dumps([event_id])
        projects = _take_out(
            db, ids, when, SUPERSEDED_BY_VOID,
            "UPDATE cost_log SET revision = COALESCE(revision, 0) + 1, voided_at = :at,"
            " void_reason = :reason WHERE event_id IN (SELECT value FROM json_each(:ids))",
            {"at": buckets.rfc3339(when.astimezone(UTC)), "reason": reason})
        decision = alerts.decide(db, projects, when)
        _bump(db, {"events_voided": 1})
    return VoidResult(event_id, revision + 1, changed=True, decision=decision)


def _bump_counters(db: sqlite_utils.Database, rows: list[tuple], inserted: int,
                   duplicates: int, refused: int, ids: dict[str, int], revised: int) -> None:
    if inserted == len(rows):
        unpriced = sum(row[_SOURCE] == COST_UNPRICED for row in rows)
    else:
        # Some rows were duplicates or refused: only the database knows which are new.
        (unpriced,) = db.conn.execute(
            "SELECT COUNT(*) FROM cost_log WHERE id > :lo AND id <= :hi"
            " AND cost_source = 'unpriced'", ids,
        ).fetchone()
    counts = {"events_ingested": inserted, "duplicates_ignored": duplicates,
              "events_unpriced": unpriced, "events_refused": refused, "events_revised": revised}
    _bump(db, counts)


def _bump(db: sqlite_utils.Database, counts: dict[str, int]) -> None:
    db.conn.executemany(
        "INSERT INTO costlog_counters(name, value) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        [(name, value) for name, value in counts.items() if value],
    )


# --- local days ----------------------------------------------------------------------------

#: The rollups by local day (migration 014), recomputed whenever the registered offsets change.
LOCAL_DAY_ROLLUPS = tuple(rollup.table for rollup in rollups.ROLLUPS if rollup.by_offset)


def zone_offsets(name: str) -> list[int]:
    """The offsets (minutes east of UTC) local days are kept at for the zone ``name``. UTC's own
    days are the day rollups', so offset 0 is never one of them."""
    return [offset for offset in buckets.local_day_offsets(ZoneInfo(name)) if offset]


def set_local_day_zones(db: sqlite_utils.Database, zones: Iterable[str]) -> list[int]:
    """Keep local days for exactly ``zones`` (IANA names, already checked): record them and
    their offsets, and recompute the local-day rollups when the offsets changed, all in one
    transaction. Returns the offsets (minutes east of UTC, :func:`zone_offsets`)."""
    names = sorted(set(zones))
    offsets = sorted({offset for name in names for offset in zone_offsets(name)})
    with immediate(db):
        db.execute(f"DELETE FROM {rollups.LOCAL_DAY_ZONES}")
        db.conn.executemany(f"INSERT INTO {rollups.LOCAL_DAY_ZONES}(zone) VALUES (?)",
                            [(name,) for name in names])
        before = [offset for (offset,) in db.execute(
            f"SELECT utc_offset FROM {rollups.LOCAL_DAY_OFFSETS} ORDER BY utc_offset")]
        if before != offsets:
            db.execute(f"DELETE FROM {rollups.LOCAL_DAY_OFFSETS}")
            db.conn.executemany(
                f"INSERT INTO {rollups.LOCAL_DAY_OFFSETS}(utc_offset) VALUES (?)",
                [(offset,) for offset in offsets])
            migrations.backfill(db, tables=LOCAL_DAY_ROLLUPS)
    return offsets


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


@dataclass(frozen=True)
class Unfit:
    """A cost_log row no exact sum can hold (stored before sums were guarded)."""

    refusal: Refusal

    def __str__(self) -> str:
        return (f"cost_log row {self.refusal.row_id} ({self.refusal}):"
                " `costlog aggregates rebuild` sets it aside")


def check_aggregates(db: sqlite_utils.Database) -> Iterator[Drift | Unfit]:
    """Every difference between a rollup and its recomputation from cost_log.

    Rows that cannot all be summed exactly are reported instead: no exact recomputation exists
    until ``rebuild`` has set them aside.
    """
    unfit = bounds.find_unfit(db)
    if unfit:
        yield from map(Unfit, unfit)
        return
    (hi,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()
    rows = rollups.live_rows(db)
    for rollup in rollups.ROLLUPS:
        if not migrations.has_columns(db, rollup):
            continue  # a database not yet migrated that far
        width = len(rollup.key_columns)
        # A key table's only value is whether the key is there.
        columns, present = (rollup.value_columns, ()) if rollup.values else (["rows"], (1,))
        expected = {row[:width]: row[width:] + present for row in
                    db.execute(rollup.expected(rows), {"lo": 0, "hi": hi}).fetchall()}
        actual = {row[:width]: row[width:] + present for row in db.execute(
            f"SELECT {', '.join(rollup.key_columns + rollup.value_columns)} FROM {rollup.table}"
        ).fetchall()}
        zero = (0,) * len(columns)
        for key in sorted(expected.keys() | actual.keys(), key=repr):
            want, have = expected.get(key, zero), actual.get(key, zero)
            for column, a, b in zip(columns, want, have, strict=True):
                if not _values_equal(a, b):
                    yield Drift(rollup.table, key, column, a, b)


def rebuild_aggregates(db: sqlite_utils.Database) -> list[Refusal]:
    """Recompute every rollup from cost_log in one transaction; returns the rows set aside into
    cost_log_refused because no exact sum could hold them."""
    with immediate(db):
        return migrations.backfill(db)


# --- where each Claude Code log was read up to ------------------------------------------------

CURSORS_TABLE = "claude_code_cursors"
_CURSOR_COLUMNS = ("path", "device", "inode", "size", "mtime_ns", "byte_offset", "lines",
                   "head_sha256")
_UPSERT_CURSOR = (
    f"INSERT INTO {CURSORS_TABLE} ({', '.join(_CURSOR_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in _CURSOR_COLUMNS)}) ON CONFLICT(path) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _CURSOR_COLUMNS[1:])
)


def record_cursors(db: sqlite_utils.Database, cursors: dict[str, Cursor]) -> None:
    """Keep ``cursors`` (by file path), in one transaction. The caller commits the rows a
    cursor covers first: a crash in between only makes the next import read them again."""
    if not cursors:
        return
    with immediate(db):
        db.conn.executemany(_UPSERT_CURSOR, [(path, *cursor) for path, cursor in cursors.items()])


def read_cursors(db: sqlite_utils.Database) -> dict[str, Cursor]:
    """Every file's cursor, by path."""
    return {row[0]: Cursor(*row[1:]) for row in db.execute(
        f"SELECT {', '.join(_CURSOR_COLUMNS)} FROM {CURSORS_TABLE}").fetchall()}
