"""Corrections: a higher revision replaces a recorded event, a void takes it out of every
figure; the rollups always equal a recomputation from the live rows."""

import contextlib
import json
from typing import Any

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costlog import clock
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store import rollups
from costlog.store.orchestrator import get_cost_aggregates
from costlog.store.queries import read_counters, unpriced_models
from costlog.store.write import (
    EventNotFound,
    check_aggregates,
    event_row,
    record_events,
    record_rows,
    void_event,
)
from tests.support.events import wire_event

PRICES = PriceTable()


def events(*fields: dict[str, Any]):
    return [parse_event(wire_event(**f), now=clock.now()) for f in fields]


def record(db: sqlite_utils.Database, *fields: dict[str, Any]):
    return record_events(db, events(*fields), PRICES)


def spend(db: sqlite_utils.Database, table: str, key: str) -> dict[str, tuple[int, int]]:
    return {k: (cost, count) for k, cost, count in db.execute(
        f"SELECT {key}, cost_nanos, events FROM {table} ORDER BY 1")}


def stored(db: sqlite_utils.Database, event_id: str) -> tuple:
    return db.execute("SELECT project_id, task_id, model, cost_usd, revision,"
                      " voided_at IS NOT NULL FROM cost_log WHERE event_id = ?",
                      [event_id]).fetchone()


def history(db: sqlite_utils.Database, event_id: str) -> list[tuple[int, str, float]]:
    return [(revision, by, json.loads(row)["cost_usd"]) for revision, by, row in db.execute(
        "SELECT revision, superseded_by, row FROM cost_log_revisions WHERE event_id = ?"
        " ORDER BY id", [event_id])]


def test_a_higher_revision_moves_every_rollup_by_the_difference(db) -> None:
    record(db, {"event_id": "a", "cost_usd": 1.0}, {"event_id": "b", "cost_usd": 2.0})
    result = record(db, {"event_id": "a", "revision": 1, "cost_usd": 5.0, "project_id": "other",
                         "task_id": "task-9", "model": "claude-opus-4-5",
                         "timestamp": "2026-11-21T03:00:00Z"})
    assert (result.inserted, result.revised, result.duplicates) == (0, 1, 0)
    assert stored(db, "a") == ("other", "task-9", "opus", 5.0, 1, 0)
    assert spend(db, "rollup_project", "project_id") == {"other": (5_000_000_000, 1),
                                                          "proj": (2_000_000_000, 1)}
    # Emptied keys are gone, not left at zero: no 0-cost line in a breakdown.
    assert spend(db, "rollup_model_d", "project_id || '/' || day || '/' || model") == {
        "*/2026-11-20/sonnet": (2_000_000_000, 1), "*/2026-11-21/opus": (5_000_000_000, 1),
        "other/2026-11-21/opus": (5_000_000_000, 1), "proj/2026-11-20/sonnet": (2_000_000_000, 1)}
    assert history(db, "a") == [(0, "event", 1.0)]
    assert list(check_aggregates(db)) == []
    assert read_counters(db)["events_revised"] == 1


@pytest.mark.parametrize("order", [(1, 2), (2, 1), (2, 1, 2, 1), (1, 1, 2, 2, 0)])
def test_revisions_end_at_the_highest_whatever_the_order(db, order: tuple[int, ...]) -> None:
    record(db, {"event_id": "a", "cost_usd": 1.0})
    for revision in order:
        record(db, {"event_id": "a", "revision": revision, "cost_usd": 1.0 + revision})
    assert stored(db, "a")[3:5] == (3.0, 2)
    assert spend(db, "rollup_project", "project_id") == {"proj": (3_000_000_000, 1)}
    superseded, current = [], 0
    for revision in order:
        if revision > current:
            superseded, current = [*superseded, current], revision
    assert [rev for rev, *_ in history(db, "a")] == superseded
    assert list(check_aggregates(db)) == []


def test_a_batch_with_several_revisions_of_one_id_keeps_the_highest(db) -> None:
    result = record(db, {"event_id": "a", "revision": 1, "cost_usd": 2.0},
                    {"event_id": "a", "revision": 3, "cost_usd": 4.0},
                    {"event_id": "a", "cost_usd": 1.0},
                    {"event_id": "a", "revision": 3, "cost_usd": 9.0})
    assert (result.inserted, result.revised, result.duplicates) == (1, 0, 3)
    assert stored(db, "a")[3:5] == (4.0, 3)
    result = record(db, {"event_id": "a", "revision": 5, "cost_usd": 6.0},
                    {"event_id": "a", "revision": 4, "cost_usd": 5.0})
    assert (result.inserted, result.revised, result.duplicates) == (0, 1, 1)
    assert stored(db, "a")[3:5] == (6.0, 5)
    assert history(db, "a") == [(3, "event", 4.0)]
    assert list(check_aggregates(db)) == []


