"""POST /v1/logs, /v1/traces, /v1/metrics with hand-made and SDK-encoded bodies: encodings,
compression, the error answers, partial success, the write rules, and the queue behind them.

(The real SDK exporters over real HTTP are in test_otlp_exporters.py.)
"""

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.testclient import TestClient

from costlog.cli.redis_server import free_port
from costlog.domain.event import parse_event
from costlog.store.write import record_events
from ingest.spool import Spool
from tests.conftest import NOW
from tests.support.api import PRICES, client_for, settings_for
from tests.support.otel import (
    SESSION,
    api_request,
    json_body,
    otlp_json,
    sdk_log_request,
    sdk_metrics_request,
    sdk_trace_request,
)

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON_TYPE = {"Content-Type": "application/json"}
MIB = 1024 * 1024
#: The tests' BASE_NANOS (2026-11-20T10:00:00Z) in Unix milliseconds.
BASE_MS = 1_795_168_800_000


@pytest.fixture
def client(queued_client: TestClient) -> TestClient:
    """The API over an empty database, publishing to ``queue`` (tests/integration/conftest.py)."""
    return queued_client


def queued(queue: Any) -> list[dict[str, Any]]:
    return [event for job in queue.get_jobs() for event in job.args[0]]


def log_body(count: int = 3, **attrs: Any) -> bytes:
    return sdk_log_request([api_request(i, **attrs) for i in range(count)]).SerializeToString()


