"""`costlog up` as a new user runs it: its own Redis, worker and API; Ctrl-C stops all of it."""

import json
import math
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest

from costlog.cli.demo import demo_events
from costlog.cli.redis_server import RedisServer, free_port
from costlog.domain.event import parse_event
from costlog.domain.pricing import load_prices, price_event
from tests.conftest import NOW
from tests.support.processes import COSTLOG, count_rows, wait_for

pytestmark = pytest.mark.e2e

START_TIMEOUT = 45


def up_env(db: Path, **extra: str) -> dict[str, str]:
    """A new user's environment: no COSTLOG_* at all (so a private Redis), a temp database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COSTLOG_")}
    return env | {"COSTLOG_DB": str(db), "COSTLOG_SPOOL": str(db.parent / "spool"),
                  "COSTLOG_NOW": NOW.isoformat()} | extra


@contextmanager
def costlog_up(env: dict[str, str], *args: str, out: Path) -> Iterator[subprocess.Popen]:
    """`costlog up ARGS` with stdout in ``out`` and stderr in ``out``.err; always reaped."""
    with out.open("w") as stdout, out.with_suffix(".err").open("w") as stderr:
        proc = subprocess.Popen([COSTLOG, "up", *args], env=env, stdout=stdout, stderr=stderr)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                children = psutil.Process(proc.pid).children(recursive=True)
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                # Its children run in their own sessions: make sure none outlives the test.
                for child in children:
                    with suppress(psutil.NoSuchProcess):
                        child.kill()
                psutil.wait_procs(children, timeout=10)


def api_get(port: int, path: str) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.read()
    except OSError:
        return None


def breakdown_total(port: int) -> float | None:
    body = api_get(port, "/api/cost/breakdown")
    return None if body is None else json.loads(body)["total_cost_usd"]


def metric(port: int, name: str) -> float | None:
    body = api_get(port, "/metrics")
    found = re.search(rf"^{name} (\S+)$", (body or b"").decode(), re.MULTILINE)
    return float(found.group(1)) if found else None


def banner(out: Path) -> str:
    text = out.read_text()
    return text if "\nDashboard: http" in text else ""


def interrupt(proc: subprocess.Popen) -> tuple[int, list[psutil.Process], str]:
    """SIGINT, as Ctrl-C sends; returns the exit status, the children it had and their names."""
    children = psutil.Process(proc.pid).children(recursive=True)
    names = " ".join(" ".join(child.cmdline()) for child in children)
    proc.send_signal(signal.SIGINT)
    return proc.wait(30), children, names


def left_behind(children: list[psutil.Process]) -> list[int]:
    alive = []
    for child in children:
        try:
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_up_demo_serves_the_demo_month_and_stops_cleanly(tmp_path: Path) -> None:
    events = [parse_event(raw, now=NOW) for raw in demo_events(NOW)]
    prices = load_prices(None)  # the table the worker prices with (no COSTLOG_PRICES)
    expected = math.fsum(price_event(event, prices).cost_usd for event in events)
    assert sum(event.cost_usd is None for event in events) > 0  # pricing is exercised
    db = tmp_path / "data" / "costlog.db"
    port = free_port()
    env = up_env(db, COSTLOG_LOG_FORMAT="json")

    with costlog_up(env, "--demo", "--port", str(port), out=tmp_path / "up1.out") as proc:
        wait_for(lambda: banner(tmp_path / "up1.out") or proc.poll() is not None,
                 START_TIMEOUT, "costlog up to print its banner")
        text = banner(tmp_path / "up1.out")
        assert f"http://127.0.0.1:{port}" in text and str(db) in text
        # The dashboard's address comes last, plainly, and it serves the page; no line about
        # each job (at the default level they log at debug) comes after it or around it.
        assert text.rstrip("\n").splitlines()[-1] == f"Dashboard: http://127.0.0.1:{port}/"
        assert "ingest.job" not in (tmp_path / "up1.err").read_text()
        assert b'data-metric="month-spend"' in (api_get(port, "/") or b"")
        assert f"{len(events)} events through the queue, recorded: {len(events)} new" in text
        assert text.count("curl -s") >= 3
        # The banner comes after the worker recorded the month: the total is already complete.
        assert breakdown_total(port) == pytest.approx(expected, abs=1e-5)
        assert round(breakdown_total(port), 2) == round(expected, 2)
        assert count_rows(db) == len(events)

        # A second `up` on the same data refuses to start a second Redis on the same files.
        second = subprocess.run([COSTLOG, "up", "--port", str(free_port())], env=env,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "another `costlog up` is running" in second.stderr

        status, children, names = interrupt(proc)
    assert status == 0
    assert (tmp_path / "up1.out").read_text().splitlines()[-1] == (
        f"costlog up: stopped (cleanly); the data stays in {db}")
    assert "redis-server" in names and "worker" in names and "api" in names
    assert left_behind(children) == []
    assert api_get(port, "/healthz") is None  # the API is gone
    # COSTLOG_LOG_FORMAT=json reached every child: each stderr line is one JSON object.
    lines = (tmp_path / "up1.err").read_text().splitlines()
    assert {json.loads(line)["logger"].split(".")[0] for line in lines} >= {
        "costlog", "rq", "uvicorn"}

    # Again on the same data: Redis's AOF and the database are reused, and the demo events'
    # fixed ids make the worker ignore every one of them as a duplicate.
    with costlog_up(env, "--demo", "--port", str(port), out=tmp_path / "up2.out") as proc:
        wait_for(lambda: banner(tmp_path / "up2.out") or proc.poll() is not None,
                 START_TIMEOUT, "the second costlog up")
        assert (f"recorded: 0 new, {len(events)} already there"
                in banner(tmp_path / "up2.out"))
        assert metric(port, "costlog_duplicates_ignored_total") == len(events)
        assert count_rows(db) == len(events)
        assert breakdown_total(port) == pytest.approx(expected, abs=1e-5)
        status, children, _ = interrupt(proc)
    assert status == 0
    assert left_behind(children) == []
    assert count_rows(db) == len(events)


def test_up_with_a_given_redis_stops_everything_when_a_child_dies(
        tmp_path: Path, redis_server: RedisServer, queue_name: str) -> None:
    port = free_port()
    env = up_env(tmp_path / "costlog.db", COSTLOG_REDIS_URL=redis_server.url,
                 COSTLOG_QUEUE=queue_name)
    with costlog_up(env, "--port", str(port), out=tmp_path / "up.out") as proc:
        wait_for(lambda: banner(tmp_path / "up.out") or proc.poll() is not None,
                 START_TIMEOUT, "costlog up")
        assert f"redis:    {redis_server.url}\n" in banner(tmp_path / "up.out")
        children = psutil.Process(proc.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in children]
        # COSTLOG_REDIS_URL is set: no private Redis, only the worker (+ its scheduler) and API.
        assert not any("redis-server" in command for command in commands)
        api = next(child for child in children if " api " in " ".join(child.cmdline()) + " ")
        api.kill()
        assert proc.wait(30) == 1
    assert left_behind(children) == []
    assert "the api process was killed by SIGKILL" in (tmp_path / "up.err").read_text()


def test_up_refuses_a_busy_port_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run([COSTLOG, "up", "--port", str(port)],
                                env=up_env(tmp_path / "costlog.db"), capture_output=True,
                                text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert time.monotonic() - started < 10
    assert not (tmp_path / "redis").exists()  # no Redis was started
