"""Helpers for end-to-end tests that run real costlog processes."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COSTLOG = str(Path(sys.executable).parent / "costlog")


def costlog_env(tmp_path: Path, redis_url: str, queue_name: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COSTLOG_")}
    return env | {
        "COSTLOG_DB": str(tmp_path / "costlog.db"),
        "COSTLOG_REDIS_URL": redis_url,
        "COSTLOG_QUEUE": queue_name,
        "COSTLOG_SPOOL": str(tmp_path / "spool"),
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([COSTLOG, *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


@contextmanager
def process(env: dict[str, str], *args: str, log: Path) -> Iterator[subprocess.Popen]:
    """A costlog subprocess, always reaped (SIGTERM, then SIGKILL)."""
    with log.open("w") as out:
        proc = subprocess.Popen([COSTLOG, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            terminate(proc)


def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM ``proc`` (a clean stop); SIGKILL it if it has not ended 15 s later."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def jsonl(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


def count_rows(db_path: Path) -> int:
    """cost_log's row count, or -1 while the database is not there yet."""
    try:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]
    except sqlite3.Error:
        return -1


#: The project's root: a fresh interpreter started there imports its packages and tests.support.
ROOT = Path(__file__).resolve().parents[2]


def modules_loaded(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The modules a fresh interpreter has loaded once ``code`` (which may assert) has run."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, env=env,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def within(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    """The ``modules`` that are one of ``roots`` or inside one."""
    return [name for name in modules
            if any(name == root or name.startswith(root + ".") for root in roots)]