def test_protobuf_logs_are_queued_as_events(client: TestClient, queue: Any) -> None:
    response = client.post("/v1/logs", content=log_body(3), headers=PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert ExportLogsServiceResponse.FromString(response.content) == ExportLogsServiceResponse()
    events = queued(queue)
    assert [event["event_id"] for event in events] == [
        f"otel:{SESSION}:{i}:{BASE_MS + i * 1001}" for i in range(3)]
    assert events[1] == parse_event({
        "event_id": f"otel:{SESSION}:1:{BASE_MS + 1001}", "project_id": "web",
        "task_id": SESSION, "phase": "session", "model": "claude-sonnet-4-5-20250929",
        "provider": "claude", "cost_usd": 0.002, "duration_ms": 801, "input_tokens": 11,
        "output_tokens": 201, "cache_read_tokens": 3001, "cache_creation_tokens": 400,
        "timestamp": "2026-11-20T10:00:01.001Z"}, now=NOW).to_json()


def test_json_logs_answer_json(client: TestClient, queue: Any) -> None:
    request = sdk_log_request([api_request(i) for i in range(2)])
    response = client.post("/v1/logs", content=json_body(request), headers=JSON_TYPE)
    assert (response.status_code, response.json()) == (200, {})
    assert response.headers["content-type"] == "application/json"
    protobuf_ids = [event["event_id"] for event in queued(queue)]
    # The same records sent as protobuf are the same events: nothing new.
    client.post("/v1/logs", content=request.SerializeToString(), headers=PROTOBUF)
    assert [event["event_id"] for event in queued(queue)] == protobuf_ids * 2


def test_json_64_bit_integers_as_numbers_or_strings(client: TestClient, queue: Any) -> None:
    payload = otlp_json(sdk_log_request([api_request(0)]))
    record = payload["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["attributes"] = [{"key": "event.name", "value": {"stringValue": "api_request"}},
                            {"key": "input_tokens", "value": {"intValue": 12}},
                            {"key": "output_tokens", "value": {"intValue": "34"}},
                            {"key": "cost_usd", "value": {"doubleValue": 0.5}}]
    record["timeUnixNano"] = 1_795_168_800_000_000_000  # a number, not a string
    response = client.post("/v1/logs", content=json.dumps(payload), headers=JSON_TYPE)
    assert response.status_code == 200
    (event,) = queued(queue)
    assert (event["input_tokens"], event["output_tokens"], event["cost_usd"],
            event["timestamp"]) == (12, 34, 0.5, "2026-11-20T10:00:00Z")


def test_json_traces_take_hex_ids(client: TestClient, queue: Any) -> None:
    request = sdk_trace_request(2, plain=1)
    payload = otlp_json(request)
    spans = payload["resourceSpans"][0]["scopeSpans"][0]["spans"]
    genai = [span for span in spans if span["name"].startswith("chat")]
    response = client.post("/v1/traces", content=json.dumps(payload), headers=JSON_TYPE)
    assert (response.status_code, response.json()) == (200, {})
    events = queued(queue)
    assert [event["event_id"] for event in events] == [
        f"otel:{span['traceId']}:{span['spanId']}" for span in genai]
    assert [(e["task_id"], e["input_tokens"], e["cache_read_tokens"], e["duration_ms"])
            for e in events] == [("conv-0", 300, 600, 1500), ("conv-1", 301, 600, 1500)]
    # protobuf gives the same ids
    client.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert [event["event_id"] for event in queued(queue)][2:] == [e["event_id"] for e in events]


def test_metrics_are_accepted_and_not_recorded(client: TestClient, queue: Any) -> None:
    request = sdk_metrics_request()
    response = client.post("/v1/metrics", content=request.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200
    assert ExportMetricsServiceResponse.FromString(response.content) == \
        ExportMetricsServiceResponse()
    response = client.post("/v1/metrics", content=json_body(request), headers=JSON_TYPE)
    assert (response.status_code, response.json()) == (200, {})
    assert queue.count == 0


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies(client: TestClient, queue: Any, encoding: str) -> None:
    body = log_body(2)
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    response = client.post("/v1/logs", content=packed,
                           headers={**PROTOBUF, "Content-Encoding": encoding})
    assert response.status_code == 200
    assert len(queued(queue)) == 2


def test_partial_success_names_the_first_refusal(client: TestClient, queue: Any) -> None:
    records = [api_request(0), api_request(1, input_tokens="lots"), api_request(2),
               api_request(3, output_tokens="-4"), {"event.name": "user_prompt"}]
    request = sdk_log_request(records)
    response = client.post("/v1/logs", content=request.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 2
    assert answer.partial_success.error_message == (
        "resourceLogs[0].scopeLogs[0].logRecords[1]: input_tokens: must be an integer >= 0,"
        " got 'lots' (and 1 more)")
    assert [event["event_id"].split(":")[2] for event in queued(queue)] == ["0", "2"]

    response = client.post("/v1/logs", content=json_body(request), headers=JSON_TYPE)
    assert response.json() == {"partialSuccess": {
        "rejectedLogRecords": "2", "errorMessage": answer.partial_success.error_message}}


def test_partial_success_of_spans(client: TestClient, queue: Any) -> None:
    payload = otlp_json(sdk_trace_request(2))
    span = payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"].append({"key": "gen_ai.usage.output_tokens",
                               "value": {"doubleValue": 1.5}})
    response = client.post("/v1/traces", content=json.dumps(payload), headers=JSON_TYPE)
    assert response.json() == {"partialSuccess": {
        "rejectedSpans": "1", "errorMessage": "resourceSpans[0].scopeSpans[0].spans[0]:"
        " gen_ai.usage.output_tokens: must be an integer >= 0, got 1.5"}}
    assert len(queued(queue)) == 1
    answer = client.post("/v1/traces", content=json_body(sdk_trace_request(0)),
                         headers=JSON_TYPE)
    assert answer.json() == {}
    assert ExportTraceServiceResponse().SerializeToString() == b""


@pytest.mark.parametrize(("path", "body", "headers", "error"), [
    ("/v1/logs", b"\xff\xff\xff", PROTOBUF,
     "invalid request body: not a protobuf ExportLogsServiceRequest"),
    ("/v1/traces", b"\x0a\x05\x0a\x03", PROTOBUF,
     "invalid request body: not a protobuf ExportTraceServiceRequest"),
    ("/v1/logs", b"{not json", JSON_TYPE,
     "invalid request body: Expecting property name enclosed in double quotes (line 1,"
     " column 2)"),
    ("/v1/logs", b"[]", JSON_TYPE,
     "invalid request body: expected an OTLP JSON ExportLogsServiceRequest object"),
    ("/v1/traces", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "zz", "spanId": "00"}]}]}]}).encode(), JSON_TYPE,
     "invalid request body: traceId must be hex, got 'zz'"),
    ("/v1/metrics", b"plain text, not gzip", {**PROTOBUF, "Content-Encoding": "gzip"},
     "invalid request body: not valid compressed data"),
    ("/v1/logs", gzip.compress(b"x" * 1000)[:-12], {**PROTOBUF, "Content-Encoding": "gzip"},
     "invalid request body: compressed data cut short"),
])
def test_undecodable_bodies_are_400(client: TestClient, queue: Any, path: str, body: bytes,
                                    headers: dict[str, str], error: str) -> None:
    response = client.post(path, content=body, headers=headers)
    assert (response.status_code, response.json()) == (400, {"error": error})
    assert queue.count == 0


