"""4,000 half-sent requests against a real `api.serve` process on loopback.

Each client connects and sends a request's first line and one header, then nothing: the
attack that held 4,000 connections open for good. What must hold: the API keeps at most its
bound of connections (1,000) open, answers 503 to those beyond it at once, closes the
half-sent ones at the request deadline with a 408, stays small in memory, and answers normally
once they are gone.
"""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import sqlite_utils

from api.server import ANSWER_GRACE_SECONDS
from costlog import constants
from tests.support.api import uvicorn_api
from tests.support.faults import report, wait_for

pytestmark = pytest.mark.e2e

HALF_OPEN = 4000
#: Long enough to open every connection first on a busy machine; the default is 30 s.
REQUEST_SECONDS = 15.0
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
def api(db: sqlite_utils.Database, db_path: Path, tmp_path: Path, redis_url: str,
        queue_name: str) -> Iterator[tuple[str, psutil.Process]]:
    env = {"COSTLOG_DB": str(db_path), "COSTLOG_REDIS_URL": redis_url,
           "COSTLOG_QUEUE": queue_name, "COSTLOG_SPOOL": str(tmp_path / "spool")}
    started: list = []
    with uvicorn_api(env, tmp_path / "api.log", process_out=started,
                     request_seconds=REQUEST_SECONDS) as base:
        yield base, psutil.Process(started[0].pid)


def first_bytes(connection: socket.socket) -> bytes:
    try:
        return connection.recv(64)
    except OSError:
        return b""


def test_half_open_connections_cannot_exhaust_the_api(api: tuple[str, psutil.Process]) -> None:
    base, process = api
    host, port = base.removeprefix("http://").split(":")
    sockets: list[socket.socket] = []
    try:
        started = time.monotonic()
        for _ in range(HALF_OPEN):
            connection = socket.create_connection((host, int(port)), timeout=30)
            connection.sendall(PARTIAL)
            sockets.append(connection)
        opened = time.monotonic() - started
        time.sleep(ANSWER_GRACE_SECONDS + 0.5)  # the refused ones' grace to read their 503
        held = sum(1 for c in process.net_connections(kind="tcp") if c.status == "ESTABLISHED")
        rss_mb = process.memory_info().rss / 2**20
        busy = httpx.get(f"{base}/healthz", timeout=30)
        refused = [first_bytes(c)[:12] for c in sockets[constants.MAX_OPEN_CONNECTIONS:]]
        late = [first_bytes(c)[:12] for c in sockets[:constants.MAX_OPEN_CONNECTIONS]]
        recovered = wait_for(lambda: httpx.get(f"{base}/healthz", timeout=30).status_code == 200,
                             30, "the API to answer again")
    finally:
        for connection in sockets:
            connection.close()
    report("half-open connections", connections=HALF_OPEN, opened_s=round(opened, 1),
           held_by_api=held, api_rss_mb=round(rss_mb, 1), busy_status=busy.status_code)
    assert held <= constants.MAX_OPEN_CONNECTIONS + 1  # and its connection to Redis
    assert busy.status_code == 503
    assert set(refused) == {b"HTTP/1.1 503"}
    assert set(late) == {b"HTTP/1.1 408"}
    assert rss_mb < 200
    assert recovered < 30
