"""OTLP → cost events (costlog.domain.otel): Claude Code's log records, GenAI spans, metrics."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from costlog.domain import otel
from costlog.domain.event import parse_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
#: 2026-11-20T10:00:00.123456789Z in Unix nanoseconds.
AT_NANOS = 1_795_168_800_123_456_789
AT_MS = AT_NANOS // 1_000_000
CLAUDE_RESOURCE = {"service.name": "claude-code", "costlog.project": "web"}
TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    return AnyValue(string_value=value)


def pairs(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in values.items()]


def api_request(**attrs: Any) -> dict[str, Any]:
    """Claude Code's api_request attributes (strings, as it sends them), overridden by ``attrs``
    (``...`` removes one)."""
    base = {"event.name": "api_request", "event.timestamp": "2026-11-20T10:00:00.123Z",
            "event.sequence": "7", "session.id": "4f1c2d3e-aaaa-bbbb-cccc-0123456789ab",
            "prompt.id": "p-1", "model": "claude-sonnet-4-5-20250929", "cost_usd": "0.0123",
            "duration_ms": "2500", "input_tokens": "12", "output_tokens": "340",
            "cache_read_tokens": "5000", "cache_creation_tokens": "800"}
    merged = {**base, **attrs}
    return {key: value for key, value in merged.items() if value is not ...}


def log_request(*records: LogRecord | dict[str, Any],
                resource: dict[str, Any] | None = None) -> ExportLogsServiceRequest:
    built = [record if isinstance(record, LogRecord) else
             LogRecord(time_unix_nano=AT_NANOS, attributes=pairs(record),
                       body=AnyValue(string_value="claude_code.api_request"))
             for record in records]
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=pairs(CLAUDE_RESOURCE if resource is None else resource)),
        scope_logs=[ScopeLogs(log_records=built)])])


def one_log(*records: LogRecord | dict[str, Any], resource: dict[str, Any] | None = None):
    mapped = otel.from_logs(log_request(*records, resource=resource), now=NOW)
    assert (len(mapped.events), mapped.refused) == (1, []), mapped
    return mapped.events[0]


def test_claude_code_api_request_is_one_event() -> None:
    event = one_log(api_request())
    expected = parse_event({
        "event_id": "otel:4f1c2d3e-aaaa-bbbb-cccc-0123456789ab:7:1795168800123",
        "project_id": "web", "task_id": "4f1c2d3e-aaaa-bbbb-cccc-0123456789ab",
        "phase": "session", "model": "claude-sonnet-4-5-20250929", "provider": "claude",
        "input_tokens": 12, "output_tokens": 340, "cache_read_tokens": 5000,
        "cache_creation_tokens": 800, "cost_usd": 0.0123, "duration_ms": 2500,
        "timestamp": "2026-11-20T10:00:00.123Z"}, now=NOW)
    assert event == expected
    assert event.total_tokens == 6152


@pytest.mark.parametrize(("attrs", "field", "expected"), [
    # values as int and double AnyValues, not only strings
    ({"input_tokens": 12, "output_tokens": 340.0}, "output_tokens", 340),
    ({"cost_usd": 0.5}, "cost_usd", 0.5),
    ({"cost_usd": 2}, "cost_usd", 2.0),
    ({"cost_usd": "1e-3"}, "cost_usd", 0.001),
    ({"cost_usd": ...}, "cost_usd", None),  # priced by costlog
    ({"input_tokens": ...}, "input_tokens", 0),
    ({"duration_ms": ...}, "duration_ms", 0),
    # project: the record's costlog.project wins over the resource's
    ({"costlog.project": "api"}, "project_id", "api"),
    # task: session, else prompt, else service
    ({"session.id": ...}, "task_id", "p-1"),
    ({"session.id": ..., "prompt.id": ...}, "task_id", "claude-code"),
    ({"costlog.phase": "review"}, "phase", "review"),
    ({"costlog.initiative": "INIT-9"}, "initiative_id", "INIT-9"),
    ({"model": ...}, "model", ""),
    # timestamp: event.timestamp, else the record's time
    ({"event.timestamp": "2026-11-20T11:00:00+01:00"}, "timestamp",
     datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ({"event.timestamp": ...}, "timestamp", datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)),
])
def test_log_attribute_mapping(attrs: dict[str, Any], field: str, expected: Any) -> None:
    assert getattr(one_log(api_request(**attrs)), field) == expected


@pytest.mark.parametrize(("resource", "attrs", "provider", "project"), [
    (CLAUDE_RESOURCE, {"gen_ai.provider.name": "openai"}, "claude", "web"),
    ({"service.name": "my-agent"}, {"gen_ai.provider.name": "anthropic"}, "claude", "my-agent"),
    ({"service.name": "my-agent"}, {"gen_ai.provider.name": "openai"}, "openai", "my-agent"),
    ({"service.name": "my-agent", "gen_ai.provider.name": "Anthropic"}, {}, "claude",
     "my-agent"),
    ({"service.name": "my-agent", "costlog.project": "proj"}, {}, "unknown", "proj"),
])
def test_log_provider_and_project(resource: dict[str, Any], attrs: dict[str, Any],
                                  provider: str, project: str) -> None:
    event = one_log(api_request(**attrs), resource=resource)
    assert (event.provider, event.project_id) == (provider, project)


def test_the_timestamp_falls_back_to_the_observed_time() -> None:
    record = LogRecord(observed_time_unix_nano=AT_NANOS,
                       attributes=pairs(api_request(**{"event.timestamp": ...})))
    event = one_log(record)
    assert event.timestamp == datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
    assert event.event_id == f"otel:4f1c2d3e-aaaa-bbbb-cccc-0123456789ab:7:{AT_MS}"


def test_a_resumed_session_restarting_its_sequence_keeps_both_requests() -> None:
    first = api_request(**{"event.timestamp": "2026-11-20T10:00:00.000Z"})
    resumed = api_request(**{"event.timestamp": "2026-11-20T11:30:00.000Z"})
    mapped = otel.from_logs(log_request(first, resumed), now=NOW)
    ids = [event.event_id for event in mapped.events]
    assert ids == ["otel:4f1c2d3e-aaaa-bbbb-cccc-0123456789ab:7:1795168800000",
                   "otel:4f1c2d3e-aaaa-bbbb-cccc-0123456789ab:7:1795174200000"]


def test_without_session_and_sequence_the_id_hashes_the_record_and_its_resource() -> None:
    attrs = api_request(**{"session.id": ..., "event.sequence": ...})
    request = log_request(attrs)
    event = one_log(attrs)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    resource = request.resource_logs[0].resource
    canonical = json.dumps([MessageToDict(resource, preserving_proto_field_name=True),
                            MessageToDict(record, preserving_proto_field_name=True)],
                           sort_keys=True, separators=(",", ":"))
    assert event.event_id == "otel:" + hashlib.sha256(canonical.encode()).hexdigest()
    # The same record again (an exporter's retry) has the same id; another record another.
    assert one_log(attrs).event_id == event.event_id
    assert one_log({**attrs, "output_tokens": "341"}).event_id != event.event_id
    assert one_log(attrs, resource={**CLAUDE_RESOURCE, "costlog.project": "x"}).event_id \
        != event.event_id


def test_an_empty_session_id_is_no_session() -> None:
    event = one_log(api_request(**{"session.id": ""}))
    assert (len(event.event_id), event.task_id) == (5 + 64, "p-1")


def test_a_session_id_no_event_id_can_hold_falls_back_to_the_hash() -> None:
    event = one_log(api_request(**{"session.id": "a session/with spaces"}))
    assert event.event_id.startswith("otel:") and len(event.event_id) == 5 + 64
    assert event.task_id == "a session/with spaces"


@pytest.mark.parametrize("record", [
    LogRecord(attributes=pairs({"event.name": "api_request"})),
    LogRecord(attributes=pairs({"event.name": "claude_code.api_request"})),
    LogRecord(event_name="claude_code.api_request"),
    LogRecord(body=AnyValue(string_value="claude_code.api_request")),
])
def test_what_makes_a_record_an_api_request(record: LogRecord) -> None:
    record.time_unix_nano = AT_NANOS
    record.attributes.extend(pairs({"session.id": "s", "event.sequence": 1}))
    assert one_log(record).event_id == f"otel:s:1:{AT_MS}"


def test_other_records_are_ignored_not_refused() -> None:
    records = [
        LogRecord(attributes=pairs({"event.name": "user_prompt", "prompt_length": "12"}),
                  body=AnyValue(string_value="claude_code.user_prompt")),
        LogRecord(attributes=pairs({"event.name": "tool_result"})),
        LogRecord(body=AnyValue(string_value="hello")),
        api_request(),
    ]
    mapped = otel.from_logs(log_request(*records), now=NOW)
    assert (len(mapped.events), mapped.refused, mapped.ignored) == (1, [], 3)


@pytest.mark.parametrize(("attrs", "reason"), [
    ({"input_tokens": "12.5"}, "input_tokens: must be an integer >= 0, got '12.5'"),
    ({"input_tokens": 12.5}, "input_tokens: must be an integer >= 0, got 12.5"),
    ({"input_tokens": "abc"}, "input_tokens: must be an integer >= 0, got 'abc'"),
    ({"output_tokens": -3}, "output_tokens: must be an integer >= 0, got -3"),
    ({"output_tokens": True}, "output_tokens: must be an integer >= 0, got boolean"),
    ({"cache_read_tokens": [1]}, "cache_read_tokens: must be an integer >= 0, got array"),
    ({"input_tokens": 10**12 + 1},
     "input_tokens: must be at most 1000000000000, got 1000000000001"),
    ({"cost_usd": "NaN"}, "cost_usd: must be a number, got 'NaN'"),
    ({"cost_usd": -0.5}, "cost_usd: must be a number >= 0, got -0.5"),
    ({"model": 1.5}, "model: must be a string, got double"),
    ({"event.timestamp": "yesterday"},
     "timestamp: must be RFC 3339 with an offset, e.g. 2026-11-01T12:00:00Z"),
    ({"event.timestamp": "2026-11-22T12:00:01Z"},
     "timestamp: is more than 24 hours in the future"),
    ({"costlog.project": "*"}, "project_id: '*' is reserved"),
    ({"event.sequence": "x"}, "event.sequence: must be an integer >= 0, got 'x'"),
])
def test_invalid_records_are_refused_with_the_field(attrs: dict[str, Any], reason: str) -> None:
    mapped = otel.from_logs(log_request(api_request(), api_request(**attrs), api_request()),
                            now=NOW)
    assert len(mapped.events) == 2
    assert mapped.refused == ["resourceLogs[0].scopeLogs[0].logRecords[1]: " + reason]


def test_records_with_no_project_anywhere_are_refused() -> None:
    mapped = otel.from_logs(log_request(api_request(), resource={}), now=NOW)
    assert mapped.events == []
    assert mapped.refused == ["resourceLogs[0].scopeLogs[0].logRecords[0]: project_id: is required"]


# -- traces --------------------------------------------------------------------------------------


def genai_span(trace_id: bytes = TRACE_ID, span_id: bytes = SPAN_ID, **attrs: Any) -> Span:
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 900,
            "gen_ai.usage.cache_creation.input_tokens": 200,
            "gen_ai.conversation.id": "conv-1"}
    merged = {key: value for key, value in {**base, **attrs}.items() if value is not ...}
    return Span(trace_id=trace_id, span_id=span_id, name="chat claude-sonnet-4-5",
                start_time_unix_nano=AT_NANOS - 1_500_000_000, end_time_unix_nano=AT_NANOS,
                attributes=pairs(merged))


def trace_request(*spans: Span, resource: dict[str, Any] | None = None):
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=pairs(resource or {"service.name": "support-bot"})),
        scope_spans=[ScopeSpans(spans=list(spans))])])


def one_span(span: Span, resource: dict[str, Any] | None = None):
    mapped = otel.from_traces(trace_request(span, resource=resource), now=NOW)
    assert (len(mapped.events), mapped.refused) == (1, []), mapped
    return mapped.events[0]


def test_genai_span_is_one_event_with_cache_taken_out_of_input() -> None:
    event = one_span(genai_span())
    assert event == parse_event({
        "event_id": "otel:0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331",
        "project_id": "support-bot", "task_id": "conv-1", "phase": "chat",
        "model": "claude-sonnet-4-5-20250929", "provider": "claude",
        "input_tokens": 100, "output_tokens": 300, "cache_read_tokens": 900,
        "cache_creation_tokens": 200, "duration_ms": 1500,
        "timestamp": "2026-11-20T10:00:00.123456Z"}, now=NOW)
    assert event.cost_usd is None  # priced by costlog


@pytest.mark.parametrize(("attrs", "resource", "field", "expected"), [
    ({"gen_ai.response.model": ...}, None, "model", "claude-sonnet-4-5"),
    ({"gen_ai.provider.name": ..., "gen_ai.system": "anthropic"}, None, "provider", "claude"),
    ({"gen_ai.provider.name": ..., "gen_ai.system": "openai"}, None, "provider", "openai"),
    ({"gen_ai.provider.name": "aws.bedrock", "gen_ai.system": "anthropic"}, None, "provider",
     "aws.bedrock"),
    ({"gen_ai.provider.name": ...}, None, "provider", "unknown"),
    ({"gen_ai.conversation.id": ...}, None, "task_id", "0af7651916cd43dd8448eb211c80319c"),
    ({"gen_ai.operation.name": "embeddings"}, None, "phase", "embeddings"),
    ({"gen_ai.operation.name": ...}, None, "phase", "chat"),
    ({"costlog.phase": "review"}, {"service.name": "s", "costlog.phase": "spec"}, "phase",
     "review"),
    ({}, {"service.name": "s", "costlog.phase": "spec"}, "phase", "spec"),
    ({}, {"service.name": "s", "costlog.project": "p"}, "project_id", "p"),
    ({"costlog.project": "q"}, {"service.name": "s", "costlog.project": "p"}, "project_id",
     "q"),
    # cache counted inside input: never below 0 when a provider counts otherwise
    ({"gen_ai.usage.input_tokens": 500}, None, "input_tokens", 0),
    ({"gen_ai.usage.input_tokens": ...}, None, "input_tokens", 0),
    ({"gen_ai.usage.cache_read.input_tokens": ...,
      "gen_ai.usage.cache_creation.input_tokens": ...}, None, "input_tokens", 1200),
    ({"gen_ai.usage.output_tokens": ...}, None, "output_tokens", 0),
    ({"gen_ai.usage.input_tokens": "1200"}, None, "input_tokens", 100),
])
def test_span_attribute_mapping(attrs: dict[str, Any], resource: dict[str, Any] | None,
                                field: str, expected: Any) -> None:
    assert getattr(one_span(genai_span(**attrs), resource), field) == expected


def test_spans_without_genai_usage_are_ignored() -> None:
    plain = Span(trace_id=TRACE_ID, span_id=bytes(8), name="GET /",
                 attributes=pairs({"gen_ai.request.model": "claude-sonnet-4-5"}))
    mapped = otel.from_traces(trace_request(plain, genai_span()), now=NOW)
    assert (len(mapped.events), mapped.refused, mapped.ignored) == (1, [], 1)


@pytest.mark.parametrize(("span", "reason"), [
    (genai_span(trace_id=b""), "traceId: is required"),
    (genai_span(span_id=b""), "spanId: is required"),
    (genai_span(**{"gen_ai.usage.output_tokens": -1}),
     "gen_ai.usage.output_tokens: must be an integer >= 0, got -1"),
    (genai_span(**{"gen_ai.usage.cache_read.input_tokens": "many"}),
     "gen_ai.usage.cache_read.input_tokens: must be an integer >= 0, got 'many'"),
])
def test_invalid_spans_are_refused_with_the_field(span: Span, reason: str) -> None:
    mapped = otel.from_traces(trace_request(genai_span(span_id=bytes(range(8))), span),
                              now=NOW)
    assert len(mapped.events) == 1
    assert mapped.refused == ["resourceSpans[0].scopeSpans[0].spans[1]: " + reason]


def test_a_span_with_no_end_gets_the_arrival_time() -> None:
    span = genai_span()
    span.ClearField("end_time_unix_nano")
    event = one_span(span)
    assert (event.timestamp, event.duration_ms) == (NOW, 0)


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_are_ignored_point_by_point() -> None:
    points = [NumberDataPoint(as_double=0.5), NumberDataPoint(as_double=1.25)]
    request = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[
        ScopeMetrics(metrics=[Metric(name="claude_code.cost.usage", sum=Sum(data_points=points)),
                              Metric(name="g", gauge=Gauge(data_points=points[:1])),
                              Metric(name="empty")])])])
    mapped = otel.from_metrics(request)
    assert (mapped.events, mapped.refused, mapped.ignored) == ([], [], 3)


# -- what the edge accepts, the worker accepts --------------------------------------------------

ANY_VALUE = st.one_of(
    st.just(...), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["2026-11-20T10:00:00Z", "2026-11-22T12:00:01Z", "2026-11-20t10:00:00.5z",
                     "*", "", "claude-code", "anthropic"]),
)


@given(st.dictionaries(st.sampled_from([
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "cost_usd",
    "duration_ms", "event.timestamp", "event.sequence", "session.id", "prompt.id", "model",
    "costlog.project", "costlog.phase", "costlog.initiative", "gen_ai.provider.name"]),
    ANY_VALUE, max_size=6))
def test_a_record_accepted_here_is_accepted_by_the_worker(attrs: dict[str, Any]) -> None:
    mapped = otel.from_logs(log_request(api_request(**attrs)), now=NOW)
    assert len(mapped.events) + len(mapped.refused) == 1
    for event in mapped.events:
        assert parse_event(event.to_json(), now=NOW) == event


@given(st.dictionaries(st.sampled_from([
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.response.model", "gen_ai.request.model", "gen_ai.provider.name", "gen_ai.system",
    "gen_ai.conversation.id", "gen_ai.operation.name", "costlog.project", "costlog.phase"]),
    ANY_VALUE, max_size=6))
def test_a_span_accepted_here_is_accepted_by_the_worker(attrs: dict[str, Any]) -> None:
    mapped = otel.from_traces(trace_request(genai_span(**attrs)), now=NOW)
    assert len(mapped.events) + len(mapped.refused) + mapped.ignored == 1
    for event in mapped.events:
        assert parse_event(event.to_json(), now=NOW) == event
