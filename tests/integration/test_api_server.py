"""``api.serve`` under a real uvicorn process: real sockets, real client addresses."""

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlite_utils

from tests.support.api import seed, uvicorn_api

EVENT = {"project_id": "web", "task_id": "T-1", "phase": "implement", "cost_usd": 1.0}


@pytest.fixture
def server(db: sqlite_utils.Database, db_path: Path, tmp_path: Path, redis_url: str,
           queue_name: str) -> Iterator[str]:
    seed(db)
    env = {"COSTLOG_DB": str(db_path), "COSTLOG_REDIS_URL": redis_url,
           "COSTLOG_QUEUE": queue_name, "COSTLOG_SPOOL": str(tmp_path / "spool"),
           "COSTLOG_API_TOKEN": ""}
    with uvicorn_api(env, tmp_path / "api.log") as base:
        yield base


def test_serve_reads_and_writes_over_http(server: str) -> None:
    body = httpx.get(f"{server}/api/cost/breakdown", params={"by": "task"}).json()
    assert body["breakdown"]["beta/T-1"]["cost"] == 2.6
    response = httpx.post(f"{server}/api/cost/events", json=EVENT)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert httpx.get(f"{server}/healthz").json()["queue"]["depth"] == 1


def test_serve_forwarded_remote_client_cannot_write(server: str) -> None:
    """Behind a local reverse proxy the real client address counts, not the proxy's."""
    response = httpx.post(f"{server}/api/cost/events", json=EVENT,
                          headers={"X-Forwarded-For": "203.0.113.9"})
    assert (response.status_code, response.json()) == (
        403, {"error": "writes are allowed from loopback only"})


def test_serve_413_from_content_length_without_the_body(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"POST /api/cost/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert reply.endswith(b'{"error":"request body too large"}')


# -- half-sent requests and open connections ----------------------------------------------------

#: A small bound and deadline, so that the test needs few sockets and little time.
LIMITS = {"max_connections": 8, "request_seconds": 1.0}
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # the headers' end never comes


@pytest.fixture
def bounded(db: sqlite_utils.Database, db_path: Path, tmp_path: Path, redis_url: str,
            queue_name: str) -> Iterator[str]:
    env = {"COSTLOG_DB": str(db_path), "COSTLOG_REDIS_URL": redis_url,
           "COSTLOG_QUEUE": queue_name, "COSTLOG_SPOOL": str(tmp_path / "spool")}
    with uvicorn_api(env, tmp_path / "api.log", **LIMITS) as base:
        yield base


def half_open(base: str, count: int) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        connection = socket.create_connection((host, int(port)), timeout=10)
        connection.sendall(PARTIAL)
        sockets.append(connection)
    return sockets


def answer(connection: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    reply = b""
    while chunk := connection.recv(4096):
        reply += chunk
    return reply


def test_half_sent_requests_are_closed_and_connections_bounded(bounded: str) -> None:
    held = half_open(bounded, LIMITS["max_connections"])
    try:
        # Beyond the bound, a connection is answered 503 and closed at once.
        [extra] = half_open(bounded, 1)
        reply = answer(extra)
        assert reply.startswith(b"HTTP/1.1 503 "), reply
        assert b"retry-after: 1\r\n" in reply.lower()
        assert reply.endswith(b'{"error":"busy: retry shortly"}')
        response = httpx.get(f"{bounded}/healthz")
        assert (response.status_code, response.json()) == (503, {"error": "busy: retry shortly"})
        # Those that never sent their whole request are closed at the deadline, with a 408.
        for connection in held:
            reply = answer(connection)
            assert reply.startswith(b"HTTP/1.1 408 "), reply
            assert reply.endswith(b'{"error":"request not received in time"}')
    finally:
        for connection in held:
            connection.close()
    assert httpx.get(f"{bounded}/healthz").status_code == 200


def test_a_body_that_stops_midway_is_closed(bounded: str) -> None:
    host, port = bounded.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"POST /api/cost/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pro")
        assert b"202" not in answer(connection)  # closed, the event never accepted


def test_a_request_after_a_whole_one_on_the_same_connection_has_its_own_deadline(
        bounded: str) -> None:
    host, port = bounded.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(PARTIAL + b"\r\n")
        first = b""
        while not first.endswith(b"}"):
            first += connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        connection.sendall(PARTIAL)  # the next request stops halfway
        assert answer(connection).startswith(b"HTTP/1.1 408 ")
