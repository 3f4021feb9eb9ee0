"""Helpers of the fault-injection suite (tests/faults/test_fault_*.py): traffic, processes, checks.

Every fault test runs real processes (redis-server, `costlog worker`, `costlog import`, …) on its
own temp database, queue and, where Redis itself is the fault, its own redis-server and port.
Traffic is bounded by ``COSTLOG_FAULT_EVENTS`` (default 1,500; ``make faults`` uses 5,000).
Figures for docs/operations.md are printed and, when ``COSTLOG_FAULT_REPORT`` names a file,
appended to it as JSON lines.
"""

import json
import math
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
import redis
from rq.exceptions import NoSuchJobError

from costlog.domain.models import detect_model
from costlog.store.connection import DatabaseUnavailable, connect
from costlog.store.queries import read_counters
from costlog.store.write import check_aggregates
from ingest.queue import make_queue
from tests.support.processes import COSTLOG, terminate

RQ = str(Path(COSTLOG).parent / "rq")

#: Events per fault test; the normal suite keeps it small, `make faults` runs 5,000.
FAULT_EVENTS = int(os.environ.get("COSTLOG_FAULT_EVENTS", "1500"))

MODELS = ["claude-opus-4-5-20251101", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5", ""]
PHASES = ["spec", "implement", "test", "review"]


def make_events(count: int, prefix: str) -> list[dict[str, Any]]:
    """``count`` distinct, valid events: several projects, tasks, phases, models, providers."""
    events = []
    for i in range(count):
        model = MODELS[i % len(MODELS)]
        events.append({
            "event_id": f"{prefix}-{i}",
            "project_id": f"proj-{i % 3}",
            "task_id": f"T-{i % 23}",
            "phase": PHASES[i % len(PHASES)],
            "model": model,
            "provider": "openai" if model == "gpt-5" else "claude",
            "input_tokens": 1000 + i,
            "output_tokens": 7 * i,
            "cache_read_tokens": i % 11,
            "cost_usd": round(0.011 * (i % 43) + 0.0005, 6),
            "initiative_id": f"I-{i % 4}" if i % 5 else "",
            "timestamp": f"2026-11-{1 + i % 19:02d}T{i % 24:02d}:{i % 60:02d}:{i % 57:02d}Z",
        })
    return events


def jsonl(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


# -- processes -------------------------------------------------------------------------------


@contextmanager
def service(env: dict[str, str], *args: str, log: Path,
            piped: bool = False) -> Iterator[subprocess.Popen]:
    """A `costlog` process in its own process group, always reaped with everything it started.

    RQ's scheduler is a forked child of the worker; when a test SIGKILLs only the worker (as the
    kernel's OOM killer would), the scheduler lives on, so the whole group is killed at the end.
    ``piped``: the output goes through a pipe the test copies to ``log`` (a process whose file
    size limit is lowered can still log).
    """
    with log.open("a") as out:
        proc = subprocess.Popen([COSTLOG, *args], env=env,
                                stdout=subprocess.PIPE if piped else out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        copier = None
        if piped:
            copier = threading.Thread(target=_copy, args=(proc.stdout, out), daemon=True)
            copier.start()
        try:
            yield proc
        finally:
            stop_group(proc)
            if copier is not None:
                copier.join(10)


def _copy(source: Any, out: Any) -> None:
    for line in source:
        out.write(line.decode(errors="replace"))
        out.flush()


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process (a clean stop), then SIGKILL whatever is left of its group."""
    terminate(proc)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.1,
             state: Any = None) -> float:
    """Poll ``condition`` until true; returns the seconds it took.

    ``state``: a callable describing the situation, added to the timeout message.
    """
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            seen = f" ({state()})" if state is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{seen}")
        time.sleep(interval)
    return time.monotonic() - started


# -- the database ----------------------------------------------------------------------------


def store_of(target: str) -> Path | str:
    """What the checks open for a COSTLOG_DB value: a SQLite file's Path, or the URL."""
    return target if target.startswith("postgresql://") else Path(target)


def count_rows(target: Path | str) -> int:
    """Rows in cost_log of a SQLite file or PostgreSQL URL (-1 while it cannot be read)."""
    if isinstance(target, Path):
        try:
            with sqlite3.connect(target, timeout=5) as conn:
                return conn.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]
        except sqlite3.Error:
            return -1
    try:
        db = connect(target)
    except DatabaseUnavailable:
        return -1
    try:
        return db.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]
    except psycopg.Error:  # a PostgreSQL URL here: the file was read above
        return -1
    finally:
        db.close()


def counters(db_path: Path | str) -> dict[str, int]:
    db = connect(db_path)
    try:
        return read_counters(db)
    finally:
        db.close()


def assert_exactly_once(db_path: Path | str, events: list[dict[str, Any]]) -> dict[str, int]:
    """Every distinct event is one row, costs and rollups are exact; returns the figures."""
    unique = {event["event_id"]: event for event in events}
    db = connect(db_path)
    try:
        rows = db.execute("SELECT event_id, cost_usd FROM cost_log").fetchall()
        ids = [event_id for event_id, _ in rows]
        assert len(ids) == len(set(ids)), "an event_id was stored twice"
        missing = set(unique) - set(ids)
        extra = set(ids) - set(unique)
        assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:5]}"
        assert not extra, f"{len(extra)} unexpected rows, e.g. {sorted(extra)[:5]}"
        expected = math.fsum(event["cost_usd"] for event in unique.values())
        assert math.isclose(math.fsum(cost for _, cost in rows), expected, rel_tol=1e-9)
        by_family: dict[str, int] = defaultdict(int)
        for event in unique.values():
            family = detect_model(event["model"], event.get("provider", "claude"))
            by_family[family] += round(event["cost_usd"] * 1e9)
        assert dict(db.execute(
            "SELECT model, SUM(cost_nanos) FROM rollup_model_q WHERE project_id = '*'"
            " GROUP BY model").fetchall()) == by_family
        drift = [str(difference) for difference in check_aggregates(db)]
        assert drift == [], drift[:5]
        stored = read_counters(db)
        assert stored["events_ingested"] == len(unique)
        return {"rows": len(ids), "events_ingested": stored["events_ingested"],
                "duplicates_ignored": stored["duplicates_ignored"],
                "lost": len(missing), "doubled": len(ids) - len(set(ids))}
    finally:
        db.close()


