"""Sums never overflow: events at the bounds, enough of them to reach the 64-bit limit.

9,224 events at the largest cost (1,000,000 USD = 10^15 nano-USD) would take the all-time sum
past 2^63 - 1; before the guard, SQLite made the rollups' sums REAL and reads, ``aggregates
check`` and ``rebuild`` failed with ``integer overflow``.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from costlog import constants
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable, load_prices
from costlog.domain.rates import Rates
from costlog.store import bounds, migrations, rollups
from costlog.store.write import Unfit, check_aggregates, rebuild_aggregates, record_events
from ingest import job
from ingest.job import InvalidJob, JobContext
from tests.conftest import NOW
from tests.support.api import client_for, settings_for

LIMIT = 2**63 - 1
MAX_NANOS = int(constants.MAX_COST_USD) * constants.NANOS_PER_USD  # 10^15
FIT = LIMIT // MAX_NANOS  # 9,223 events at the largest cost fit; the 9,224th does not
COST_REASON = ("cost_usd: refused: the stored sums would pass 9223372036.854775807 USD,"
               " the most they hold exactly")


def max_cost_events(start: int, count: int, **extra: Any) -> list[dict[str, Any]]:
    """Events at the largest cost, spread over two projects, tasks, phases and 30 days."""
    return [{"event_id": f"e{i}", "project_id": f"p{i % 2}", "task_id": f"T{i % 7}",
             "phase": ("spec", "implement")[i % 2], "model": "claude-opus-4-5",
             "initiative_id": f"I{i % 3}", "cost_usd": constants.MAX_COST_USD,
             "timestamp": (NOW - timedelta(hours=i % 720)).isoformat(), **extra}
            for i in range(start, start + count)]


def record(db: sqlite_utils.Database, payloads: list[dict[str, Any]],
           prices: PriceTable | None = None):
    events = [parse_event(p, now=NOW, fill_id="hash") for p in payloads]
    return record_events(db, events, prices or PriceTable())


def integer_sums_only(db: sqlite_utils.Database) -> None:
    """Every rollup value is an exact INTEGER (cost_aggregates' REAL cost is the seed's)."""
    for rollup in rollups.ROLLUPS:
        for column in rollup.value_columns:
            if column == "total_cost_usd":
                continue
            kinds = {row[0] for row in db.execute(
                f"SELECT DISTINCT typeof({column}) FROM {rollup.table}")}
            assert kinds <= {"integer"}, (rollup.table, column, kinds)


@pytest.fixture
def context(db: sqlite_utils.Database):
    previous = job.set_context(JobContext(db=db, prices=load_prices(None)))
    yield db
    job.set_context(previous)


def test_jobs_at_the_largest_cost_stop_exactly_at_the_limit(context: sqlite_utils.Database,
                                                            db_path: Path, tmp_path: Path) -> None:
    """Ten jobs of 1,000 events at 1,000,000 USD: the first 9,223 events are recorded, each of
    the other 777 is refused with the reason, and the job that holds them fails."""
    for start in range(0, 9000, 1000):
        assert job.record_events(max_cost_events(start, 1000)) == {"inserted": 1000,
                                                                    "duplicates": 0, "revised": 0}
    with pytest.raises(InvalidJob) as failed:
        job.record_events(max_cost_events(9000, 1000))
    message = str(failed.value)
    assert message.startswith(
        f"777 of 1000 events refused (valid ones recorded: inserted 223, duplicates 0):"
        f" event 223: {COST_REASON}; event 224: {COST_REASON};")
    assert message.endswith("; and 757 more")

    db = context
    assert db.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0] == FIT
    recorded = {row[0] for row in db.execute("SELECT event_id FROM cost_log")}
    assert recorded == {f"e{i}" for i in range(FIT)}
    assert bounds.totals(db)[0] == FIT * MAX_NANOS <= LIMIT
    integer_sums_only(db)
    assert list(check_aggregates(db)) == []
    assert rebuild_aggregates(db) == []
    assert list(check_aggregates(db)) == []
    (refused,) = db.execute("SELECT value FROM costlog_counters WHERE name = 'events_refused'"
                            ).fetchone()
    assert refused == 777

    # A re-run of the failed job records nothing twice and refuses the same events again.
    with pytest.raises(InvalidJob, match="^777 of 1000 events refused .*duplicates 223"):
        job.record_events(max_cost_events(9000, 1000))

    # Every read answers, with the exact sum.
    total_usd = FIT * MAX_NANOS / constants.NANOS_PER_USD
    with client_for(settings_for(db_path, tmp_path)) as client:
        for url in ("/api/cost/budget", "/api/cost/timeseries?granularity=hour",
                    "/api/cost/timeseries", "/api/cost/breakdown?by=task",
                    "/api/cost/breakdown?by=phase&period=24h", "/api/cost/breakdown",
                    "/api/cost/breakdown?by=initiative", "/api/initiatives/I1/cost",
                    "/api/cost/budget?tz=Asia/Kolkata", "/healthz"):
            assert client.get(url).status_code == 200, url
        assert client.get("/api/cost/breakdown").json()["total_cost_usd"] == total_usd
        series = client.get("/api/cost/timeseries", params={"start": "2026-10-01"}).json()
        assert sum(point["cost"] for point in series["series"]) == pytest.approx(total_usd)
        (november,) = db.execute("SELECT COUNT(*) FROM cost_log"
                                 " WHERE timestamp >= '2026-11-01'").fetchone()
        assert client.get("/api/cost/budget").json()["current_spent_usd"] == (
            november * constants.MAX_COST_USD)


@pytest.mark.parametrize(("field", "column", "reason_field"), [
    ("total_tokens", "tokens", "total_tokens"),
    ("input_tokens", "input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_tokens", "cache_creation_tokens + cache_read_tokens"),
])
def test_events_at_the_largest_token_counts_stop_at_the_limit(
    db: sqlite_utils.Database, field: str, column: str, reason_field: str,
) -> None:
    """9.2 million events would take days: the all-time totals are put 2.5 events short of the
    limit (as a long history would leave them), then events at 10^12 tokens arrive."""
    index = rollups.GUARDED_COLUMNS.index(column)
    db.execute(f"INSERT INTO costlog_totals(scope, {column}) VALUES ('*', ?)",
               [LIMIT - 5 * constants.MAX_TOKENS // 2])
    db.conn.commit()
    events = [{"event_id": f"t{i}", "project_id": "p", "task_id": "T", "phase": "spec",
               "model": "claude-opus-4-5", "cost_usd": 0, field: constants.MAX_TOKENS}
              for i in range(4)]
    result = record(db, events)
    assert (result.inserted, result.duplicates) == (2, 0)
    assert [(r.event_id, r.reason) for r in result.refused] == [
        (f"t{i}", f"{reason_field}: refused: the stored sums would pass {LIMIT} tokens,"
                  " the most they hold exactly") for i in (2, 3)]
    assert bounds.totals(db)[index] == LIMIT - constants.MAX_TOKENS // 2
    assert [row[0] for row in db.execute("SELECT event_id FROM cost_log ORDER BY id")] == [
        "t0", "t1"]


def test_a_cost_no_sum_can_hold_is_refused_alone(db: sqlite_utils.Database) -> None:
    """A price file's largest prices make 10^12 tokens cost 10^12 USD: 10^21 nano-USD, past the
    range of one integer (SQLite's CAST would silently clamp it)."""
    prices = PriceTable({"*": Rates(1e6, 1e6, 1e6, 1e6, 1e6)})
    events = [{"event_id": "huge", "project_id": "p", "task_id": "T", "phase": "spec",
               "model": "x", "provider": "other", "input_tokens": constants.MAX_TOKENS},
              {"event_id": "small", "project_id": "p", "task_id": "T", "phase": "spec",
               "model": "x", "provider": "other", "input_tokens": 1000}]
    result = record(db, events, prices)
    assert result.inserted == 1
    assert [(r.event_id, r.reason) for r in result.refused] == [
        ("huge", "cost_usd: 1000000000000.0 USD is more than an exact sum holds"
                 " (9223372036.854775807 USD)")]
    assert bounds.totals(db)[0] == 1000 * constants.NANOS_PER_USD
    assert list(check_aggregates(db)) == []


def overflowed(db: sqlite_utils.Database, count: int, start: int = 0) -> None:
    """cost_log as an older version left it: rows whose sums pass the limit."""
    db.conn.executemany(
        "INSERT INTO cost_log(event_id, project_id, task_id, phase, model, cost_usd,"
        " input_tokens, output_tokens, timestamp) VALUES (?, 'p', 'T', 'spec', 'opus', ?, 0, 0,"
        " '2026-11-20 10:00:00')",
        [(f"old{i}", constants.MAX_COST_USD) for i in range(start, start + count)])
    db.conn.commit()


def test_check_and_rebuild_complete_on_an_overflowed_database(db: sqlite_utils.Database,
                                                              db_path: Path,
                                                              tmp_path: Path) -> None:
    overflowed(db, 10_000)
    unfit = list(check_aggregates(db))
    assert len(unfit) == 10_000 - FIT
    assert all(isinstance(entry, Unfit) for entry in unfit)
    assert str(unfit[0]) == (f"cost_log row {FIT + 1} (event old{FIT}: {COST_REASON}):"
                             " `costlog aggregates rebuild` sets it aside")
    set_aside = rebuild_aggregates(db)
    assert [r.event_id for r in set_aside] == [f"old{i}" for i in range(FIT, 10_000)]
    assert list(check_aggregates(db)) == []
    integer_sums_only(db)
    kept = db.execute("SELECT reason, json_extract(row, '$.event_id'),"
                      " json_extract(row, '$.cost_usd') FROM cost_log_refused ORDER BY id"
                      ).fetchall()
    assert kept[0] == (COST_REASON, f"old{FIT}", constants.MAX_COST_USD)
    assert len(kept) == 10_000 - FIT
    with client_for(settings_for(db_path, tmp_path)) as client:
        assert client.get("/api/cost/breakdown").json()["total_cost_usd"] == (
            FIT * MAX_NANOS / constants.NANOS_PER_USD)


def test_the_migration_sets_aside_what_an_older_version_stored(db_path: Path) -> None:
    """A database at the version before the guard, its rollups already overflowed."""
    from costlog.store.connection import connect

    db = connect(db_path)
    migrations.migrate(db, target=10)
    overflowed(db, 4_650)
    with db.conn:
        migrations.backfill(db)
    overflowed(db, 4_650, start=4_650)
    with db.conn:  # the older write path: each upsert's '+' turned the sums into REAL
        for rollup in rollups.ROLLUPS:
            if db[rollup.table].exists():
                for statement in rollup.add_statements(
                        rows=rollups.COST_LOG_ROWS_BEFORE_VOIDS):
                    db.execute(statement, {"lo": 4_650, "hi": 9_300})
    assert db.execute("SELECT typeof(cost_nanos) FROM rollup_model_d WHERE project_id = '*'"
                      ).fetchone()[0] == "real"
    assert migrations.migrate(db) == [m.version for m in migrations.available()
                                      if m.version > 10]
    assert db.execute("SELECT COUNT(*) FROM cost_log_refused").fetchone()[0] == 9_300 - FIT
    integer_sums_only(db)
    assert list(check_aggregates(db)) == []
    db.close()
