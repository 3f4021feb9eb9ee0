"""`costlog statusline`: the line Claude Code shows, from a real database, against figures
computed here; and a short line, exit 0, for anything it cannot use."""

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from costlog.settings import Settings
from costlog.statusline import run
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.orchestrator import set_budget
from costlog.store.write import COLUMNS, record_rows
from tests.support.processes import COSTLOG, modules_loaded, within

SESSION, OTHER = "sess-1", "sess-2"
SHOP, BLOG = "/home/dev/shop", "/home/dev/blog"


def row(event_id: str, project: str, task: str, cost: float, timestamp: str) -> tuple:
    """A cost_log row in store.write.COLUMNS' order (a reported cost)."""
    fields = {"event_id": event_id, "project_id": project, "task_id": task, "phase": "session",
              "model": "sonnet", "model_id": "claude-sonnet-4-5", "provider": "claude",
              "input_tokens": 1, "output_tokens": 1, "total_tokens": 2, "cost_usd": cost,
              "cost_source": "reported", "timestamp": timestamp, "revision": 0}
    return tuple(fields.get(column, 0 if column.endswith(("_tokens", "_requests")) else None)
                 for column in COLUMNS)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    db = connect(path)
    migrate(db)
    record_rows(db, [
        row("e1", SHOP, SESSION, 1.0, "2026-11-20 09:00:00"),
        row("e2", SHOP, SESSION, 0.23, "2026-11-19 23:30:00"),  # yesterday in UTC
        row("e3", BLOG, OTHER, 7.17, "2026-11-20 11:00:00"),
        row("e4", BLOG, OTHER, 200.0, "2026-11-02 10:00:00"),
        row("e5", SHOP, OTHER, 5.0, "2026-10-31 10:00:00"),  # last month
    ])
    db.close()
    return path


def status(**extra: object) -> str:
    return json.dumps({"session_id": SESSION, "cwd": SHOP, "hook_event_name": "Status",
                       "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"},
                       "workspace": {"current_dir": SHOP, "project_dir": SHOP}} | extra)


def line(db_path: Path | str, text: str, tz: str = "UTC") -> str:
    return run(io.StringIO(text), Settings(db_path=db_path, tz=tz))


def test_the_line(db_path: Path) -> None:
    # now: 2026-11-20 12:00 UTC. Today (UTC): e1 + e3; the session: e1 + e2.
    assert line(db_path, status()) == "Sonnet 4.5 · session $1.23 · today $8.17"
    # In New York, today began at 05:00 UTC: e2 (the day before, 18:30 there) is still out.
    assert line(db_path, status(), "America/New_York") == "Sonnet 4.5 · session $1.23 · today $8.17"
    # In Tokyo (UTC+9) today began at 15:00 UTC on the 19th: e2 is in, e1 and e3 too.
    assert line(db_path, status(), "Asia/Tokyo") == "Sonnet 4.5 · session $1.23 · today $8.40"


def test_the_budget_of_the_project_else_of_all_projects(db_path: Path) -> None:
    db = connect(db_path)
    set_budget(db, None, 500.0)
    db.close()
    # No budget of its own: all projects' month (e1 + e2 + e3 + e4) against theirs.
    assert line(db_path, status()) == \
        "Sonnet 4.5 · session $1.23 · today $8.17 · month $208.40 of $500.00 (42%)"
    db = connect(db_path)
    set_budget(db, SHOP, 2.0, timezone="Asia/Tokyo")
    db.close()
    # The shop's own budget, its months in Tokyo: e1 + e2 (e5 is October there too).
    assert line(db_path, status()) == \
        "Sonnet 4.5 · session $1.23 · today $8.17 · month $1.23 of $2.00 (62%)"


@pytest.mark.parametrize(("payload", "expected"), [
    # workspace.current_dir when there is no cwd; the model's id without a display name
    (json.dumps({"session_id": SESSION, "workspace": {"current_dir": SHOP},
                 "model": {"id": "claude-sonnet-4-5"}}),
     "claude-sonnet-4-5 · session $1.23 · today $8.17"),
    # a session never recorded
    (json.dumps({"session_id": "new", "cwd": SHOP, "model": {"display_name": "Opus"}}),
     "Opus · session $0.00 · today $8.17"),
    # fields of the wrong types are left out, not fatal
    (json.dumps({"session_id": 5, "cwd": [], "model": "x"}), "? · session $0.00 · today $8.17"),
    ("not json", "costlog: no status (Claude Code's status JSON expected on stdin)"),
    ("[1, 2]", "costlog: no status (Claude Code's status JSON expected on stdin)"),
    ("", "costlog: no status (Claude Code's status JSON expected on stdin)"),
])
def test_any_input_gets_a_line(db_path: Path, payload: str, expected: str) -> None:
    assert line(db_path, payload) == expected


def test_without_a_database(tmp_path: Path) -> None:
    assert line(tmp_path / "none.db", status()) == "Sonnet 4.5 · costlog: no database yet"
    (tmp_path / "garbage.db").write_bytes(b"not a database" * 100)
    assert line(tmp_path / "garbage.db", status()) == \
        "Sonnet 4.5 · costlog: cannot read the database"
    empty = tmp_path / "empty.db"
    connect(empty).close()  # a SQLite file never migrated
    assert line(empty, status()) == "Sonnet 4.5 · costlog: cannot read the database"


def test_as_claude_code_runs_it(db_path: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COSTLOG_")}
    env |= {"COSTLOG_DB": str(db_path), "COSTLOG_NOW": "2026-11-20T12:00:00Z"}
    done = subprocess.run([COSTLOG, "statusline"], input=status(), env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "Sonnet 4.5 · session $1.23 · today $8.17\n", "")
    broken = subprocess.run([COSTLOG, "statusline"], input="{", capture_output=True, text=True,
                            env=env | {"COSTLOG_TZ": "Mars/Olympus"}, timeout=30, check=False)
    assert broken.returncode == 0
    assert broken.stdout.startswith("costlog: ")
    # Through the command line's options too (not the fast path).
    other = subprocess.run([COSTLOG, "--db", str(tmp_path / "none.db"), "statusline"],
                           input=status(), env=env, capture_output=True, text=True, timeout=30,
                           check=False)
    assert (other.returncode, other.stdout) == (0, "Sonnet 4.5 · costlog: no database yet\n")



def test_the_status_line_loads_no_command_line_and_no_sqlite_utils() -> None:
    """What keeps it fast: the launcher answers it without click, sqlite-utils or the store's
    writes and reads (only its connection module, which opens a plain read-only connection)."""
    loaded = modules_loaded("import sys; sys.argv = ['costlog', 'statusline']\n"
                            "import costlog.launch, costlog.statusline")
    assert within(loaded, ("click", "sqlite_utils", "costlog.cli", "rich", "msgspec")) == []
    assert within(loaded, ("costlog.store",)) == ["costlog.store", "costlog.store.connection"]
