"""A SQLite process never loads the PostgreSQL back end: each job of RQ's forking worker runs in a
fresh child, which would otherwise spend ~90 ms importing psycopg before its first write."""

import os
from pathlib import Path

from tests.support.processes import modules_loaded, within

# What the child of a forking worker does for one job: open the store, migrate, record.
JOB = """
from ingest import job
from tests.support.events import wire_event
result = job.record_events([wire_event(event_id="e-1")])
assert result == {"inserted": 1, "duplicates": 0, "revised": 0}
"""


def test_a_job_on_sqlite_loads_no_psycopg(tmp_path: Path) -> None:
    loaded = modules_loaded(JOB, env={**os.environ, "COSTLOG_DB": str(tmp_path / "c.db")})
    assert within(loaded, ("psycopg", "psycopg_pool", "costlog.store.postgres")) == []
    # The check sees what it looks for: the SQLite store itself is loaded.
    assert {"sqlite_utils", "costlog.store.write"} <= set(loaded)
