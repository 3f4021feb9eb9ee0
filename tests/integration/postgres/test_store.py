"""The store's tests again, on PostgreSQL: the same module, with ``db`` a PostgreSQL store."""

from collections.abc import Iterator

import psycopg
import pytest

from costlog.store.connection import Database, connect
from costlog.store.migrations import migrate
from tests.unit.store.test_store import *  # noqa: F403 - every test of the module runs here too

# These two open SQLite files of their own (an orchestrator database; a file per example).
del test_global_db_cost_workflow, test_rollups_equal_recomputation_under_duplicates  # noqa: F821


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    database = connect(postgres_url)
    migrate(database)
    yield database
    database.close()


def test_a_failed_write_leaves_nothing_staged_or_written(db: Database) -> None:
    """PostgreSQL's form of the store test of the same name (its triggers are functions)."""
    record(db, {"event_id": "1"})  # noqa: F405
    staged = f"SELECT COUNT(*) FROM {rollups.STAGED_ROWS}"  # noqa: F405
    assert db.execute(staged).fetchone() == (0,)
    # A rollup refuses the next write after its rows were staged and other rollups added.
    db.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
               " AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$")
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON rollup_task"
               " FOR EACH ROW EXECUTE FUNCTION refuse()")
    with pytest.raises(psycopg.errors.RaiseException, match="^refused\n"):
        record(db, {"event_id": "2", "task_id": "T-2"})  # noqa: F405
    db.execute("DROP TRIGGER refuse ON rollup_task")
    assert db.execute(staged).fetchone() == (0,)
    assert db.execute("SELECT event_id FROM cost_log").fetchall() == [("1",)]
    assert list(check_aggregates(db)) == []  # noqa: F405
    record(db, {"event_id": "2", "task_id": "T-2"})  # noqa: F405
    assert [(r["task_count"], r["turn_count"])
            for r in get_cost_aggregates(db)] == [(2, 2)]  # noqa: F405
    assert list(check_aggregates(db)) == []  # noqa: F405


def test_cost_log_keeps_the_indexes_costlog_reads_and_updated_rows_have_room(
        db: Database) -> None:
    """Migration 016: no orchestrator opens a PostgreSQL database, so cost_log keeps only the
    indexes costlog reads by; the tables writes add into leave room for same-page updates."""
    indexes = {name for (name,) in db.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'cost_log'"
        " AND schemaname = current_schema()")}
    # ... and migration 021's partial index of the unpriced rows (the queue panel's count).
    assert indexes == {"cost_log_pkey", "idx_cost_event_id", "idx_cost_timestamp",
                       "idx_cost_project_timestamp", "idx_cost_unpriced"}
    roomy = {table for (table,) in db.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = CAST(current_schema() AS regnamespace)"
        " AND relkind = 'r' AND reloptions = ARRAY['fillfactor=70']")}
    added_into = {rollup.table for rollup in rollups.ROLLUPS if rollup.values}  # noqa: F405
    assert roomy == added_into | {"costlog_counters"}