# -- the queue -------------------------------------------------------------------------------


@contextmanager
def redis_client(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


def queue_state(url: str, queue_name: str) -> dict[str, int]:
    """Jobs per place: waiting, running, scheduled for a retry, failed (-1 each if unreachable)."""
    places = ("queued", "started", "scheduled", "failed", "intermediate")
    try:
        with redis_client(url) as client:
            queue = make_queue(queue_name, client)
            return {
                "queued": queue.count,
                "started": queue.started_job_registry.get_job_count(cleanup=False),
                "scheduled": queue.scheduled_job_registry.get_job_count(cleanup=False),
                "failed": queue.failed_job_registry.get_job_count(cleanup=False),
                "intermediate": client.llen(queue.intermediate_queue_key),
            }
    except (redis.RedisError, OSError):
        return dict.fromkeys(places, -1)


def drained(url: str, queue_name: str, *, intermediate: bool = True) -> bool:
    """Nothing waiting, running or scheduled (failed jobs are not counted).

    ``intermediate=False`` ignores RQ's intermediate list, where an id whose job hash does not
    exist stays until the next registry maintenance drops it.
    """
    state = queue_state(url, queue_name)
    places = ["queued", "started", "scheduled"] + (["intermediate"] if intermediate else [])
    return all(state[place] == 0 for place in places)


def failed_reasons(url: str, queue_name: str) -> dict[str, str]:
    """The failed registry: job id → the last line of its recorded failure (its reason)."""
    with redis_client(url) as client:
        queue = make_queue(queue_name, client)
        reasons = {}
        for job_id in queue.failed_job_registry.get_job_ids(cleanup=False):
            try:
                job = queue.job_class.fetch(job_id, connection=client,
                                            serializer=queue.serializer)
            except NoSuchJobError:
                reasons[job_id] = "<job hash gone>"
                continue
            result = job.latest_result()
            text = (result.exc_string if result is not None else None) or ""
            lines = [line for line in text.strip().splitlines() if line.strip()]
            reasons[job_id] = lines[-1] if lines else ""
        return reasons


def rq_requeue_all(url: str, queue_name: str) -> subprocess.CompletedProcess:
    """`rq requeue --all` with the JSON serializer, as an operator runs it (README)."""
    return subprocess.run([RQ, "requeue", "-u", url, "--queue", queue_name,
                           "-S", "rq.serializers.JSONSerializer", "--all"],
                          capture_output=True, text=True, timeout=60)


# -- figures ---------------------------------------------------------------------------------


def latency_ms(durations: list[float]) -> dict[str, float]:
    """p50 / p99 / max of call durations (seconds) in milliseconds, and how many took > 100 ms."""
    ordered = sorted(durations)
    if not ordered:
        return {}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"calls": len(ordered), "p50": pick(0.50), "p99": pick(0.99),
            "max": round(ordered[-1] * 1000, 1),
            "over_100ms": sum(1 for duration in ordered if duration > 0.1)}


def report(fault: str, **figures: Any) -> None:
    """Print the figures of one fault run; append them to $COSTLOG_FAULT_REPORT if set."""
    line = json.dumps({"fault": fault, **figures}, sort_keys=True)
    print(f"FAULT-FIGURES {line}")
    target = os.environ.get("COSTLOG_FAULT_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")
