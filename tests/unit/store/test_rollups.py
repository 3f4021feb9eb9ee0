"""Rollup statements as data: which add row by row, which group first (costlog/store/rollups.py)."""

import re

import pytest

from costlog.store import rollups
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
        Rollup("t", keys=(("project_id", "r.project"),),
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
