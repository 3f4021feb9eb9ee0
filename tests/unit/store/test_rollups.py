"""Rollup statements as data: which add row by row, which group first (costlog/store/rollups.py)."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costlog.store import migrations, queries, rollups
from costlog.store.rollups import EACH_PROJECT, EACH_PROJECT_AND_ALL, Rollup


@pytest.mark.parametrize(("aggregate", "row_value"), [
    ("COUNT(*)", "1"),
    ("SUM(r.cost_usd)", "r.cost_usd"),
    ("SUM(r.cost_nanos * 2)", "r.cost_nanos * 2"),
])
def test_row_value_of_an_additive_aggregate(aggregate: str, row_value: str) -> None:
    assert rollups._row_value(aggregate) == row_value


@pytest.mark.parametrize("aggregate", ["COUNT(DISTINCT r.task_id)", "MAX(r.cost_usd)", "1"])
def test_row_value_refuses_what_rows_cannot_add(aggregate: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(aggregate)}: cannot be added row by row$"):
        rollups._row_value(aggregate)


def test_a_per_row_rollup_needs_additive_values() -> None:
    with pytest.raises(ValueError, match=r"^COUNT\(DISTINCT r.task_id\): cannot be added row"):
        Rollup("t", keys=(("project_id", "r.project"),), since=4,
               values=(("tasks", "COUNT(DISTINCT r.task_id)"),), per_row=EACH_PROJECT)


def by_table(statements: list[str] | tuple[str, ...]) -> dict[str, list[bool]]:
    """Per target table, whether each of its statements groups (GROUP BY) or adds per row."""
    grouped: dict[str, list[bool]] = {}
    for statement in statements:
        grouped.setdefault(statement.split()[2], []).append(" GROUP BY " in statement)
    return grouped


def test_the_store_adds_fine_keys_row_by_row_and_groups_coarse_ones() -> None:
    # [per-project statement, all-projects ('*') statement]
    assert by_table(rollups.ADD_STATEMENTS) == {
        "costlog_totals": [True],  # one row: grouping is free
        "cost_aggregates": [True],  # task_count counts DISTINCT tasks: needs its groups
        "cost_aggregates_tasks": [False],  # a key table: a repeated key is left as it is
        "rollup_model_q": [False, False],
        "rollup_phase_q": [False, False],
        "rollup_model_h": [False, True],
        "rollup_phase_h": [False, True],
        "rollup_model_d": [False, True],
        "rollup_phase_d": [False, True],
        "rollup_task_d": [True],
        "rollup_task_m": [True],
        "rollup_task": [True],
        "rollup_initiative_d": [False, True],
        "rollup_initiative": [False],
        "rollup_project_d": [False],
        "rollup_project_6h": [False],
        "rollup_project_h": [False],
        "rollup_project": [True],
        "rollup_model_id_d": [False, True],
        "rollup_project_ld": [False],
        "rollup_model_ld": [False],
        "rollup_phase_ld": [False],
    }


def test_a_recomputation_always_groups() -> None:
    for rollup in rollups.ROLLUPS:
        statements = rollup.add_statements(recompute=True)
        assert len(statements) == (2 if rollup.all_projects else 1)
        assert all(" GROUP BY " in statement for statement in statements), rollup.table


def test_per_row_names_only_statements_the_rollup_has() -> None:
    for rollup in rollups.ROLLUPS:
        assert set(rollup.per_row) <= set(rollup.project_exprs()), rollup.table
        if rollup.per_row == EACH_PROJECT_AND_ALL:
            assert rollup.all_projects, rollup.table


def test_the_store_reads_the_staged_rows_and_a_recomputation_reads_cost_log() -> None:
    # The same statements but for where their rows come from: the staged rows hold the
    # ROW_COLUMNS expressions over cost_log's new rows, computed once per write.
    # The local-day rollups read them once per registered offset.
    def source(rollup: Rollup, rows: str) -> str:
        return f" FROM {rollups.LOCAL_DAY_ROWS.format(rows=rows) if rollup.by_offset else rows}"

    for rollup in rollups.ROLLUPS:
        for statement in rollup.add_statements(rows=rollups.STAGED_ROWS):
            assert f"{source(rollup, rollups.STAGED_ROWS)} AS r " in statement, rollup.table
            assert statement in rollups.ADD_STATEMENTS
        for statement in rollup.add_statements(recompute=True):
            assert f"{source(rollup, rollups.COST_LOG_ROWS)} AS r " in statement, rollup.table
    assert rollups.STAGE_ROWS.endswith(f" FROM {rollups.COST_LOG_ROWS}")
    assert [rollup.table for rollup in rollups.ROLLUPS if rollup.by_offset] == [
        "rollup_project_ld", "rollup_model_ld", "rollup_phase_ld"]


def test_each_rollup_is_created_by_the_migration_it_names_in_both_dialects() -> None:
    schema = Path(__file__).resolve().parents[3] / "schema"
    for rollup in rollups.ROLLUPS:
        for folder in (schema, schema / "postgresql"):
            (migration,) = folder.glob(f"{rollup.since:03d}_*.sql")
            created = re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", migration.read_text())
            assert rollup.table in created, (rollup.table, migration)


def test_the_back_fill_after_each_migration_follows_from_the_definitions() -> None:
    # 002 is the orchestrator's (its cost_aggregates brings its own rows), 009's tables are
    # rebuilt anyway, 014's local days have no offset registered yet.
    assert {4, 6, 7, 11, 12, 13} == migrations.BACKFILL_AFTER


@pytest.mark.parametrize(("levels", "expected"), [
    (queries.MODEL_LEVELS, [("rollup_model_d", "day", 96, "%Y-%m-%d", False),
                            ("rollup_model_h", "hour", 4, "%Y-%m-%d %H", False),
                            ("rollup_model_q", "bucket", 1, "%Y-%m-%d %H:%M", False)]),
    (queries.PHASE_LEVELS, [("rollup_phase_d", "day", 96, "%Y-%m-%d", False),
                            ("rollup_phase_h", "hour", 4, "%Y-%m-%d %H", False),
                            ("rollup_phase_q", "bucket", 1, "%Y-%m-%d %H:%M", False)]),
    (queries.PROJECT_LEVELS, [("rollup_project_d", "day", 96, "%Y-%m-%d", True),
                              ("rollup_project_6h", "hour", 24, "%Y-%m-%d %H", True),
                              ("rollup_project_h", "hour", 4, "%Y-%m-%d %H", True),
                              ("rollup_model_q", "bucket", 1, "%Y-%m-%d %H:%M", False)]),
])
def test_the_read_levels_follow_from_the_definitions(levels: tuple, expected: list) -> None:
    assert [(level.table, level.column, level.quarters, level.key_format, level.period_first)
            for level in levels] == expected
    # Each level's key of an instant is its period's text in the level's format.
    instant = datetime(2026, 12, 8, 13, 47, tzinfo=UTC)
    for level in levels:
        assert level.key(level_start(level, instant)) == level_start(level, instant).strftime(
            level.key_format)


def level_start(level: queries.Level, instant: datetime) -> datetime:
    seconds = level.quarters * 900
    return datetime.fromtimestamp(instant.timestamp() // seconds * seconds, UTC)


def test_local_day_rollups_follow_from_the_definitions() -> None:
    assert queries.LOCAL_DAY_TABLES == {"rollup_model_d": "rollup_model_ld",
                                        "rollup_phase_d": "rollup_phase_ld",
                                        "rollup_project_d": "rollup_project_ld"}
