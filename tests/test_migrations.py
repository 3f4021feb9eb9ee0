"""Schema migrations: the orchestrator's 001-003 reproduced, costlog's own after them."""

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from ingest.database import connect
from ingest.migrations import available, migrate
from ingest.store import check_aggregates
from tests.conftest import FIXTURES

ORCHESTRATOR_FIXTURE = FIXTURES / "orc-global-v1.db"
V002_COLUMNS = {"model", "iteration", "cache_creation_tokens", "cache_read_tokens",
                "total_tokens", "initiative_id"}
V002_INDEXES = {"idx_cost_model", "idx_cost_model_timestamp", "idx_cost_initiative",
                "idx_cost_project_timestamp"}


def columns(db: sqlite_utils.Database, table: str) -> dict[str, str]:
    return {row[1]: row[2] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}


def schema(db: sqlite_utils.Database) -> list[tuple]:
    return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def dump(db: sqlite_utils.Database, table: str) -> list[tuple]:
    return db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


@pytest.fixture
def fresh(db_path: Path) -> sqlite_utils.Database:
    return connect(db_path)


def test_migration_files_are_numbered_in_order() -> None:
    assert [(m.version, m.name) for m in available()] == [
        (1, "cost_log"), (2, "model_tracking"), (3, "duration"), (4, "costlog_events"),
        (5, "read_indexes"), (6, "coarse_rollups"),
    ]


def test_migration_002_applies_cleanly(fresh: sqlite_utils.Database) -> None:
    assert migrate(fresh, target=2) == [1, 2]
    assert set(columns(fresh, "cost_log")) >= V002_COLUMNS
    assert {index.name for index in fresh["cost_log"].indexes} >= V002_INDEXES
    assert set(columns(fresh, "cost_aggregates")) == {
        "id", "project_id", "model", "phase", "date", "total_cost_usd", "total_input_tokens",
        "total_output_tokens", "total_cache_tokens", "turn_count", "task_count", "created_at"}
    assert set(columns(fresh, "cost_budgets")) == {
        "id", "project_id", "monthly_limit_usd", "alert_threshold_percent", "current_month",
        "current_month_spent", "created_at", "updated_at"}
    assert "duration_ms" not in columns(fresh, "cost_log")


def test_migration_002_idempotent(fresh: sqlite_utils.Database) -> None:
    migrate(fresh, target=2)
    before = schema(fresh)
    assert migrate(fresh, target=2) == []
    assert schema(fresh) == before
    # Applying the SQL again by hand over an already-migrated table adds nothing either.
    fresh.execute("DELETE FROM costlog_migrations WHERE version = 2")
    assert migrate(fresh, target=2) == [2]
    assert schema(fresh) == before


def test_migration_002_preserves_data(fresh: sqlite_utils.Database) -> None:
    migrate(fresh, target=1)
    fresh.execute(
        "INSERT INTO cost_log(project_id, task_id, phase, cost_usd, input_tokens, output_tokens,"
        " timestamp) VALUES ('p', 'T-1', 'spec', 0.25, 100, 20, '2026-10-01 10:00:00')")
    fresh.conn.commit()
    migrate(fresh, target=2)
    assert list(fresh.query("SELECT * FROM cost_log")) == [{
        "id": 1, "project_id": "p", "task_id": "T-1", "phase": "spec", "cost_usd": 0.25,
        "input_tokens": 100, "output_tokens": 20, "timestamp": "2026-10-01 10:00:00",
        "model": "", "iteration": 0, "cache_creation_tokens": 0, "cache_read_tokens": 0,
        "total_tokens": 0, "initiative_id": "",
    }]


def test_migration_003_adds_duration_ms(fresh: sqlite_utils.Database) -> None:
    assert migrate(fresh, target=3) == [1, 2, 3]
    assert columns(fresh, "cost_log")["duration_ms"] == "INTEGER"
    fresh.execute("INSERT INTO cost_log(project_id, task_id, phase) VALUES ('p', 't', 'x')")
    assert fresh.execute("SELECT duration_ms FROM cost_log").fetchone() == (0,)


def test_migrate_all_twice_is_a_no_op(fresh: sqlite_utils.Database) -> None:
    assert migrate(fresh) == [1, 2, 3, 4, 5, 6]
    before = schema(fresh)
    assert migrate(fresh) == []
    assert schema(fresh) == before


@pytest.fixture
def orchestrator_copy(tmp_path: Path) -> Path:
    target = tmp_path / "orc-global.db"
    shutil.copy(ORCHESTRATOR_FIXTURE, target)
    return target


def test_orchestrator_database_migrates_in_place(orchestrator_copy: Path) -> None:
    raw = sqlite3.connect(orchestrator_copy)
    rows_before = raw.execute("SELECT * FROM cost_log ORDER BY id").fetchall()
    projects_before = raw.execute("SELECT * FROM projects ORDER BY id").fetchall()
    projects_schema = raw.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'projects'").fetchone()
    raw.close()
    assert len(rows_before) == 400

    db = connect(orchestrator_copy)
    assert migrate(db) == [1, 2, 3, 4, 5, 6]
    assert migrate(db) == []

    # Every old row and value survives; the new columns hold their defaults.
    old_columns = "id, project_id, task_id, phase, cost_usd, input_tokens, output_tokens, timestamp"
    assert db.execute(f"SELECT {old_columns} FROM cost_log ORDER BY id").fetchall() == rows_before
    assert db.execute(
        "SELECT DISTINCT model, total_tokens, initiative_id, duration_ms, cost_source"
        " FROM cost_log").fetchall() == [("", 0, "", 0, "reported")]
    assert dump(db, "projects") == projects_before
    assert db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'projects'").fetchone() == projects_schema
    # The orchestrator's own record now lists 001-003, so it never re-runs them.
    assert [row[0] for row in db.execute("SELECT version FROM _migrations ORDER BY 1")] == [1, 2, 3]

    # Rollups were back-filled from the old rows: totals agree with cost_log to the nano-dollar.
    (cost, tokens, count) = db.execute(
        "SELECT SUM(cost_usd), SUM(input_tokens + output_tokens), COUNT(*) FROM cost_log"
    ).fetchone()
    assert round(cost, 6) == 466.756071
    for table in ("rollup_model_q", "rollup_phase_q"):
        nanos, toks, events = db.execute(
            f"SELECT SUM(cost_nanos), SUM(tokens), SUM(events) FROM {table}"
            " WHERE project_id = '*'").fetchone()
        assert (nanos, toks, events) == (466_756_071_000, tokens, 400)
    nanos, events = db.execute("SELECT SUM(cost_nanos), SUM(events) FROM rollup_task").fetchone()
    assert (nanos, events) == (466_756_071_000, 400)
    agg_cost, turns = db.execute(
        "SELECT SUM(total_cost_usd), SUM(turn_count) FROM cost_aggregates").fetchone()
    assert (round(agg_cost, 6), turns) == (466.756071, 400)
    assert list(check_aggregates(db)) == []
    db.close()
