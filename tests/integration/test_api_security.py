"""bearer token, loopback-only writes, CORS, and no secret in any answer or log."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from starlette.testclient import TestClient

from api.security import is_loopback, token_matches
from costlog.cli.redis_server import free_port
from tests.support.api import client_for, seed, settings_for

TOKEN = "s3cr3t-t0ken-value"
EVENT = {"project_id": "web", "task_id": "T-1", "phase": "implement", "cost_usd": 1.0,
         "timestamp": "2026-11-20T10:00:00Z"}
BUDGET = {"monthly_limit_usd": 10}
WRITES = [("PUT", "/api/cost/budget", BUDGET), ("POST", "/api/cost/events", EVENT),
          ("POST", "/api/cost/alerts/test", {}),
          ("POST", "/api/cost/events/any-id/void", {"reason": "wrong task"}),
          ("POST", "/v1/logs", {}), ("POST", "/v1/traces", {}), ("POST", "/v1/metrics", {})]
READS = ["/api/cost/breakdown", "/api/cost/timeseries", "/api/cost/budget",
         "/api/cost/budget/check", "/api/cost/alerts",
         "/api/initiatives/I/cost", "/healthz", "/metrics", "/openapi.json"]


@pytest.fixture
def seeded(db: sqlite_utils.Database) -> sqlite_utils.Database:
    seed(db)
    return db


@pytest.fixture
def token_client(seeded: sqlite_utils.Database, db_path: Path, tmp_path: Path,
                 redis_url: str, queue_name: str) -> Iterator[TestClient]:
    settings = settings_for(db_path, tmp_path, api_token=TOKEN, redis_url=redis_url,
                            queue_name=queue_name)
    # A remote client: with a token set, where the request comes from does not matter.
    with client_for(settings, client=("203.0.113.7", 40000)) as client:
        yield client


def write(client: TestClient, method: str, url: str, body: dict, **headers: str):
    return client.request(method, url, json=body, headers=headers)


# -- bearer token --------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}", TOKEN, f"Token {TOKEN}", "Bearer s3cr3t-t0ken-valuÉ".encode(),
    f"Bearer {TOKEN}\x00".encode()])
def test_writes_need_the_token(token_client: TestClient, method: str, url: str, body: dict,
                               authorization: str | bytes | None,
                               seeded: sqlite_utils.Database) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = token_client.request(method, url, json=body, headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "missing or invalid token"})
    assert response.headers["www-authenticate"] == "Bearer"
    assert seeded.execute("SELECT COUNT(*) FROM cost_budgets").fetchone()[0] == 0


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", f"bearer {TOKEN}",
                                           f"BEARER  {TOKEN} "])
def test_writes_with_the_token(token_client: TestClient, authorization: str) -> None:
    response = write(token_client, "PUT", "/api/cost/budget", BUDGET, Authorization=authorization)
    assert response.status_code == 200
    assert response.json()["monthly_limit_usd"] == 10.0
    response = write(token_client, "POST", "/api/cost/events", EVENT, Authorization=authorization)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1


def test_reads_need_no_token(token_client: TestClient) -> None:
    for url in READS:
        assert token_client.get(url).status_code in (200, 404), url


def test_token_checked_before_the_body_is_read(token_client: TestClient) -> None:
    json_type = {"Content-Type": "application/json"}
    response = token_client.post("/api/cost/events", content=b"x" * (2 * 1024 * 1024),
                                 headers=json_type)
    assert response.status_code == 401
    response = token_client.post("/api/cost/events", content=b"not json", headers=json_type)
    assert response.status_code == 401


def test_token_with_non_ascii_characters(seeded: sqlite_utils.Database, db_path: Path,
                                         tmp_path: Path) -> None:
    settings = settings_for(db_path, tmp_path, api_token="päss-wörd")
    with client_for(settings) as client:
        good = client.put("/api/cost/budget", json=BUDGET,
                          headers={"Authorization": "Bearer päss-wörd".encode()})
        bad = client.put("/api/cost/budget", json=BUDGET,
                         headers={"Authorization": "Bearer pass-word"})
    assert good.status_code == 200
    assert bad.status_code == 401


def test_token_matches_unit() -> None:
    assert token_matches(f"Bearer {TOKEN}", TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches(f"Bearer {TOKEN} extra", TOKEN)


# -- loopback only -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["203.0.113.7", "10.0.0.1", "192.168.1.2", "::2", "2001:db8::1",
                                  "testclient", "0.0.0.0", "::ffff:10.0.0.1", "localhost"])
@pytest.mark.parametrize(("method", "url", "body"), WRITES)
def test_writes_from_other_addresses_are_403(seeded: sqlite_utils.Database, db_path: Path,
                                             tmp_path: Path, host: str, method: str, url: str,
                                             body: dict) -> None:
    with client_for(settings_for(db_path, tmp_path), client=(host, 1234)) as client:
        response = write(client, method, url, body)
        assert (response.status_code, response.json()) == (
            403, {"error": "writes are allowed from loopback only"})
        # A token the server does not have does not help.
        response = write(client, method, url, body, Authorization=f"Bearer {TOKEN}")
        assert response.status_code == 403
        # Reads are open.
        assert client.get("/api/cost/breakdown").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "127.0.0.53", "::ffff:127.0.0.1"])
def test_writes_from_loopback(seeded: sqlite_utils.Database, db_path: Path, tmp_path: Path,
                              host: str) -> None:
    with client_for(settings_for(db_path, tmp_path), client=(host, 1234)) as client:
        response = write(client, "PUT", "/api/cost/budget", BUDGET)
    assert response.status_code == 200


def test_is_loopback_unit() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback(None) and not is_loopback("") and not is_loopback("::")


# -- CORS ----------------------------------------------------------------------------------------

DASHBOARD = "https://dash.example.com"


@pytest.fixture
def cors_client(seeded: sqlite_utils.Database, db_path: Path,
                tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(db_path, tmp_path, cors_origins=(DASHBOARD, "http://localhost:5173"))
    with client_for(settings) as client:
        yield client


def test_cors_allowed_origin(cors_client: TestClient) -> None:
    response = cors_client.get("/api/cost/breakdown", headers={"Origin": DASHBOARD})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == DASHBOARD
    assert "Origin" in response.headers["vary"]
    # Errors carry the header too, so the dashboard can read the message.
    response = cors_client.get("/api/cost/breakdown?by=x", headers={"Origin": DASHBOARD})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == DASHBOARD


def test_cors_preflight_allowed_origin(cors_client: TestClient) -> None:
    response = cors_client.options("/api/cost/budget", headers={
        "Origin": DASHBOARD, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == DASHBOARD
    assert response.headers["access-control-allow-methods"] == "GET, PUT, POST"
    assert response.headers["access-control-allow-headers"] == "Authorization, Content-Type"


def test_cors_denied_origin(cors_client: TestClient) -> None:
    response = cors_client.get("/api/cost/breakdown", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = cors_client.options("/api/cost/budget", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"})
    assert (preflight.status_code, preflight.json()) == (405, {"error": "method not allowed"})
    assert not any(name.startswith("access-control-") for name in preflight.headers)
    # Close but not equal origins are different origins.
    for origin in (DASHBOARD + "/", "http://dash.example.com", DASHBOARD + ":443",
                   "https://dash.example.com.evil.example"):
        response = cors_client.get("/api/cost/breakdown", headers={"Origin": origin})
        assert "access-control-allow-origin" not in response.headers, origin


def test_no_cors_headers_without_configured_origins(seeded: sqlite_utils.Database,
                                                    db_path: Path, tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path)) as client:
        response = client.get("/api/cost/breakdown", headers={"Origin": DASHBOARD})
        preflight = client.options("/api/cost/breakdown", headers={
            "Origin": DASHBOARD, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    assert preflight.status_code == 405
    assert not any(name.startswith("access-control-") for name in preflight.headers)


# -- secrets -------------------------------------------------------------------------------------


def test_no_secret_in_any_response_or_log(seeded: sqlite_utils.Database, db_path: Path,
                                          tmp_path: Path, redis_url: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """The Redis password and the API token appear in no response body, header or log line."""
    password = "hunter2-redis-pa55"
    secret_urls = [
        redis_url.replace("redis://", f"redis://:{password}@"),  # server has no password set
        f"redis://user:{password}@127.0.0.1:{free_port()}/0",  # nothing listening
    ]
    caplog.set_level(logging.DEBUG)
    for url in secret_urls:
        settings = settings_for(db_path, tmp_path, redis_url=url, api_token=TOKEN)
        with client_for(settings) as client:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            responses = [client.get(path) for path in READS]
            responses += [
                client.post("/api/cost/events", json=EVENT, headers=auth),
                client.post("/api/cost/events", json=EVENT),
                client.put("/api/cost/budget", json=BUDGET, headers=auth),
                client.put("/api/cost/budget", json={"monthly_limit_usd": -1}, headers=auth),
                client.get("/nowhere"),
            ]
            responses.append(client.get("/healthz"))
        for response in responses:
            text = response.text + "".join(f"{k}: {v}" for k, v in response.headers.items())
            assert password not in text
            assert TOKEN not in text
        if url == secret_urls[1]:
            assert responses[-1].json()["redis"]["ok"] is False
    logged = "\n".join(record.getMessage() for record in caplog.records)
    logged += caplog.text
    assert "redis" in logged.lower()  # the outage was logged ...
    assert password not in logged  # ... without the password
    assert TOKEN not in logged
