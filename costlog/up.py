"""``costlog up``: Redis (private unless COSTLOG_REDIS_URL is set), the worker and the API.

The children are ``costlog worker`` and ``costlog api`` processes with the same settings; a
SIGINT/SIGTERM (Ctrl-C) or a child that dies stops them all, and the private Redis last.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from costlog.demo import demo_events
from costlog.redis_server import RedisServer
from ingest import clock
from ingest.client import Publisher
from ingest.constants import MAX_EVENTS_PER_REQUEST
from ingest.database import connect
from ingest.event import parse_event
from ingest.migrations import migrate
from ingest.settings import Settings

log = logging.getLogger("costlog.up")
STOP_TIMEOUT_SECONDS = 15
API_START_TIMEOUT_SECONDS = 30


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"COSTLOG_DB": str(settings.db_path), "COSTLOG_REDIS_URL": settings.redis_url or "",
                "COSTLOG_QUEUE": settings.queue_name, "COSTLOG_SPOOL": str(settings.spool_dir)})
    if settings.prices_path:
        env["COSTLOG_PRICES"] = str(settings.prices_path)
    return env


def _spawn(settings: Settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "costlog.cli", *args], env=child_env(settings))


def _wait_for_api(url: str, children: list[subprocess.Popen]) -> bool:
    deadline = time.monotonic() + API_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            return False
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def publish_demo(settings: Settings) -> int:
    """Publish the demo month through the real queue; returns how many events were sent."""
    now = clock.now()
    events = [parse_event(raw, now=now) for raw in demo_events(now)]
    publisher = Publisher.from_settings(settings)
    for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
        publisher.publish_events(events[start:start + MAX_EVENTS_PER_REQUEST])
    return len(events)


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _banner(settings: Settings, url: str, demo_count: int) -> str:
    lines = [f"costlog is up: {url}", f"  database: {settings.db_path}"]
    if demo_count:
        lines.append(f"  demo: {demo_count} events published through the queue")
    lines += [
        "  try:",
        f"    curl -s '{url}/api/cost/breakdown?by=model&period=30d'",
        f"    curl -s '{url}/api/cost/timeseries?granularity=day'",
        f"    curl -s '{url}/api/cost/budget'",
        f"    curl -s '{url}/api/initiatives/INIT-1/cost'",
        "  Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def run_stack(settings: Settings, *, demo: bool, host: str, port: int) -> int:
    """Run until SIGINT/SIGTERM (exit 0) or until a child dies (exit 1)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    redis_server = None
    children: list[subprocess.Popen] = []
    try:
        if not settings.redis_url:
            redis_server = RedisServer(Path(settings.db_path).parent / "redis").start()
            settings = replace(settings, redis_url=redis_server.url)
        db = connect(settings.db_path)
        migrate(db)
        db.close()
        children = [_spawn(settings, "worker"),
                    _spawn(settings, "api", "--host", host, "--port", str(port))]
        url = f"http://{host}:{port}"
        if not _wait_for_api(url, children):
            log.error("the API did not start on %s", url)
            return 1
        demo_count = publish_demo(settings) if demo else 0
        print(_banner(settings, url, demo_count), flush=True)
        while not stop.wait(0.5):
            if any(child.poll() is not None for child in children):
                log.error("a costlog process exited; stopping the others")
                return 1
        return 0
    finally:
        _stop(children)
        if redis_server is not None:
            redis_server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
