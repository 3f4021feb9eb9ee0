"""The PostgreSQL connection's own behaviour: bulk inserts through COPY, reconnecting."""

import random
import sqlite3

import psycopg
import pytest

from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store import postgres, rollups
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.write import check_aggregates, event_row, record_rows
from tests.conftest import NOW
from tests.support.events import wire_event


def test_a_bulk_insert_keeps_the_first_of_repeated_ids(store_target: str) -> None:
    """Above COPY_MIN_ROWS PostgreSQL inserts through COPY; the answer is SQLite's."""
    count = postgres.COPY_MIN_ROWS + 50
    events = [wire_event(event_id=f"e-{i % 120}", cost_usd=float(i), task_id=f"T-{i}")
              for i in range(count)]
    rows = [event_row(parse_event(e, now=NOW), PriceTable()) for e in events]
    db = connect(store_target)
    migrate(db)
    result = record_rows(db, rows)
    assert (result.inserted, result.duplicates) == (120, count - 120)
    stored = dict(db.execute("SELECT event_id, cost_usd FROM cost_log").fetchall())
    assert stored == {f"e-{i}": float(i) for i in range(120)}
    assert db.execute("SELECT SUM(cost_nanos) FROM rollup_task").fetchone() == (
        sum(range(120)) * 10**9,)
    assert list(check_aggregates(db)) == []
    # Again: every row a duplicate, nothing changes.
    assert record_rows(db, rows).inserted == 0
    assert list(check_aggregates(db)) == []
    db.close()


def test_pipelined_writes_count_events_delivered_twice_once(postgres_url: str) -> None:
    """Writes send their statements pipelined, and leave the pipeline for a bulk insert's COPY
    in the middle of one: one-event writes (a worker's) and chunks (an import's), each
    delivered twice, still record every event exactly once."""
    events = [wire_event(event_id=f"e-{i}", cost_usd=i / 8, task_id=f"T-{i % 7}")
              for i in range(postgres.COPY_MIN_ROWS + 40)]
    rows = [event_row(parse_event(e, now=NOW), PriceTable()) for e in events]
    singles, chunk = rows[:30], rows[20:]
    db = connect(postgres_url)
    migrate(db)
    assert [record_rows(db, [row]).inserted for row in singles] == [1] * 30
    assert [record_rows(db, [row]).inserted for row in singles] == [0] * 30
    assert (record_rows(db, chunk).inserted, record_rows(db, chunk).inserted) == (
        len(rows) - 30, 0)
    assert db.execute("SELECT COUNT(*), SUM(cost_usd) FROM cost_log").fetchone() == (
        len(rows), sum(i / 8 for i in range(len(rows))))
    counters = dict(db.execute("SELECT name, value FROM costlog_counters").fetchall())
    assert counters["events_ingested"] == len(rows)
    assert counters["duplicates_ignored"] == 30 + 10 + len(chunk)
    assert list(check_aggregates(db)) == []
    db.close()


def test_a_connection_the_server_dropped_is_reopened(postgres_url: str) -> None:
    db = connect(postgres_url)
    (pid,) = db.execute("SELECT pg_backend_pid()").fetchone()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The statement that finds the connection gone fails (a worker's job is retried)...
    with pytest.raises(psycopg.OperationalError):
        db.execute("SELECT 1")
    # ...and the next one runs on a new connection.
    assert db.execute("SELECT 1").fetchone() == (1,)
    assert db.execute("SELECT pg_backend_pid()").fetchone() != (pid,)
    db.close()


def test_table_info_as_sqlite_gives_it(store_target: str) -> None:
    db = connect(store_target)
    migrate(db)
    info = db.execute("PRAGMA table_info(costlog_counters)").fetchall()
    assert [(cid, name, notnull) for cid, name, _, notnull, *_ in info] == [
        (0, "name", 1), (1, "value", 1)]
    assert [column.name for column in db["costlog_totals"].columns] == [
        "scope", "cost_nanos", "tokens", "input_tokens", "output_tokens", "cache_tokens", "events"]
    assert db["missing"].columns == [] and not db["missing"].exists()
    db.close()


def test_nano_usd_round_exactly_as_sqlite_rounds(postgres_url: str) -> None:
    """Every row's cost becomes the same integer nano-USD on both back ends (ties included)."""
    rng = random.Random(5)
    costs = [round(rng.random() * 10 ** rng.randrange(-9, 7), rng.randrange(0, 12))
             for _ in range(3000)]
    costs += [n / 2 * 1e-9 for n in range(-40, 41)] + [0.0, 1e6, 123.4567890125]
    sqlite = sqlite3.connect(":memory:")
    expected = [sqlite.execute(f"SELECT {rollups.COST_NANOS.replace('n.cost_usd', '?')}",
                               [cost]).fetchone()[0] for cost in costs]
    with psycopg.connect(postgres_url) as conn:
        expression = postgres.COST_NANOS.replace("n.cost_usd", "CAST(%(c)s AS DOUBLE PRECISION)")
        actual = [conn.execute(f"SELECT {expression}", {"c": cost}).fetchone()[0]
                  for cost in costs]
    assert actual == expected


@pytest.mark.parametrize(("values", "expected"), [
    ("(9223372036854775806), (1)", (9223372036854775807, "bigint")),
    ("(2), (NULL), (-5)", (-3, "bigint")),
    ("(NULL)", (None, "bigint")),
])
def test_a_sum_of_bigints_is_a_bigint_as_in_sqlite(postgres_url: str, values: str,
                                                   expected: tuple) -> None:
    """SQLite's SUM of integers is an integer (PostgreSQL's own would be NUMERIC)."""
    db = connect(postgres_url)
    migrate(db)
    assert db.execute(f"SELECT SUM(x), pg_typeof(SUM(x))::text FROM"
                      f" (SELECT CAST(v AS BIGINT) AS x FROM (VALUES {values}) AS t(v)) AS s"
                      ).fetchone() == expected
    db.close()


def test_a_sum_past_the_largest_bigint_fails_as_in_sqlite(postgres_url: str) -> None:
    db = connect(postgres_url)
    migrate(db)
    with pytest.raises(psycopg.errors.NumericValueOutOfRange, match="bigint out of range"):
        db.execute("SELECT SUM(x) FROM (VALUES (CAST(9223372036854775807 AS BIGINT)),"
                   " (CAST(1 AS BIGINT))) AS t(x)").fetchone()
    db.close()
    with sqlite3.connect(":memory:") as sqlite, pytest.raises(sqlite3.OperationalError,
                                                              match="integer overflow"):
        sqlite.execute("SELECT SUM(x) FROM (SELECT 9223372036854775807 AS x UNION ALL"
                       " SELECT 1)").fetchone()


def test_a_database_of_an_earlier_version_gains_integer_sums(postgres_url: str) -> None:
    """Migrated before costlog_sum existed: the next migrate adds it, and only it."""
    db = connect(postgres_url)
    migrate(db)
    for argument in ("BIGINT", "INTEGER", "SMALLINT", "DOUBLE PRECISION", "REAL", "NUMERIC"):
        db.execute(f"DROP AGGREGATE costlog_sum({argument})")
    db.execute("DELETE FROM costlog_migrations WHERE version = 15")
    db.conn.commit()
    assert migrate(db) == [15]
    assert db.execute("SELECT SUM(x) FROM (VALUES (CAST(2 AS INTEGER)), (3)) AS t(x)"
                      ).fetchone() == (5,)
    db.close()
