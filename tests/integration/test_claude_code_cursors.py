"""A later `costlog import --format claude-code` reads only what changed in each log: the
re-read rules, each on a real file, with the stored figures checked after every import."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from costlog.cli import main
from costlog.domain.cursors import HEAD_BYTES
from costlog.store.connection import connect
from tests.support.claude_code import SHOP, SONNET, Truth, line, user

SESSION = "5e55-cursor"


def response(n: int, output: int = 10) -> Truth:
    return Truth(f"msg_{n}", f"req_{n}", SHOP, SESSION, SONNET, 1, output, 0, 0, 0,
                 f"2026-11-10T09:{n:02d}:00.000Z")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {"COSTLOG_DB": str(tmp_path / "c.db"), "HOME": str(tmp_path / "home"),
            "CLAUDE_CONFIG_DIR": None, "COSTLOG_PRICES": None}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A session's log longer than the digested head: a user turn of 5 KB, then 3 responses."""
    path = tmp_path / "projects" / "-home-dev-shop" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([user(SESSION, SHOP, "x" * 5000),
                               *(line(response(n)) for n in range(3))]) + "\n")
    return path


def run(env: dict[str, str | None], root: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["import", "--format", "claude-code", str(root), *args],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stderr.splitlines()[-1]


def summary(events: int, new: int, *, revised: int = 0, unchanged: int = 0,
            malformed: int = 0) -> str:
    return (f"imported {events} events ({new} new, {events - new - revised} already recorded,"
            f" {revised} revised) from 1 files ({unchanged} unchanged);"
            f" {malformed} malformed lines skipped")


def stored(env: dict[str, str | None]) -> list[tuple[str, int]]:
    db = connect(str(env["COSTLOG_DB"]))
    rows = db.execute("SELECT event_id, output_tokens FROM cost_log ORDER BY event_id").fetchall()
    db.close()
    return rows


def cursor(env: dict[str, str | None], log: Path) -> tuple[int, int, int]:
    """The stored (size, byte offset, lines) of ``log``."""
    db = connect(str(env["COSTLOG_DB"]))
    row = db.execute("SELECT size, byte_offset, lines FROM claude_code_cursors WHERE path = ?",
                     [str(log.resolve())]).fetchone()
    db.close()
    return row


def ids(*numbers: int) -> list[tuple[str, int]]:
    return [(f"cc:msg_{n}:req_{n}", 10) for n in numbers]


def test_an_unchanged_log_is_not_opened(env: dict[str, str | None], log: Path) -> None:
    root = log.parent.parent
    assert run(env, root) == summary(3, 3)
    assert cursor(env, log) == (log.stat().st_size, log.stat().st_size, 4)
    assert run(env, root) == summary(0, 0, unchanged=1)
    assert stored(env) == ids(0, 1, 2)


def test_a_grown_log_is_read_after_its_offset_only(env: dict[str, str | None],
                                                   log: Path) -> None:
    root = log.parent.parent
    run(env, root)
    size = log.stat().st_size
    # An old line spoilt beyond the first 4 KiB, and a response appended: only the appended
    # bytes are read, so the spoilt line is neither counted nor reported.
    text = log.read_bytes()
    spoilt = text.index(b'"msg_1"')
    with log.open("r+b") as stream:
        stream.seek(spoilt)
        stream.write(b"{")
        stream.seek(0, os.SEEK_END)
        stream.write((line(response(3)) + "\n").encode())
    assert spoilt > HEAD_BYTES
    assert run(env, root) == summary(1, 1)
    assert stored(env) == ids(0, 1, 2, 3)
    assert cursor(env, log)[1:] == (log.stat().st_size, 5)
    assert log.stat().st_size > size
    # --full reads it from the start: the spoilt line now is one.
    assert run(env, root, "--full") == summary(3, 0, malformed=1)


def test_a_log_that_shrank_is_read_from_the_start(env: dict[str, str | None],
                                                  log: Path) -> None:
    root = log.parent.parent
    run(env, root)
    log.write_text(line(response(0)) + "\n" + line(response(4)) + "\n")
    assert run(env, root) == summary(2, 1)
    assert stored(env) == ids(0, 1, 2, 4)
    assert cursor(env, log) == (log.stat().st_size, log.stat().st_size, 2)


def test_a_replaced_log_is_read_from_the_start(env: dict[str, str | None], log: Path) -> None:
    root = log.parent.parent
    run(env, root)
    # Another file, larger, renamed over it (another inode): its head is the same.
    other = log.with_suffix(".new")
    other.write_bytes(log.read_bytes() + (line(response(5)) + "\n").encode())
    os.replace(other, log)
    assert run(env, root) == summary(4, 1)
    assert stored(env) == ids(0, 1, 2, 5)


def test_a_log_whose_head_changed_is_read_from_the_start(env: dict[str, str | None],
                                                         log: Path) -> None:
    root = log.parent.parent
    run(env, root)
    text = log.read_bytes()
    with log.open("r+b") as stream:  # the same file (inode), its first line changed, grown
        stream.write(text.replace(b"xxxxx", b"yyyyy", 1)
                     + (line(response(6)) + "\n").encode())
    assert run(env, root) == summary(4, 1)
    assert stored(env) == ids(0, 1, 2, 6)


def test_an_unfinished_last_line_is_left_for_the_next_import(env: dict[str, str | None],
                                                             log: Path) -> None:
    root = log.parent.parent
    run(env, root)
    before = log.stat().st_size
    written = line(response(7))
    with log.open("a") as stream:
        stream.write(written[:40])
    # Not consumed: not malformed, not recorded, the cursor before it.
    assert run(env, root) == summary(0, 0)
    assert cursor(env, log)[1:] == (before, 4)
    with log.open("a") as stream:
        stream.write(written[40:] + "\n")
    assert run(env, root) == summary(1, 1)
    assert stored(env) == ids(0, 1, 2, 7)
    assert cursor(env, log)[1:] == (log.stat().st_size, 5)


def test_malformed_lines_are_named_by_their_number_after_the_offset(
        env: dict[str, str | None], log: Path) -> None:
    root = log.parent.parent
    run(env, root)
    with log.open("a") as stream:
        stream.write("{broken\n")
    result = CliRunner().invoke(main, ["import", "--format", "claude-code", str(root)], env=env)
    assert result.stderr.splitlines()[1].startswith(f"{log}:5: invalid JSON:")
    assert result.stderr.splitlines()[-1] == summary(0, 0, malformed=1)


def test_a_larger_copy_later_is_the_next_revision(env: dict[str, str | None],
                                                  log: Path) -> None:
    """A response read while Claude Code was still writing it: the later, larger copy replaces
    it (revision 1, the old version kept); a smaller copy changes nothing."""
    root = log.parent.parent
    run(env, root)
    with log.open("a") as stream:
        stream.write(line(response(1, output=250)) + "\n" + line(response(2, output=5)) + "\n")
    assert run(env, root) == summary(2, 0, revised=1)
    db = connect(str(env["COSTLOG_DB"]))
    assert db.execute("SELECT event_id, output_tokens, revision FROM cost_log ORDER BY 1")\
        .fetchall() == [("cc:msg_0:req_0", 10, 0), ("cc:msg_1:req_1", 250, 1),
                        ("cc:msg_2:req_2", 10, 0)]
    assert db.execute("SELECT event_id, revision, superseded_by FROM cost_log_revisions")\
        .fetchall() == [("cc:msg_1:req_1", 0, "import")]
    db.close()
    # Delivered again (--full), nothing changes: every copy is now at most the recorded one.
    assert run(env, root, "--full") == summary(3, 0)
    check = CliRunner().invoke(main, ["aggregates", "check"], env=env)
    assert (check.exit_code, check.stderr) == (0, "no drift\n")


def test_the_main_chain_copy_wins_across_imports(env: dict[str, str | None],
                                                 log: Path) -> None:
    root = log.parent.parent
    run(env, root)
    # A subagent's replay of a recorded main-chain response, larger: already recorded.
    agent = log.parent / SESSION / "subagents" / "agent-1.jsonl"
    agent.parent.mkdir(parents=True)
    agent.write_text(line(response(0, output=999), sidechain=True) + "\n"
                     + line(response(8), sidechain=True) + "\n")
    assert run(env, root).replace("2 files", "1 files") == summary(2, 1, unchanged=1)
    # The main chain's copy of the response first recorded from the replay replaces it.
    with log.open("a") as stream:
        stream.write(line(response(8, output=3)) + "\n")
    assert run(env, root).replace("2 files", "1 files") == summary(1, 0, revised=1, unchanged=1)
    db = connect(str(env["COSTLOG_DB"]))
    assert db.execute("SELECT event_id, phase, output_tokens FROM cost_log ORDER BY 1")\
        .fetchall() == [("cc:msg_0:req_0", "session", 10), ("cc:msg_1:req_1", "session", 10),
                        ("cc:msg_2:req_2", "session", 10), ("cc:msg_8:req_8", "session", 3)]
    db.close()
