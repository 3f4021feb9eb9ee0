"""Operations endpoints: /healthz, /metrics, /openapi.json; the error shape; the routing table."""

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlite_utils
from starlette.routing import Route
from starlette.testclient import TestClient

import api
from api.app import create_app
from api.metrics import LATENCY_BUCKETS
from api.routes import api_routes
from costlog import constants
from costlog.cli.redis_server import free_port
from ingest import health
from ingest.queue import make_queue
from tests.support.api import client_for, seed, settings_for

EVENT = {"project_id": "web", "task_id": "T-1", "phase": "implement", "cost_usd": 1.0,
         "timestamp": "2026-11-20T10:00:00Z"}


@pytest.fixture
def seeded(db: sqlite_utils.Database) -> sqlite_utils.Database:
    seed(db)
    return db


@pytest.fixture
def client(seeded: sqlite_utils.Database, db_path: Path, tmp_path: Path, redis_url: str,
           queue_name: str) -> Iterator[TestClient]:
    settings = settings_for(db_path, tmp_path, redis_url=redis_url, queue_name=queue_name)
    with client_for(settings) as test_client:
        yield test_client


# -- healthz -------------------------------------------------------------------------------------


def test_healthz_ok(client: TestClient, redis_url: str, queue_name: str) -> None:
    assert client.post("/api/cost/events", json=EVENT).status_code == 202
    assert client.post("/api/cost/events", json=[EVENT, EVENT]).status_code == 202
    connection = redis.Redis.from_url(redis_url)
    failed = make_queue(queue_name, connection).failed_job_registry
    connection.zadd(failed.key, {"job-a": time.time() + 3600, "job-b": time.time() + 3600})
    connection.close()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": {"ok": True},
        "writes": {"ok": True, "errors": []},
        "redis": {"ok": True, "configured": True},
        "queue": {"name": queue_name, "depth": 2, "retrying": 0, "failed_jobs": 2},
        "spool": {"pending": False},
        "alerts": {"fired": 0, "pending": 0, "failed": 0, "unqueued": 0},
        "events": {"unpriced": 1},
    }


def test_healthz_reports_workers_write_errors(client: TestClient, redis_url: str,
                                              queue_name: str, fixed_clock: datetime) -> None:
    connection = redis.Redis.from_url(redis_url)
    queue = make_queue(queue_name, connection)
    connection.zadd(queue.scheduled_job_registry.key, {"job-r": time.time() + 5})
    recent = fixed_clock - timedelta(seconds=constants.WRITE_ERROR_STALE_SECONDS)
    stale = recent - timedelta(seconds=1)
    health.record(connection, queue_name, "w1", "OperationalError: disk I/O error", recent)
    health.record(connection, queue_name, "w0", "OperationalError: disk I/O error", stale)
    connection.hset(health.key(queue_name), "w2", "not json")  # ignored, never a 500
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["writes"] == {"ok": False, "errors": [
        {"worker": "w1", "error": "OperationalError: disk I/O error",
         "at": "2026-11-20T11:45:00+00:00"}]}
    assert body["queue"]["retrying"] == 1
    samples = parse_metrics(client.get("/metrics").text)
    assert samples["costlog_write_errors"] == 1
    assert samples["costlog_retrying_jobs"] == 1

    health.clear(connection, queue_name, "w1")
    connection.close()
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["writes"] == {"ok": True, "errors": []}