def test_task_count_counts_tasks_with_a_live_event_in_the_bucket(db) -> None:
    record(db, {"event_id": "a"}, {"event_id": "b"}, {"event_id": "c", "task_id": "task-2"})
    counts = lambda: [(r["task_count"], r["turn_count"]) for r in get_cost_aggregates(db)]  # noqa: E731
    assert counts() == [(2, 3)]
    record(db, {"event_id": "a", "revision": 1, "task_id": "task-2"})
    assert counts() == [(2, 3)]  # task-1 still has b
    record(db, {"event_id": "b", "revision": 1, "task_id": "task-2"})
    assert counts() == [(1, 3)]
    record(db, {"event_id": "c", "revision": 1, "task_id": "task-3"})
    assert counts() == [(2, 3)]
    void_event(db, "a", "wrong task")
    void_event(db, "b", "wrong task")
    assert counts() == [(1, 1)]
    void_event(db, "c", "wrong task")
    assert counts() == []
    assert db.execute("SELECT COUNT(*) FROM cost_aggregates_tasks").fetchone() == (0,)
    assert list(check_aggregates(db)) == []


def test_a_void_leaves_every_figure_and_keeps_its_row(db) -> None:
    record(db, {"event_id": "a", "cost_usd": 1.0}, {"event_id": "b", "cost_usd": 2.0})
    result = void_event(db, "a", "recorded twice by hand")
    assert (result.revision, result.changed) == (1, True)
    assert stored(db, "a") == ("proj", "task-1", "sonnet", 1.0, 1, 1)
    assert spend(db, "rollup_project", "project_id") == {"proj": (2_000_000_000, 1)}
    assert db.execute("SELECT void_reason FROM cost_log WHERE event_id = 'a'").fetchone() == (
        "recorded twice by hand",)
    again = void_event(db, "a", "again")
    assert (again.revision, again.changed) == (1, False)
    assert history(db, "a") == [(0, "void", 1.0)]
    # A redelivery of what was voided changes nothing; a higher revision brings it back.
    assert record(db, {"event_id": "a", "cost_usd": 1.0}).duplicates == 1
    assert record(db, {"event_id": "a", "revision": 1, "cost_usd": 7.0}).duplicates == 1
    assert record(db, {"event_id": "a", "revision": 2, "cost_usd": 3.0}).revised == 1
    assert stored(db, "a") == ("proj", "task-1", "sonnet", 3.0, 2, 0)
    assert spend(db, "rollup_project", "project_id") == {"proj": (5_000_000_000, 2)}
    assert [(rev, by) for rev, by, _ in history(db, "a")] == [(0, "void"), (1, "event")]
    assert list(check_aggregates(db)) == []


def test_a_voided_unpriced_event_is_no_longer_listed_as_unpriced(db) -> None:
    record(db, {"event_id": "u", "model": "mystery-model", "cost_usd": ...})
    assert unpriced_models(db) == [("mystery-model", "claude", 1, 120)]
    void_event(db, "u", "a test run")
    assert unpriced_models(db) == []


def test_voiding_an_unknown_event_raises(db) -> None:
    with pytest.raises(EventNotFound):
        void_event(db, "nope", "why")


def test_larger_copies_become_the_next_revision(db) -> None:
    """Claude Code's import: a copy holding more tokens than the recorded one replaces it."""
    small, large = events({"event_id": "cc:1", "output_tokens": 1, "cost_usd": ...},
                          {"event_id": "cc:1", "output_tokens": 4000, "cost_usd": ...})
    assert record_rows(db, [event_row(small, PRICES)], larger=True).inserted == 1
    result = record_rows(db, [event_row(large, PRICES)], larger=True, source="import")
    assert (result.inserted, result.revised) == (0, 1)
    assert db.execute("SELECT output_tokens, revision FROM cost_log").fetchall() == [(4000, 1)]
    assert [(rev, by) for rev, by, _ in history(db, "cc:1")] == [(0, "import")]
    # The same or a smaller copy again: already recorded.
    for copy in (large, small):
        assert record_rows(db, [event_row(copy, PRICES)], larger=True).duplicates == 1
    assert list(check_aggregates(db)) == []


