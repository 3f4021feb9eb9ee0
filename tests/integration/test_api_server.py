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
