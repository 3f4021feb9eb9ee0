"""`costlog import --format claude-code --follow` as a real process, with real log files
appended to while it runs: each new response is recorded, a growing one revised, a new
session's log found, and Ctrl-C or SIGTERM stops it with the summary line."""

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from costlog import constants
from tests.support.claude_code import SHOP, SONNET, Truth, line
from tests.support.processes import COSTLOG, wait_for

SESSION = "f011-follow"


def response(n: int, output: int = 10) -> Truth:
    return Truth(f"msg_{n}", f"req_{n}", SHOP, SESSION, SONNET, 1, output, 0, 0, 0,
                 f"2026-11-20T09:{n:02d}:00.000Z")


def recorded(db: Path) -> dict[str, int]:
    """event_id -> output tokens of the recorded events (empty while there is no database)."""
    try:
        with sqlite3.connect(db) as conn:
            return dict(conn.execute("SELECT event_id, output_tokens FROM cost_log"))
    except sqlite3.Error:
        return {}


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_follow_records_new_responses_and_stops_cleanly(tmp_path: Path,
                                                        stop: signal.Signals) -> None:
    root = tmp_path / "projects"
    log = root / "-home-dev-shop" / f"{SESSION}.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(line(response(0)) + "\n")
    db = tmp_path / "c.db"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("COSTLOG_", "CLAUDE_"))}
    env |= {"COSTLOG_DB": str(db), "COSTLOG_NOW": "2026-11-20T12:00:00Z"}
    process = subprocess.Popen([COSTLOG, "import", "--format", "claude-code", "--follow",
                                str(root)], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: recorded(db) == {"cc:msg_0:req_0": 10}, 30, "the first import")
        # A response appended, in two writes: the first without its newline is left alone.
        text = line(response(1)) + "\n"
        with log.open("a") as stream:
            stream.write(text[:50])
            stream.flush()
            time.sleep(2 * constants.FOLLOW_POLL_SECONDS)  # the follower looks at it meanwhile
            stream.write(text[50:])
        wait_for(lambda: "cc:msg_1:req_1" in recorded(db), 30, "the appended response")
        # Its next streaming copy, larger: a revision of it.
        with log.open("a") as stream:
            stream.write(line(response(1, output=300)) + "\n")
        wait_for(lambda: recorded(db).get("cc:msg_1:req_1") == 300, 30, "the larger copy")
        # A new session's log, and a subagent's log beside it.
        other = root / "-home-dev-shop" / "f011-two.jsonl"
        other.write_text(line(response(2)) + "\n")
        agent = root / "-home-dev-shop" / "f011-two" / "subagents" / "agent-1.jsonl"
        agent.parent.mkdir(parents=True)
        agent.write_text(line(response(3), sidechain=True) + "\n")
        wait_for(lambda: {"cc:msg_2:req_2", "cc:msg_3:req_3"} <= recorded(db).keys(), 30,
                 "the new logs")
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == 0, err
    assert out == ""
    assert err.splitlines()[-1] == (
        "imported 5 events (4 new, 0 already recorded, 1 revised) from 3 files (0 unchanged);"
        " 0 malformed lines skipped")
    assert "Traceback" not in err
    assert recorded(db) == {f"cc:msg_{n}:req_{n}": 300 if n == 1 else 10 for n in range(4)}