def test_healthz_redis_down_is_degraded(seeded: sqlite_utils.Database, db_path: Path,
                                        tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with client_for(settings_for(db_path, tmp_path, redis_url=url)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["redis"] == {"ok": False, "configured": True}
    assert body["queue"]["depth"] is None and body["queue"]["failed_jobs"] is None
    assert body["writes"] == {"ok": None, "errors": []}  # unknown while Redis is away
    assert url not in response.text


def test_healthz_database_unreachable_is_503(tmp_path: Path, redis_url: str) -> None:
    settings = settings_for(tmp_path / "missing.db", tmp_path, redis_url=redis_url)
    with client_for(settings) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == {"ok": False}
    assert body["redis"]["ok"] is True


# -- metrics -------------------------------------------------------------------------------------

SAMPLE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$')


def parse_metrics(text: str) -> dict[str, float]:
    """``name{labels}`` -> value; also checks every line is valid exposition format."""
    samples: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE_RE.match(line)
        assert match, line
        name = match[1]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, line
        labels = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or "")
        samples[sample(name, **dict(labels))] = float(match[3])
    return samples


def sample(name: str, **labels: str) -> str:
    """The key of a sample in :func:`parse_metrics`: its labels in name order."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def test_metrics(client: TestClient, seeded: sqlite_utils.Database) -> None:
    seed(seeded)  # the same 14 events again: all duplicates
    client.get("/api/cost/breakdown")
    client.get("/api/cost/breakdown?by=nope")
    client.get("/api/initiatives/x%2Fy/cost")
    client.get("/no/such/path")
    client.post("/api/cost/events", json=[EVENT, {"phase": 3}, {}, EVENT])
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_metrics(response.text)
    counts = seeded.execute(
        "SELECT COUNT(*), SUM(cost_source = 'unpriced') FROM cost_log").fetchone()
    assert samples["costlog_events_ingested_total"] == counts[0] == 14
    assert samples["costlog_duplicates_ignored_total"] == 14
    assert samples["costlog_events_unpriced_total"] == counts[1] == 1
    assert samples["costlog_events_rejected_total"] == 2
    assert samples["costlog_queue_depth"] == 1
    assert samples["costlog_failed_jobs"] == 0
    assert samples["costlog_retrying_jobs"] == 0
    assert samples["costlog_write_errors"] == 0
    assert samples["costlog_database_up"] == 1
    assert samples["costlog_redis_up"] == 1
    route = {"route": "/api/cost/breakdown", "method": "GET"}
    duration = "costlog_http_request_duration_seconds"
    assert samples[sample(f"{duration}_count", **route)] == 2
    assert samples[sample(f"{duration}_bucket", **route, le="+Inf")] == 2
    buckets = [samples[sample(f"{duration}_bucket", **route, le=repr(b))]
               for b in LATENCY_BUCKETS]
    assert buckets == sorted(buckets)
    assert samples[sample(f"{duration}_sum", **route)] > 0
    requests = "costlog_http_requests_total"
    assert samples[sample(requests, **route, status="200")] == 1
    assert samples[sample(requests, **route, status="400")] == 1
    # Path templates, not raw paths; unmatched paths share one label.
    assert samples[sample(requests, route="/api/initiatives/{id}/cost", method="GET",
                          status="404")] == 1
    assert samples[sample(requests, route="unmatched", method="GET", status="404")] == 1
    assert samples[sample(requests, route="/api/cost/events", method="POST", status="202")] == 1
    assert "x%2Fy" not in response.text and "/no/such/path" not in response.text


def test_metrics_without_database_or_redis(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with client_for(settings_for(tmp_path / "missing.db", tmp_path, redis_url=url)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    samples = parse_metrics(response.text)
    assert samples["costlog_database_up"] == 0
    assert samples["costlog_redis_up"] == 0
    assert samples["costlog_events_rejected_total"] == 0
    assert "costlog_events_ingested_total" not in samples
    assert "costlog_queue_depth" not in samples


def test_metrics_method_labels_are_bounded(client: TestClient) -> None:
    client.request("BREW", "/api/cost/breakdown")
    samples = parse_metrics(client.get("/metrics").text)
    assert samples[sample("costlog_http_requests_total", route="/api/cost/breakdown",
                          method="other", status="405")] == 1


# -- error shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "status", "message"), [
    ("GET", "/nope", 404, "not found"),
    ("GET", "/api/cost", 404, "not found"),
    ("DELETE", "/api/cost/budget", 405, "method not allowed"),
    ("POST", "/api/cost/breakdown", 405, "method not allowed"),
    ("PUT", "/api/cost/events", 405, "method not allowed"),
    ("GET", "/api/cost/events", 405, "method not allowed"),
])
def test_errors_are_json(client: TestClient, method: str, url: str, status: int,
                         message: str) -> None:
    response = client.request(method, url)
    assert (response.status_code, response.json()) == (status, {"error": message})
    assert response.headers["content-type"] == "application/json"


def test_unhandled_error_is_json_500(seeded: sqlite_utils.Database, db_path: Path,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from costlog.store import queries

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(queries, "breakdown", boom)
    with client_for(settings_for(db_path, tmp_path), raise_server_exceptions=False) as client:
        response = client.get("/api/cost/breakdown")
    assert (response.status_code, response.json()) == (500, {"error": "internal server error"})


def test_app_answers_without_lifespan(seeded: sqlite_utils.Database, db_path: Path,
                                      tmp_path: Path) -> None:
    client = TestClient(create_app(settings_for(db_path, tmp_path)), client=("127.0.0.1", 1))
    assert client.get("/api/cost/breakdown").status_code == 200


def test_bad_default_tz_fails_at_start(db_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="COSTLOG_TZ"):
        create_app(settings_for(db_path, tmp_path, tz="Mars/Olympus"))


def test_default_tz_from_settings(seeded: sqlite_utils.Database, db_path: Path,
                                  tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path, tz="Asia/Kolkata")) as client:
        body = client.get("/api/cost/timeseries", params={"start": "2026-11-10",
                                                          "end": "2026-11-10"}).json()
    assert body["series"] == [{"date": "2026-11-10", "start": "2026-11-10T00:00:00+05:30",
                               "cost": 0.0019, "tokens": 7100, "input_tokens": 2000,
                               "output_tokens": 1000, "cache_creation_tokens": 100,
                               "cache_read_tokens": 4000}]


# -- OpenAPI and the routing table ---------------------------------------------------------------


def route_operations(routes: list[Route]) -> dict[tuple[str, str], set[str]]:
    """(OpenAPI path, method) -> path parameter names, from Starlette's routing table."""
    operations = {}
    for route in routes:
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)
        for method in route.methods - {"HEAD"}:
            operations[(path, method.lower())] = set(route.param_convertors)
    return operations