def test_json_that_is_not_otlp_is_400(client: TestClient) -> None:
    response = client.post("/v1/logs", json={"resourceLogs": [{"scopeLogs": "nope"}]})
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid request body: Failed to parse")


@pytest.mark.parametrize(("headers", "status", "error"), [
    ({"Content-Type": "text/plain"}, 415,
     "unsupported content type: use application/x-protobuf or application/json"),
    ({}, 415, "unsupported content type: use application/x-protobuf or application/json"),
    ({**PROTOBUF, "Content-Encoding": "br"}, 415,
     "unsupported content encoding: use gzip, deflate or none"),
])
def test_other_content_types_are_415(client: TestClient, headers: dict[str, str], status: int,
                                     error: str) -> None:
    response = client.post("/v1/logs", content=log_body(1), headers=headers)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_protobuf_is_admitted_on_the_otlp_paths_only(client: TestClient) -> None:
    response = client.post("/api/cost/events", content=log_body(1), headers=PROTOBUF)
    assert (response.status_code, response.json()) == (
        415, {"error": "unsupported content type: use application/json"})


def test_a_body_over_8_mib_is_413(client: TestClient, queue: Any) -> None:
    response = client.post("/v1/logs", content=b"\x00" * (8 * MIB + 1), headers=PROTOBUF)
    assert (response.status_code, response.json()) == (413, {"error": "request body too large"})


