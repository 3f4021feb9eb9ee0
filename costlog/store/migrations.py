"""Numbered SQL migrations from ``schema/``, applied idempotently and recorded.

Each migration runs in one transaction. Statements are made safe to re-run against a database
that already has some of what they add (an orchestrator database at any version): CREATE … IF
NOT EXISTS in the files, and ``ALTER TABLE … ADD COLUMN`` skipped where the column exists.
PostgreSQL runs its own dialect of each migration (``schema/postgresql/``, same numbers), recorded
the same way.
"""

import logging
import re
from dataclasses import dataclass
from importlib import resources

import sqlite_utils

from costlog.store import bounds, rollups
from costlog.store.connection import immediate

RECORD_TABLE = "costlog_migrations"
#: The orchestrator's own record; costlog records 001-003 there too so it never re-runs them.
ORCHESTRATOR_TABLE = "_migrations"
ORCHESTRATOR_VERSIONS = {1, 2, 3}
#: Migrations that add value columns to existing rollups: those rollups (all of costlog's own
#: that sum the token kinds) are recomputed from cost_log. cost_aggregates, which an
#: orchestrator database brings with its own rows, is left as it is.
REBUILD_AFTER = {9: tuple(r.table for r in rollups.ROLLUPS if r.values == rollups.STANDARD_VALUES)}
#: Migrations after which the rollups they add (``Rollup.since``) are back-filled from the rows
#: in cost_log: not the orchestrator's own (it brings its rows), not those a rebuild fills
#: anyway, not the local-day ones (no offset is registered yet; registering one fills them).
BACKFILL_AFTER = {
    r.since for r in rollups.ROLLUPS
    if r.since not in ORCHESTRATOR_VERSIONS and r.since not in REBUILD_AFTER and not r.by_offset
}

#: Migrations a database without them gets before any other, whatever the target: on
#: PostgreSQL every SUM the store runs is costlog_sum (015), the back-fills of 004-013 too.
PREREQUISITES = {"postgresql": (15,)}

log = logging.getLogger("costlog.store")

ADD_COLUMN_RE = re.compile(r"^ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)
FILE_RE = re.compile(r"^(\d{3})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def available(dialect: str = "sqlite") -> list[Migration]:
    folder = resources.files("schema")
    if dialect != "sqlite":
        folder = folder / dialect
    found = []
    for entry in folder.iterdir():
        match = FILE_RE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def _dialect(db: sqlite_utils.Database) -> str:
    return getattr(db, "dialect", "sqlite")


def applied_versions(db: sqlite_utils.Database) -> set[int]:
    if not db[RECORD_TABLE].exists():
        return set()
    return {row[0] for row in db.execute(f"SELECT version FROM {RECORD_TABLE}").fetchall()}


def _run_statement(db: sqlite_utils.Database, statement: str) -> None:
    # PostgreSQL's dialect says ADD COLUMN IF NOT EXISTS itself.
    match = ADD_COLUMN_RE.match(statement) if _dialect(db) == "sqlite" else None
    if match:
        table, column = match[1], match[2]
        existing = {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}
        if column in existing:
            return
    db.execute(statement)


def has_columns(db: sqlite_utils.Database, rollup: rollups.Rollup) -> bool:
    """Whether the migrations applied so far made every table and column ``rollup`` needs."""
    return all(db[table].exists() for table in (rollup.table, *rollup.reads)) and set(
        rollup.value_columns) <= {column.name for column in db[rollup.table].columns}


def backfill(db: sqlite_utils.Database, *, only_empty: bool = False,
             tables: tuple[str, ...] | None = None) -> list[bounds.Refusal]:
    """Recompute the rollups (those of ``tables``, default all) from cost_log (inside the
    caller's transaction).

    With ``only_empty``, rollups that already hold rows are left as they are: after a migration
    that adds rollups, and for an orchestrator database's own cost_aggregates. Rows no exact sum
    can hold are first set aside into cost_log_refused (and returned); then every rollup is
    recomputed, since each held them.
    """
    refused = bounds.set_aside_unfit(db)
    for refusal in refused:
        log.warning("cost_log row %d set aside into %s: %s", refusal.row_id, bounds.REFUSED,
                    refusal)
    if refused:  # every rollup held them
        only_empty, tables = False, None
    (hi,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()
    rows = rollups.live_rows(db)
    for rollup in rollups.ROLLUPS:
        if tables is not None and rollup.table not in tables:
            continue
        if not has_columns(db, rollup):
            continue  # added (or given its values) by a later migration, which back-fills it
        if only_empty and db.execute(f"SELECT 1 FROM {rollup.table} LIMIT 1").fetchone():
            continue
        db.execute(f"DELETE FROM {rollup.table}")
        for statement in rollup.add_statements(recompute=True, rows=rows):
            db.execute(statement, {"lo": 0, "hi": hi})
    return refused


def migrate(db: sqlite_utils.Database, *, target: int | None = None) -> list[int]:
    """Apply pending migrations up to ``target`` (all by default), each dialect's prerequisites
    first; returns the versions applied, in order of number."""
    done: list[int] = []
    dialect = _dialect(db)
    first = PREREQUISITES.get(dialect, ())
    found = available() if dialect == "sqlite" else available(dialect)
    for migration in sorted(found, key=lambda m: (m.version not in first, m.version)):
        if target is not None and migration.version > target and migration.version not in first:
            break
        if migration.version in applied_versions(db):
            continue
        with immediate(db):
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {RECORD_TABLE}"
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            # Another process may have applied it while we waited for the write lock.
            if migration.version in applied_versions(db):
                continue
            for statement in migration.statements():
                _run_statement(db, statement)
            if migration.version in BACKFILL_AFTER:
                # Fill the rollups this migration added; an orchestrator database's own
                # cost_aggregates rows are kept.
                backfill(db, only_empty=True)
            if migration.version in REBUILD_AFTER:
                backfill(db, tables=REBUILD_AFTER[migration.version])
            db.execute(
                f"INSERT INTO {RECORD_TABLE}(version, name, applied_at)"
                " VALUES (?, ?, datetime('now'))",
                [migration.version, migration.name],
            )
            if migration.version in ORCHESTRATOR_VERSIONS and db[ORCHESTRATOR_TABLE].exists():
                db.execute(
                    f"INSERT OR IGNORE INTO {ORCHESTRATOR_TABLE}(version) VALUES (?)",
                    [migration.version],
                )
        done.append(migration.version)
    return sorted(done)
