"""A full disk under `costlog import`: one line, exit 1, nothing half-committed.

The disk fills the way the fault suite fills it (tests/faults/test_fault_disk.py): the
process's file-size limit (RLIMIT_FSIZE), set before `costlog import` starts, a little above
the migrated database's size. The limit is an odd number of bytes, so that the write crossing
it is a short write, which SQLite reports as a full disk, as it does for ENOSPC.
"""

import resource
import sqlite3
import subprocess
from pathlib import Path

import pytest

from costlog.store.connection import connect
from costlog.store.migrations import migrate
from tests.support.faults import assert_exactly_once, jsonl, make_events
from tests.support.processes import COSTLOG, costlog_env

pytestmark = pytest.mark.e2e

MESSAGE = "cannot write the database: disk is full"


def import_with_file_limit(env: dict[str, str], path: Path, limit: int | None,
                           ) -> subprocess.CompletedProcess:
    def lower() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run([COSTLOG, "import", "--chunk", "2000", str(path)], env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=lower)


def test_import_on_a_full_disk_says_so_in_one_line(tmp_path: Path) -> None:
    env = costlog_env(tmp_path, "redis://127.0.0.1:1/0", "unused")
    db_path = tmp_path / "costlog.db"
    db = connect(db_path)
    migrate(db)
    db.close()
    events = make_events(20_000, "full")
    source = tmp_path / "events.jsonl"
    source.write_text(jsonl(events))
    limit = db_path.stat().st_size + 2 * 2**20 + 1  # ~2 MB more: a few chunks fit

    full = import_with_file_limit(env, source, limit)

    assert (full.returncode, full.stderr.strip().splitlines()[-1:]) == (1, [MESSAGE])
    assert "Traceback" not in full.stderr
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = conn.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]
    assert stored % 2000 == 0 and stored < len(events)  # whole chunks only
    # Space again: the same import counts the rest, and nothing twice.
    again = import_with_file_limit(env, source, None)
    assert again.returncode == 0, again.stderr
    assert_exactly_once(db_path, events)
