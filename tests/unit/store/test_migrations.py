"""Schema migrations: the orchestrator's 001-003 reproduced, costlog's own after them."""

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store import migrations
from costlog.store.connection import connect
from costlog.store.migrations import Migration, available, migrate
from costlog.store.write import check_aggregates, rebuild_aggregates, record_events
from tests.conftest import FIXTURES, NOW

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
        (5, "read_indexes"), (6, "coarse_rollups"), (7, "task_count_keys"),
        (8, "drop_task_search_index"), (9, "token_kinds"), (10, "budget_alerts"),
        (11, "exact_sums"), (12, "task_months"), (13, "series_rollups"),
        (14, "local_days"), (15, "integer_sums"), (16, "room_for_writes"), (17, "prices"),
        (18, "revisions"),
        (19, "claude_code_cursors"), (21, "unpriced_index"),
    ]


def test_a_gap_in_the_numbers_is_filled_later(fresh: sqlite_utils.Database,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration numbered below one already applied (merged later) still applies, once."""
    every = available()
    monkeypatch.setattr(migrations, "available", lambda: [m for m in every if m.version != 10])
    assert migrate(fresh) == [m.version for m in every if m.version != 10]
    monkeypatch.setattr(migrations, "available", lambda: every)
    assert migrate(fresh) == [10]
    assert migrate(fresh) == []
    assert fresh["cost_alerts"].exists()


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
    assert migrate(fresh) == [m.version for m in available()]
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
    assert migrate(db) == [m.version for m in available()]
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


# -- 007: the keys behind cost_aggregates.task_count ---------------------------------------------

TASK_KEYS = "cost_aggregates_tasks"


def recorded(db: sqlite_utils.Database) -> sqlite_utils.Database:
    """Events on two days, several tasks, models and phases, with a duplicate and a NULL task."""
    events = [
        {"event_id": f"e{i}", "project_id": f"p{i % 2}", "task_id": f"T{i % 5}",
         "phase": ("spec", "test")[i % 3 == 0], "model": ("claude-opus-4-5", "gpt-5")[i % 4 == 0],
         "provider": ("claude", "openai")[i % 4 == 0], "cost_usd": i / 8,
         "timestamp": ("2026-11-18T23:59:59Z", "2026-11-19T00:00:00+01:00")[i % 2]}
        for i in range(40)
    ]
    record_events(db, [parse_event(e, now=NOW) for e in events + events[:3]], PriceTable())
    # An orchestrator's row, written past costlog: the rebuild adds it into the rollups.
    db.execute("INSERT INTO cost_log(project_id, task_id, phase, cost_usd, timestamp)"
               " VALUES ('p0', NULL, 'spec', 1.0, '2026-11-18 10:00:00')")
    db.conn.commit()
    rebuild_aggregates(db)
    return db


def as_of_006(db: sqlite_utils.Database) -> None:
    """Put a migrated database back to what version 006 left: no key table, 007 unrecorded."""
    db.execute(f"DROP TABLE {TASK_KEYS}")
    db.execute("DELETE FROM costlog_migrations WHERE version = 7")
    db.conn.commit()


def tables(db: sqlite_utils.Database) -> dict[str, list[tuple]]:
    names = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name <> 'costlog_migrations' ORDER BY name")]
    return {name: dump(db, name) for name in names}


def test_migration_007_applies_cleanly(fresh: sqlite_utils.Database) -> None:
    assert migrate(fresh, target=6) == [1, 2, 3, 4, 5, 6]
    assert not fresh[TASK_KEYS].exists()
    assert migrate(fresh, target=7) == [7]
    assert columns(fresh, TASK_KEYS) == {"project_id": "TEXT", "model": "TEXT", "phase": "TEXT",
                                         "date": "TEXT", "task_id": "TEXT"}
    assert fresh[TASK_KEYS].pks == ["project_id", "model", "phase", "date", "task_id"]


def test_migration_007_idempotent(fresh: sqlite_utils.Database) -> None:
    migrate(fresh)
    recorded(fresh)
    before, keys = schema(fresh), dump(fresh, TASK_KEYS)
    assert migrate(fresh) == []
    fresh.execute("DELETE FROM costlog_migrations WHERE version = 7")
    fresh.conn.commit()
    assert migrate(fresh) == [7]
    assert (schema(fresh), dump(fresh, TASK_KEYS)) == (before, keys)


def test_migration_007_preserves_data_and_backfills_the_keys(
        fresh: sqlite_utils.Database) -> None:
    migrate(fresh)
    recorded(fresh)
    as_of_006(fresh)
    before = tables(fresh)
    assert migrate(fresh) == [7]
    after = tables(fresh)
    assert after.pop(TASK_KEYS) == fresh.execute(
        "SELECT DISTINCT COALESCE(project_id, ''), CASE WHEN COALESCE(model, '') = ''"
        " THEN 'unknown' ELSE model END, COALESCE(phase, ''), substr(timestamp, 1, 10),"
        " COALESCE(task_id, '') FROM cost_log ORDER BY 1, 2, 3, 4, 5").fetchall()
    assert after == before  # every other table, cost_aggregates included, as it was
    assert list(check_aggregates(fresh)) == []
    # Writes after the upgrade count a task once per bucket, against the back-filled keys.
    more = [{"event_id": f"m{i}", "project_id": "p1", "task_id": f"T{i}", "phase": "spec",
             "model": "claude-opus-4-5", "cost_usd": 1.0, "timestamp": "2026-11-18T23:00:00Z"}
            for i in range(1, 8)]
    record_events(fresh, [parse_event(e, now=NOW) for e in more], PriceTable())
    assert list(check_aggregates(fresh)) == []


def test_migration_007_on_an_orchestrator_database(orchestrator_copy: Path) -> None:
    db = connect(orchestrator_copy)
    migrate(db, target=6)
    assert migrate(db, target=7) == [7]
    (keys,) = db.execute(f"SELECT COUNT(*) FROM {TASK_KEYS}").fetchone()
    assert keys == db.execute(
        "SELECT COUNT(*) FROM (SELECT DISTINCT project_id, model, phase,"
        " substr(timestamp, 1, 10), task_id FROM cost_log)").fetchone()[0] > 0
    assert list(check_aggregates(db)) == []
    db.close()


# -- 008: the index nothing reads since 007 -----------------------------------------------------

ORCHESTRATOR_INDEXES = ({"idx_cost_project", "idx_cost_timestamp", "idx_cost_duration"}
                        | V002_INDEXES)


def cost_log_indexes(db: sqlite_utils.Database) -> set[str]:
    return {index.name for index in db["cost_log"].indexes}


def test_migration_008_drops_only_the_task_search_index(fresh: sqlite_utils.Database) -> None:
    migrate(fresh, target=7)
    assert cost_log_indexes(fresh) == ORCHESTRATOR_INDEXES | {"idx_cost_event_id",
                                                               "idx_cost_project_task"}
    assert migrate(fresh) == [m.version for m in available() if m.version >= 8]
    # (021 adds the partial index of unpriced rows.)
    assert cost_log_indexes(fresh) == ORCHESTRATOR_INDEXES | {"idx_cost_event_id",
                                                              "idx_cost_unpriced"}


def test_migration_008_preserves_data_and_is_idempotent(fresh: sqlite_utils.Database) -> None:
    migrate(fresh)
    recorded(fresh)
    before = tables(fresh)
    fresh.execute("DELETE FROM costlog_migrations WHERE version = 8")
    fresh.conn.commit()
    assert migrate(fresh, target=8) == [8]
    assert tables(fresh) == before
    assert list(check_aggregates(fresh)) == []


def test_migration_008_on_an_orchestrator_database(orchestrator_copy: Path) -> None:
    db = connect(orchestrator_copy)
    migrate(db, target=7)
    before = tables(db)
    assert migrate(db, target=8) == [8]
    assert cost_log_indexes(db) == ORCHESTRATOR_INDEXES | {"idx_cost_event_id"}
    after = tables(db)
    assert {name: after[name] for name in before} == before
    db.close()


# -- 009: the token kinds in every rollup, and the rollups by raw model id and by project ------

KINDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


def test_migration_009_back_fills_the_token_kinds(orchestrator_copy: Path) -> None:
    db = connect(orchestrator_copy)
    migrate(db, target=8)
    cost_log_before = dump(db, "cost_log")
    aggregates_before = dump(db, "cost_aggregates")
    assert migrate(db, target=9) == [9]
    assert dump(db, "cost_log") == cost_log_before
    assert dump(db, "cost_aggregates") == aggregates_before  # the orchestrator's own rows
    assert list(check_aggregates(db)) == []
    # Independently of the rollups' expressions: the kinds per project and per model id.
    sums = ", ".join(f"SUM(COALESCE({kind}, 0))" for kind in KINDS)
    by_project = db.execute(f"SELECT project_id, COUNT(*), {sums} FROM cost_log"
                            " GROUP BY 1 ORDER BY 1").fetchall()
    assert by_project and db.execute(
        f"SELECT project_id, events, {', '.join(KINDS)} FROM rollup_project ORDER BY 1"
    ).fetchall() == by_project
    by_model_id = db.execute(
        f"SELECT CASE WHEN COALESCE(model_id, '') = '' THEN 'unknown' ELSE model_id END, {sums}"
        " FROM cost_log GROUP BY 1 ORDER BY 1").fetchall()
    assert db.execute(
        f"SELECT model_id, {', '.join(f'SUM({kind})' for kind in KINDS)} FROM rollup_model_id_d"
        " WHERE project_id = '*' GROUP BY 1 ORDER BY 1").fetchall() == by_model_id
    total_input = db.execute("SELECT SUM(COALESCE(input_tokens, 0)) FROM cost_log").fetchone()
    for table in ("rollup_model_q", "rollup_phase_d", "rollup_model_h"):
        assert db.execute(f"SELECT SUM(input_tokens) FROM {table} WHERE project_id = '*'"
                          ).fetchone() == total_input
    db.close()


def test_aggregates_check_sees_drift_in_the_token_kinds(fresh: sqlite_utils.Database) -> None:
    migrate(fresh)
    recorded(fresh)
    fresh.execute("UPDATE rollup_project SET cache_read_tokens = cache_read_tokens + 5"
                  " WHERE project_id = 'p1'")
    fresh.execute("DELETE FROM rollup_model_id_d WHERE project_id = '*'")
    fresh.conn.commit()
    drift = [str(d) for d in check_aggregates(fresh)]
    assert "rollup_project p1 cache_read_tokens: expected 0, found 5" in drift
    assert any(line.startswith("rollup_model_id_d */") for line in drift)
    rebuild_aggregates(fresh)
    assert list(check_aggregates(fresh)) == []


def test_a_prerequisite_goes_first_whatever_the_target(fresh: sqlite_utils.Database,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's 015 makes the SUM every earlier back-fill runs: it is applied first."""
    every = [*available(), Migration(98, "uses_it", "INSERT INTO made_first VALUES (98)"),
             Migration(99, "made_first", "CREATE TABLE made_first(n INTEGER)")]
    monkeypatch.setattr(migrations, "available", lambda: every)
    monkeypatch.setattr(migrations, "PREREQUISITES", {"sqlite": (99,)})
    assert migrate(fresh) == sorted(m.version for m in every)
    assert fresh.execute("SELECT n FROM made_first").fetchall() == [(98,)]
    older = connect(tmp_path / "older.db")
    assert migrate(older, target=4) == [1, 2, 3, 4, 99]