def document_operations(document: dict) -> dict[tuple[str, str], set[str]]:
    operations = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"\{(\w+)\}", path)), (path, method)
            operations[(path, method)] = names
    return operations


def test_openapi_matches_the_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert route_operations(api_routes) == document_operations(document)
    # The app serves every API route (and, beside them, the dashboard's pages).
    app_routes = [r for r in create_app(settings_for(Path("x"), Path("y"))).routes
                  if isinstance(r, Route)]
    assert route_operations(api_routes).items() <= route_operations(app_routes).items()
    assert len(api.ENDPOINTS) == 19
    assert len(api_routes) == 18  # one route per path: GET and PUT /api/cost/budget share one


def test_openapi_operations_are_complete(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    text = str(document)
    for ref in re.findall(r"'\$ref': '#/components/schemas/(\w+)'", text):
        assert ref in document["components"]["schemas"]
    for endpoint in api.ENDPOINTS:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", endpoint.path)
        operation = document["paths"][path][endpoint.method.lower()]
        assert operation["operationId"] == endpoint.operation_id
        assert str(endpoint.success) in operation["responses"]
        # Every PUT and POST has a JSON body.
        assert ("requestBody" in operation) == (endpoint.method in ("PUT", "POST"))
        assert ("security" in operation) == endpoint.write == (endpoint.method != "GET")
        # A receipt names its event: no project or zone applies.
        if endpoint.path.startswith("/api/cost") and endpoint.method == "GET" \
                and "{" not in endpoint.path:
            names = {p["name"] for p in operation["parameters"]}
            assert {"project", "tz"} <= names
    ids = [e.operation_id for e in api.ENDPOINTS]
    assert len(ids) == len(set(ids))


def test_openapi_detects_a_difference() -> None:
    """The comparison above fails when the table and the document disagree."""
    document = api.app.openapi.build(api.ENDPOINTS)
    extra = [*api_routes, Route("/api/extra", lambda request: None, methods=["GET"])]
    assert route_operations(extra) != document_operations(document)
    del document["paths"]["/metrics"]
    assert route_operations(api_routes) != document_operations(document)


def test_openapi_states_the_write_rule_and_the_formats_as_enforced(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, method in (("/api/cost/events", "post"), ("/api/cost/budget", "put")):
        operation = document["paths"][path][method]
        # No token needed unless one is configured: both alternatives.
        assert operation["security"] == [{}, {"bearer": []}]
        assert "only loopback clients may write" in operation["description"]
        assert "415" in operation["responses"]
    parameters = {p["name"]: p["schema"] for p in
                  document["paths"]["/api/cost/timeseries"]["get"]["parameters"]}
    assert "localtime" not in parameters["tz"]["enum"]
    assert {"UTC", "Asia/Kolkata", "America/New_York"} <= set(parameters["tz"]["enum"])
    for name in ("start", "end"):
        pattern = re.compile(parameters[name]["pattern"])
        for good in ("2026-11-01", "2026-11-01T09:30:00+01:00", "2026-11-01T09:30:00Z"):
            assert pattern.search(good), (name, good)
        for bad in ("2026-11", "yesterday", "2026-11-01T09:30:00"):
            assert not pattern.search(bad), (name, bad)
