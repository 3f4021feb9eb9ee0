"""What a web page in the operator's browser cannot do, over real HTTP to a real uvicorn.

No token is set (the default of ``costlog up``), so loopback clients may write: a page could
post a "simple" cross-site request (text/plain, no preflight) from the browser, which is a
loopback client, or reach the API through a domain it rebinds to 127.0.0.1. Both are refused.
"""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from costlog.cli.redis_server import RedisServer
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from ingest.queue import make_queue
from tests.support.api import seed, uvicorn_api

EVENT = {"project_id": "web", "task_id": "T-1", "phase": "implement", "cost_usd": 1.0}
BUDGET = {"monthly_limit_usd": 100.0}
LISTED = "https://dashboard.example"


def env_for(db_path: Path, tmp_path: Path, redis_url: str, queue_name: str,
            **extra: str) -> dict[str, str]:
    return {"COSTLOG_DB": str(db_path), "COSTLOG_REDIS_URL": redis_url,
            "COSTLOG_QUEUE": queue_name, "COSTLOG_SPOOL": str(tmp_path / "spool"),
            "COSTLOG_API_TOKEN": "", "COSTLOG_CORS_ORIGINS": LISTED, **extra}


@dataclass
class Server:
    url: str
    redis_url: str
    queue_name: str

    def queued(self) -> int:
        client = redis.Redis.from_url(self.redis_url)
        try:
            return make_queue(self.queue_name, client).count
        finally:
            client.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Server]:
    """One server for the module (each start takes a few seconds): seeded, no token."""
    tmp = tmp_path_factory.mktemp("hardening")
    db = connect(tmp / "costlog.db")
    migrate(db)
    seed(db)
    db.close()
    queue_name = f"costlog-hardening-{uuid.uuid4().hex[:8]}"
    env = env_for(tmp / "costlog.db", tmp, redis_server.url, queue_name,
                  COSTLOG_ALLOWED_HOSTS="costlog.internal, *.costlog.example")
    with uvicorn_api(env, tmp / "api.log") as base:
        yield Server(base, redis_server.url, queue_name)


@pytest.fixture
def server(api: Server) -> Iterator[str]:
    """The base URL of the module's server."""
    yield api.url


@pytest.fixture
def refused(api: Server) -> Iterator[None]:
    """Nothing is enqueued during the test."""
    before = api.queued()
    yield
    assert api.queued() == before


def error(response: httpx.Response) -> tuple[int, dict]:
    return response.status_code, response.json()


# -- content type and origin of writes -----------------------------------------------------------


@pytest.mark.usefixtures("refused")
def test_a_cross_site_simple_post_records_nothing(server: str) -> None:
    """The reproduction: text/plain from a foreign Origin, no token, was recorded."""
    response = httpx.post(f"{server}/api/cost/events", content=json.dumps(EVENT),
                          headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert error(response) == (403, {"error": "cross-origin write refused"})


@pytest.mark.usefixtures("refused")
@pytest.mark.parametrize("content_type", [
    None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/jsonx", "application/json-seq",
])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/cost/events", EVENT), ("PUT", "/api/cost/budget", BUDGET)])
def test_writes_need_a_json_content_type(server: str, method: str, path: str, body: dict,
                                         content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = httpx.request(method, server + path, content=json.dumps(body), headers=headers)
    assert error(response) == (415, {"error": "unsupported content type: use application/json"})


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON",
                                          "application/json; charset=utf-8"])
def test_json_content_types_are_accepted(server: str, content_type: str) -> None:
    response = httpx.post(f"{server}/api/cost/events", content=json.dumps(EVENT),
                          headers={"Content-Type": content_type})
    assert response.status_code == 202


@pytest.mark.usefixtures("refused")
@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1",
                                    "https://127.0.0.1:{port}", "http://127.0.0.1:1",
                                    "http://localhost:{port}", "https://dashboard.example:444",
                                    "not a url"])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/cost/events", EVENT), ("PUT", "/api/cost/budget", BUDGET)])
def test_writes_from_a_foreign_origin_are_refused(server: str, method: str, path: str,
                                                  body: dict, origin: str) -> None:
    """Another scheme, port or host is another origin; the request went to 127.0.0.1:port,
    so even http://localhost:port is not this one's origin."""
    port = server.rsplit(":", 1)[1]
    response = httpx.request(method, server + path, json=body,
                             headers={"Origin": origin.format(port=port)})
    assert error(response) == (403, {"error": "cross-origin write refused"})


