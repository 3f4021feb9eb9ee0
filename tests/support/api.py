"""Shared data and helpers of the API tests (no tests here).

The data set spans two projects, task ids that repeat between them, every model family plus an
unknown model and another provider, reported, computed and unpriced costs, and timestamps on the
edges that matter: the 24 h / 30 d window edges, the America/New_York fall-back hour, the
Asia/Kolkata day edge at 18:30Z and month edges that move with the zone.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils
from starlette.testclient import TestClient

from api import create_app
from costlog.cli.redis_server import free_port
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.settings import Settings
from costlog.store.write import record_events
from tests.conftest import NOW

PRICES = PriceTable()
LOOPBACK = ("127.0.0.1", 50000)

EVENTS: list[dict[str, Any]] = [
    # alpha
    {"project_id": "alpha", "task_id": "T-1", "phase": "implement",
     "model": "claude-opus-4-5-20251101", "cost_usd": 1.25, "input_tokens": 1000,
     "output_tokens": 200, "initiative_id": "INIT-A", "timestamp": "2026-11-20T11:00:00Z"},
    {"project_id": "alpha", "task_id": "T-1", "phase": "review", "model": "claude-sonnet-4-5",
     "input_tokens": 1000, "output_tokens": 500, "initiative_id": "INIT-A",
     "timestamp": "2026-11-19T13:00:00Z"},
    {"project_id": "alpha", "task_id": "T-2", "phase": "spec", "model": "claude-haiku-4-5",
     "cost_usd": 0.4, "input_tokens": 300, "initiative_id": "INIT-B",
     "timestamp": "2026-11-15T08:00:00Z"},
    # 01:30 EDT and 01:30 EST on the New York fall-back day
    {"project_id": "alpha", "task_id": "T-3", "phase": "test", "model": "", "cost_usd": 0.05,
     "output_tokens": 70, "timestamp": "2026-11-01T05:30:00Z"},
    {"project_id": "alpha", "task_id": "T-3", "phase": "test", "model": "gpt-5",
     "provider": "openai", "cost_usd": 0.07, "total_tokens": 900,
     "timestamp": "2026-11-01T06:30:00Z"},
    # either side of the Kolkata midnight (18:30Z)
    {"project_id": "alpha", "task_id": "T-4", "phase": "implement", "model": "claude-3-haiku",
     "input_tokens": 2000, "output_tokens": 1000, "cache_creation_tokens": 100,
     "cache_read_tokens": 4000, "initiative_id": "INIT-B", "timestamp": "2026-11-10T18:29:59Z"},
    {"project_id": "alpha", "task_id": "T-4", "phase": "implement", "model": "claude-3-haiku",
     "cost_usd": 0.11, "input_tokens": 10, "timestamp": "2026-11-10T18:30:00Z"},
    # one second outside the 24 h window, and exactly on the 30 d edge
    {"project_id": "alpha", "task_id": "T-5", "phase": "spec", "model": "claude-sonnet",
     "cost_usd": 0.123456789, "input_tokens": 5, "timestamp": "2026-11-19T11:59:59Z"},
    {"project_id": "alpha", "task_id": "T-6", "phase": "review", "model": "claude-sonnet-4-5",
     "cost_usd": 0.2, "output_tokens": 20, "timestamp": "2026-10-21T12:00:00Z"},
    # beta: task ids repeat
    {"project_id": "beta", "task_id": "T-1", "phase": "implement", "model": "claude-opus-4-1",
     "cost_usd": 2.0, "input_tokens": 4000, "initiative_id": "INIT-A",
     "timestamp": "2026-10-31T23:00:00Z"},  # November in Tokyo
    {"project_id": "beta", "task_id": "T-9", "phase": "review", "model": "claude-sonnet-4",
     "cost_usd": 0.3, "input_tokens": 100, "timestamp": "2026-09-15T10:00:00Z"},
    {"project_id": "beta", "task_id": "T-1", "phase": "implement", "model": "claude-opus-4-5",
     "cost_usd": 0.6, "output_tokens": 60, "timestamp": "2026-11-20T11:59:59Z"},
    # unpriced (unknown model, no reported cost), exactly on the 24 h edge
    {"project_id": "beta", "task_id": "T-2", "phase": "implement", "model": "",
     "input_tokens": 500, "timestamp": "2026-11-19T12:00:00Z"},
    {"project_id": "beta", "task_id": "T-3", "phase": "implement", "model": "claude-opus-4-5",
     "cost_usd": 1.5, "input_tokens": 150, "initiative_id": "INIT-B",
     "timestamp": "2026-11-01T02:00:00Z"},  # October in Los Angeles
]

# SQL over cost_log rows, written independently of the rollups.
FAMILY = "CASE WHEN COALESCE(model, '') = '' THEN 'unknown' ELSE model END"
TOKENS = ("CASE WHEN COALESCE(total_tokens, 0) > 0 THEN total_tokens ELSE input_tokens"
          " + output_tokens + cache_creation_tokens + cache_read_tokens END")
NANOS = "CAST(ROUND(cost_usd * 1e9) AS INTEGER)"


def seed(db: sqlite_utils.Database, events: list[dict[str, Any]] | None = None) -> None:
    parsed = [parse_event(fields, now=NOW, fill_id="hash") for fields in (events or EVENTS)]
    record_events(db, parsed, PRICES)


def settings_for(db_path: Path, tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(db_path=db_path, redis_url=None, queue_name="costlog-test",
                    spool_dir=tmp_path / "spool", project=None, tz="UTC")
    return replace(base, **overrides)


@contextmanager
def client_for(settings: Settings, **kwargs: Any) -> Iterator[TestClient]:
    kwargs.setdefault("client", LOOPBACK)
    with TestClient(create_app(settings), **kwargs) as client:
        yield client


def sql_sums(db: sqlite_utils.Database, key: str, where: str = "1",
             params: tuple[Any, ...] = ()) -> dict[str, tuple[int, int]]:
    """key -> (cost in nano-USD, tokens), straight from cost_log."""
    rows = db.execute(
        f"SELECT {key}, SUM({NANOS}), SUM({TOKENS}) FROM cost_log WHERE {where} GROUP BY 1",
        params,
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def sql_float_cost(db: sqlite_utils.Database, where: str = "1",
                   params: tuple[Any, ...] = ()) -> float:
    """Plain SUM(cost_usd) (floating point) for a cross-check with a tolerance."""
    return db.execute(f"SELECT COALESCE(SUM(cost_usd), 0) FROM cost_log WHERE {where}",
                      params).fetchone()[0]


TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


def without_token_kinds(value: Any) -> Any:
    """``value`` without the four token-kind fields, at any depth (for figures checked
    before the token kinds existed; tests of their own compare the kinds)."""
    if isinstance(value, dict):
        return {key: without_token_kinds(item) for key, item in value.items()
                if key not in TOKEN_KINDS}
    if isinstance(value, list):
        return [without_token_kinds(item) for item in value]
    return value


def usd(nanos: int) -> float:
    return nanos / 1_000_000_000


SERVE = ("import sys, json; from api import serve; from costlog.settings import Settings;"
         " serve(Settings.from_env(), sys.argv[1], int(sys.argv[2]), **json.loads(sys.argv[3]))")


@contextmanager
def uvicorn_api(env: dict[str, str], log: Path, host: str = "127.0.0.1",
                process_out: list[subprocess.Popen] | None = None,
                **serve_options: Any) -> Iterator[str]:
    """``api.serve`` in its own process on a free port of ``host``: its base URL, until the
    block ends (then stopped with SIGINT, as Ctrl-C would, and reaped). The process is added
    to ``process_out`` when given (to watch its memory); ``serve_options`` go to ``serve``."""
    port = free_port()
    env = {**os.environ, **env}
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-c", SERVE, host, str(port),
                                    json.dumps(serve_options)], env=env,
                                   stdout=output, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).parents[2])
        if process_out is not None:
            process_out.append(process)
        try:
            base = f"http://{host}:{port}"
            deadline = time.monotonic() + 15
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log.read_text()) from None
                    time.sleep(0.05)
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        assert process.returncode == 0, log.read_text()