def test_a_gzip_bomb_is_413(client: TestClient, queue: Any) -> None:
    bomb = gzip.compress(b"\x00" * (64 * MIB), compresslevel=9)
    assert len(bomb) < 100 * 1024  # small on the wire, 64 MiB once inflated
    response = client.post("/v1/logs", content=bomb,
                           headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert (response.status_code, response.json()) == (413, {"error": "request body too large"})
    # Two members that are each under the limit but not together: the sum counts.
    halves = gzip.compress(b"\x00" * (5 * MIB)) * 2
    response = client.post("/v1/logs", content=halves,
                           headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert queue.count == 0


def test_a_body_just_under_the_limit_once_inflated_is_taken(client: TestClient,
                                                            queue: Any) -> None:
    request = sdk_log_request([api_request(0)])
    padding = ExportLogsServiceRequest()
    padding.resource_logs.add().scope_logs.add().log_records.add().body.string_value = \
        "x" * (8 * MIB - request.ByteSize() - 64)
    request.MergeFrom(padding)
    body = request.SerializeToString()
    assert 8 * MIB - 64 < len(body) <= 8 * MIB
    response = client.post("/v1/logs", content=gzip.compress(body),
                           headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert len(queued(queue)) == 1


def test_the_token_is_required_when_set(db: sqlite_utils.Database, db_path: Path,
                                        tmp_path: Path, redis_url: str, queue_name: str,
                                        queue: Any) -> None:
    settings = settings_for(db_path, tmp_path, redis_url=redis_url, queue_name=queue_name,
                            api_token="s3cret")
    # With the token, any client may write; without it, none.
    with client_for(settings, client=("203.0.113.9", 4000)) as client:
        response = client.post("/v1/logs", content=log_body(1), headers=PROTOBUF)
        assert (response.status_code, response.json()) == (
            401, {"error": "missing or invalid token"})
        response = client.post("/v1/traces", content=b"", headers={
            **PROTOBUF, "Authorization": "Bearer wrong"})
        assert response.status_code == 401
        response = client.post("/v1/logs", content=log_body(1), headers={
            **PROTOBUF, "Authorization": "Bearer s3cret"})
        assert response.status_code == 200
    assert len(queued(queue)) == 1


def test_without_a_token_only_loopback_writes(db: sqlite_utils.Database, db_path: Path,
                                              tmp_path: Path, redis_url: str,
                                              queue_name: str) -> None:
    settings = settings_for(db_path, tmp_path, redis_url=redis_url, queue_name=queue_name)
    with client_for(settings, client=("203.0.113.9", 4000)) as client:
        response = client.post("/v1/logs", content=log_body(1), headers=PROTOBUF)
    assert (response.status_code, response.json()) == (
        403, {"error": "writes are allowed from loopback only"})


def test_origin_and_host_checks_hold(client: TestClient) -> None:
    response = client.post("/v1/logs", content=log_body(1),
                           headers={**PROTOBUF, "Origin": "https://evil.example"})
    assert (response.status_code, response.json()) == (
        403, {"error": "cross-origin write refused"})
    response = client.post("/v1/logs", content=log_body(1),
                           headers={**PROTOBUF, "Host": "rebind.example"})
    assert (response.status_code, response.json()) == (400, {"error": "invalid host header"})


def test_redis_down_spools_and_answers_200(db: sqlite_utils.Database, db_path: Path,
                                           tmp_path: Path) -> None:
    settings = settings_for(db_path, tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with client_for(settings) as client:
        response = client.post("/v1/logs", content=log_body(3), headers=PROTOBUF)
        assert response.status_code == 200
    assert Spool(settings.spool_dir).status().events == 3


def test_no_queue_is_503_so_the_exporter_retries(db: sqlite_utils.Database, db_path: Path,
                                                 tmp_path: Path) -> None:
    with client_for(settings_for(db_path, tmp_path)) as client:
        response = client.post("/v1/logs", content=log_body(1), headers=PROTOBUF)
        assert (response.status_code, response.json()) == (
            503, {"error": "event queue not available"})
        # Nothing to enqueue (metrics): answered.
        response = client.post("/v1/metrics", content=sdk_metrics_request().SerializeToString(),
                               headers=PROTOBUF)
        assert response.status_code == 200


def test_the_same_request_twice_counts_once(client: TestClient, queue: Any,
                                            db: sqlite_utils.Database) -> None:
    body = log_body(5)
    for _ in range(2):
        assert client.post("/v1/logs", content=body, headers=PROTOBUF).status_code == 200
    events = [parse_event(wire, now=NOW) for wire in queued(queue)]
    assert len(events) == 10
    record_events(db, events, PRICES)
    rows = db.execute("SELECT COUNT(*), SUM(cost_usd) FROM cost_log").fetchone()
    assert rows[0] == 5
    assert rows[1] == pytest.approx(0.001 + 0.002 + 0.003 + 0.004 + 0.005)


def test_metrics_count_requests_and_records(client: TestClient, queue: Any) -> None:
    records = [api_request(0), api_request(1, input_tokens="x"), {"event.name": "tool_result"}]
    client.post("/v1/logs", content=sdk_log_request(records).SerializeToString(),
                headers=PROTOBUF)
    client.post("/v1/traces", content=json_body(sdk_trace_request(2, plain=3)),
                headers=JSON_TYPE)
    client.post("/v1/metrics", content=sdk_metrics_request().SerializeToString(),
                headers=PROTOBUF)
    client.post("/v1/logs", content=b"\xff", headers=PROTOBUF)  # 400: not counted as taken
    text = client.get("/metrics").text
    for line in (
        'costlog_otlp_requests_total{encoding="protobuf",signal="logs"} 1.0',
        'costlog_otlp_requests_total{encoding="json",signal="traces"} 1.0',
        'costlog_otlp_requests_total{encoding="protobuf",signal="metrics"} 1.0',
        'costlog_otlp_records_total{outcome="accepted",signal="logs"} 1.0',
        'costlog_otlp_records_total{outcome="refused",signal="logs"} 1.0',
        'costlog_otlp_records_total{outcome="ignored",signal="logs"} 1.0',
        'costlog_otlp_records_total{outcome="accepted",signal="traces"} 2.0',
        'costlog_otlp_records_total{outcome="ignored",signal="traces"} 5.0',
        'costlog_otlp_records_total{outcome="ignored",signal="metrics"} 4.0',
        'costlog_otlp_records_total{outcome="accepted",signal="metrics"} 0.0',
    ):
        assert line in text, line