def test_writes_from_the_own_or_a_listed_origin_are_accepted(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    for origin, host in ((server, None), (f"http://localhost:{port}", f"localhost:{port}"),
                         (LISTED, None)):
        headers = {"Origin": origin} | ({"Host": host} if host else {})
        assert httpx.post(f"{server}/api/cost/events", json=EVENT,
                          headers=headers).status_code == 202, origin
        assert httpx.put(f"{server}/api/cost/budget", json=BUDGET,
                         headers=headers).status_code == 200, origin


def test_reads_carry_no_origin_rule(server: str) -> None:
    """A cross-site read gets its answer but no CORS header: the browser keeps it from the page."""
    response = httpx.get(f"{server}/api/cost/budget", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# -- the Host header (DNS rebinding) -------------------------------------------------------------


@pytest.mark.usefixtures("refused")
@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example",
                                  "costlog.internal.evil.example", "costlog.example", "",
                                  "localhost@evil.example", "[::2]:{port}", "127.0.0.2:{port}"])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/cost/breakdown", None), ("GET", "/healthz", None),
    ("GET", "/openapi.json", None), ("PUT", "/api/cost/budget", BUDGET),
    ("POST", "/api/cost/events", EVENT)])
def test_requests_to_another_host_name_are_refused(server: str, method: str, path: str,
                                                   body: dict | None, host: str) -> None:
    port = server.rsplit(":", 1)[1]
    response = httpx.request(method, server + path, json=body,
                             headers={"Host": host.format(port=port)})
    assert error(response) == (400, {"error": "invalid host header"})


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "LOCALHOST:{port}",
                                  "127.0.0.1:{port}", "127.0.0.1", "[::1]:{port}", "[::1]",
                                  "costlog.internal", "costlog.internal:8443",
                                  "api.costlog.example"])
def test_requests_to_the_api_s_own_names_are_served(server: str, host: str) -> None:
    port = server.rsplit(":", 1)[1]
    headers = {"Host": host.format(port=port)}
    assert httpx.get(f"{server}/api/cost/breakdown", headers=headers).status_code == 200
    assert httpx.put(f"{server}/api/cost/budget", json=BUDGET,
                     headers=headers).status_code == 200


@pytest.mark.usefixtures("db")
def test_the_bind_address_is_a_host_name_of_its_own(db_path: Path, tmp_path: Path,
                                                    redis_url: str, queue_name: str) -> None:
    """Bound to 127.0.0.2 (no loopback name), the API answers a Host of that address."""
    env = env_for(db_path, tmp_path, redis_url, queue_name)
    with uvicorn_api(env, tmp_path / "api.log", host="127.0.0.2") as base:
        assert httpx.get(f"{base}/api/cost/budget").status_code == 200
        assert error(httpx.get(f"{base}/api/cost/budget", headers={"Host": "evil.example"})) == (
            400, {"error": "invalid host header"})


# -- the smaller points, over the wire -----------------------------------------------------------


def test_a_405_lists_every_allowed_method(server: str) -> None:
    for method in ("DELETE", "PATCH", "POST"):
        response = httpx.request(method, f"{server}/api/cost/budget")
        assert error(response) == (405, {"error": "method not allowed"})
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT"}
    response = httpx.get(f"{server}/api/cost/events")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")


@pytest.mark.parametrize("tz", ["localtime", "posixrules", "posix/Europe/Paris",
                                "right/UTC", "../etc/passwd", "/etc/localtime", ""])
def test_tz_accepts_iana_names_only(server: str, tz: str) -> None:
    response = httpx.get(f"{server}/api/cost/budget", params={"tz": tz})
    assert error(response) == (400, {"error": "invalid 'tz' parameter: unknown time zone"})


def test_the_last_representable_day_is_a_range_error_not_a_bad_date(server: str) -> None:
    response = httpx.get(f"{server}/api/cost/timeseries",
                         params={"start": "2026-11-01", "end": "9999-12-31"})
    assert error(response) == (400, {"error": "invalid range: more than 10000 points"})
    response = httpx.get(f"{server}/api/cost/timeseries", params={"end": "9999-12-31"})
    assert error(response) == (400, {"error": "invalid range: dates out of range"})