# -- property: any sequence, any order, any number of times -------------------------------

IDS = ("e1", "e2", "e3")


def version(event_id: str, revision: int, key: int) -> dict[str, Any]:
    """The content of one version: a function of its id, revision and ``key`` (its project,
    task, model, phase, time and cost)."""
    return wire_event(
        event_id=event_id, revision=revision, project_id=("p1", "p2")[key % 2],
        task_id=("t1", "t2", "t3")[key % 3], model=("claude-opus-4-5", "claude-haiku-4-5")[
            key // 2 % 2], phase=("spec", "test")[key // 3 % 2],
        initiative_id=("", "I-1")[key // 4 % 2],
        timestamp=("2026-11-20T10:05:00Z", "2026-11-20T10:50:00Z", "2026-11-19T23:59:00Z")[
            key % 3], cost_usd=(0.5, 1.25, 3.0, 0.0)[key % 4], input_tokens=10 + key)


VERSIONS = st.builds(lambda event_id, revision: (event_id, revision),
                     st.sampled_from(IDS), st.integers(0, 3))
OPS = st.lists(st.one_of(
    st.lists(VERSIONS, min_size=1, max_size=4).map(lambda batch: ("record", batch)),
    st.sampled_from(IDS).map(lambda event_id: ("void", event_id)),
), min_size=1, max_size=8)


def empty(db: sqlite_utils.Database) -> None:
    for table in ("cost_log", "cost_log_revisions", "costlog_counters",
                  *(rollup.table for rollup in rollups.ROLLUPS)):
        db.execute(f"DELETE FROM {table}")
    db.conn.commit()


def rollup_state(db: sqlite_utils.Database) -> dict[str, list[tuple]]:
    state = {}
    for rollup in rollups.ROLLUPS:
        columns = [c for c in rollup.key_columns + rollup.value_columns
                   if c != "total_cost_usd"]  # a REAL sum: its last bits follow the order
        state[rollup.table] = db.execute(
            f"SELECT {', '.join(columns)} FROM {rollup.table} ORDER BY"
            f" {', '.join(rollup.key_columns)}").fetchall()
    return state


def deliver(db: sqlite_utils.Database, ops: list, keys: dict) -> None:
    for op, arg in ops:
        if op == "void":
            with contextlib.suppress(EventNotFound):  # an id not recorded yet
                void_event(db, arg, "by the property test")
        else:
            record(db, *(version(event_id, revision, keys[event_id, revision])
                         for event_id, revision in arg))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, keys=st.fixed_dictionaries({(i, r): st.integers(0, 11) for i in IDS
                                            for r in range(4)}),
       shuffle=st.randoms(use_true_random=False))
def test_any_sequence_of_events_revisions_and_voids_keeps_the_rollups_exact(
        db, ops: list, keys: dict, shuffle) -> None:
    empty(db)
    deliver(db, ops, keys)
    assert list(check_aggregates(db)) == []
    # Everything again, in another order: redeliveries change nothing but may un-void.
    again = list(ops)
    shuffle.shuffle(again)
    deliver(db, again, keys)
    assert list(check_aggregates(db)) == []


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(VERSIONS, min_size=1, max_size=4), min_size=1, max_size=6),
       keys=st.fixed_dictionaries({(i, r): st.integers(0, 11) for i in IDS for r in range(4)}),
       shuffle=st.randoms(use_true_random=False))
def test_revisions_in_any_order_end_in_the_same_rollups(db, batches: list, keys: dict,
                                                        shuffle) -> None:
    ops = [("record", batch) for batch in batches]
    empty(db)
    deliver(db, ops, keys)
    first = rollup_state(db)
    rows = db.execute("SELECT event_id, revision, cost_usd FROM cost_log ORDER BY 1").fetchall()
    latest = {}
    for batch in batches:
        for event_id, revision in batch:
            latest[event_id] = max(latest.get(event_id, 0), revision)
    assert [(event_id, revision) for event_id, revision, _ in rows] == sorted(latest.items())
    empty(db)
    reordered = [("record", [v]) for batch in batches for v in batch]
    shuffle.shuffle(reordered)
    deliver(db, reordered + reordered, keys)
    assert rollup_state(db) == first
    assert list(check_aggregates(db)) == []
