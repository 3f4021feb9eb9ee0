"""OpenTelemetry → cost events: pure mapping of decoded OTLP export requests, no I/O.

* Logs: a record is a cost event when it is an ``api_request`` (Claude Code's
  ``claude_code.api_request``: attribute ``event.name``, the record's ``event_name``, or the body).
* Traces: a span is a cost event when it carries ``gen_ai.usage.input_tokens`` or
  ``gen_ai.usage.output_tokens`` (OpenTelemetry's GenAI conventions).
* Metrics are never events (a cost counter aggregates the requests the events already carry).

Every event then goes through :func:`costlog.domain.event.parse_event`, the validation of every
other way in. Event ids are derived from the record itself, so an exporter's retry of a request
repeats them exactly and the store counts nothing twice.
"""

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from costlog.constants import DEFAULT_PROVIDER
from costlog.domain.event import EVENT_ID_RE, CostEvent, InvalidEvent, format_timestamp, parse_event

#: ``event.name`` (or the record's ``event_name``) of a cost record; its body, Claude Code's.
API_REQUEST_NAMES = frozenset({"api_request", "claude_code.api_request"})
API_REQUEST_BODY = "claude_code.api_request"
#: ``service.name`` of Claude Code: its records are Claude's whatever else they say.
CLAUDE_CODE_SERVICE = "claude-code"
#: OpenTelemetry's provider names that are costlog's by another name.
PROVIDER_ALIASES = {"anthropic": DEFAULT_PROVIDER}
UNKNOWN_PROVIDER = "unknown"
DEFAULT_LOG_PHASE = "session"
DEFAULT_SPAN_PHASE = "chat"
ID_PREFIX = "otel:"

INTEGER_TEXT_RE = re.compile(r"[+-]?[0-9]+")
NUMBER_TEXT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)

USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
#: The Claude Code attributes that carry an event's counts, named as costlog names them.
LOG_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
              "duration_ms")

Attributes = Mapping[str, Any]
#: The AnyValue kinds an event field can take.
SCALAR_KINDS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


@dataclass
class Mapped:
    """What one export request holds: events, refusals (``where: reason``), items ignored."""

    events: list[CostEvent] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ignored: int = 0

    def refuse(self, where: str, error: InvalidEvent) -> None:
        self.refused.append(f"{where}: {error}")


class _Unsupported:
    """An AnyValue no event field can take (array, key-value list, bytes)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as Python values: str, int, float, bool (or an unsupported marker)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        if kind in SCALAR_KINDS:
            values[pair.key] = getattr(value, kind)
        elif kind is not None:  # an empty AnyValue is absent
            values[pair.key] = _Unsupported(kind.removesuffix("_value"))
    return values


def _kind(value: Any) -> str:
    if isinstance(value, _Unsupported):
        return value.kind
    return {bool: "boolean", str: "string", int: "integer", float: "double"}[type(value)]


def text(attrs: Attributes, name: str) -> str | None:
    """A string attribute (an integer one in its decimal form); None when absent."""
    value = attrs.get(name)
    if value is None or isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)
    raise InvalidEvent(name, f"must be a string, got {_kind(value)}")


def integer(attrs: Attributes, name: str) -> int | None:
    """A count ≥ 0 sent as an int, an integral double or decimal text; None when absent."""
    value = attrs.get(name)
    if value is None:
        return None
    integral = (type(value) is int
                or (isinstance(value, str) and INTEGER_TEXT_RE.fullmatch(value.strip()))
                or (type(value) is float and math.isfinite(value) and value.is_integer()))
    if not integral:
        shown = repr(value) if isinstance(value, str | float) else _kind(value)
        raise InvalidEvent(name, f"must be an integer >= 0, got {shown}")
    count = int(value)
    if count < 0:
        raise InvalidEvent(name, f"must be an integer >= 0, got {count}")
    return count


def number(attrs: Attributes, name: str) -> float | int | None:
    """A number sent as an int, a double or decimal text; None when absent."""
    value = attrs.get(name)
    if value is None:
        return None
    if isinstance(value, str) and NUMBER_TEXT_RE.fullmatch(value.strip()):
        return float(value)
    if type(value) in (int, float):
        return value
    shown = repr(value) if isinstance(value, str) else _kind(value)
    raise InvalidEvent(name, f"must be a number, got {shown}")


def provider_name(name: str | None) -> str | None:
    return None if name is None else PROVIDER_ALIASES.get(name.lower(), name)


def project(attrs: Attributes, resource: Attributes) -> str | None:
    """``costlog.project`` (the item's, else the resource's), else the resource's service."""
    return text(attrs, "costlog.project") or text(resource, "service.name")


def instant(nanos: int) -> str | None:
    """Unix nanoseconds as RFC 3339 (microseconds kept); None for 0, OTLP's "unset"."""
    if not nanos:
        return None
    try:
        return format_timestamp(EPOCH + timedelta(microseconds=nanos // 1000))
    except OverflowError:
        raise InvalidEvent("timestamp", f"{nanos} ns is out of range") from None


def unix_millis(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


def canonical_hash(*parts: dict[str, Any]) -> str:
    text_form = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text_form.encode()).hexdigest()


def rfc3339_millis(stamp: str) -> int | None:
    """Unix milliseconds of an RFC 3339 instant as parse_event reads it; None when it is none
    (parse_event then refuses it, naming the field)."""
    try:
        moment = datetime.fromisoformat(stamp.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None
    return None if moment.tzinfo is None else unix_millis(moment)


# -- logs ----------------------------------------------------------------------------------------


def is_api_request(record: LogRecord, attrs: Attributes) -> bool:
    name = attrs.get("event.name")
    return (name in API_REQUEST_NAMES or record.event_name in API_REQUEST_NAMES
            or (record.body.WhichOneof("value") == "string_value"
                and record.body.string_value == API_REQUEST_BODY))


def log_event(record: LogRecord, record_attrs: Attributes, resource: Attributes,
              resource_json: dict[str, Any], *, now: datetime) -> CostEvent:
    """One ``api_request`` record as a validated event; InvalidEvent names the first bad field."""
    attrs = {**resource, **record_attrs}
    service = text(resource, "service.name")
    if service == CLAUDE_CODE_SERVICE:
        provider = DEFAULT_PROVIDER
    else:
        provider = provider_name(text(attrs, "gen_ai.provider.name")) or UNKNOWN_PROVIDER
    session = text(attrs, "session.id")
    stamp = text(attrs, "event.timestamp")
    if stamp is None:
        stamp = instant(record.time_unix_nano) or instant(record.observed_time_unix_nano)
    payload: dict[str, Any] = {
        "project_id": project(attrs, resource),
        "task_id": session or text(attrs, "prompt.id") or service,
        "phase": text(attrs, "costlog.phase") or DEFAULT_LOG_PHASE,
        "initiative_id": text(attrs, "costlog.initiative"),
        "model": text(attrs, "model"),
        "provider": provider,
        "cost_usd": number(attrs, "cost_usd"),
        "timestamp": stamp,
        **{name: integer(attrs, name) for name in LOG_COUNTS},
    }
    sequence = integer(attrs, "event.sequence")
    millis = None if stamp is None else rfc3339_millis(stamp)
    event_id = None
    if session and sequence is not None and millis is not None:
        # The instant keeps apart two requests of a resumed session whose counter restarted.
        event_id = f"{ID_PREFIX}{session}:{sequence}:{millis}"
    if event_id is None or not EVENT_ID_RE.fullmatch(event_id):
        # No session and sequence (or ids no event id can hold): the record itself is the key.
        record_json = MessageToDict(record, preserving_proto_field_name=True)
        event_id = ID_PREFIX + canonical_hash(resource_json, record_json)
    payload["event_id"] = event_id
    return parse_event(payload, now=now)


def from_logs(request: ExportLogsServiceRequest, *, now: datetime) -> Mapped:
    mapped = Mapped()
    for r, resource_logs in enumerate(request.resource_logs):
        resource = attributes(resource_logs.resource.attributes)
        resource_json: dict[str, Any] | None = None
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            for i, record in enumerate(scope_logs.log_records):
                try:
                    record_attrs = attributes(record.attributes)
                    if not is_api_request(record, record_attrs):
                        mapped.ignored += 1
                        continue
                    if resource_json is None:
                        resource_json = MessageToDict(resource_logs.resource,
                                                      preserving_proto_field_name=True)
                    mapped.events.append(
                        log_event(record, record_attrs, resource, resource_json, now=now))
                except InvalidEvent as error:
                    mapped.refuse(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]", error)
    return mapped


# -- traces --------------------------------------------------------------------------------------


def is_genai_usage(attrs: Attributes) -> bool:
    return USAGE_INPUT in attrs or USAGE_OUTPUT in attrs


def span_event(span: Span, span_attrs: Attributes, resource: Attributes, *,
               now: datetime) -> CostEvent:
    """One GenAI span as a validated event; InvalidEvent names the first bad field."""
    if not span.trace_id or not span.span_id:
        raise InvalidEvent("traceId" if not span.trace_id else "spanId", "is required")
    trace = span.trace_id.hex()
    attrs = {**resource, **span_attrs}
    cache_read = integer(span_attrs, USAGE_CACHE_READ) or 0
    cache_creation = integer(span_attrs, USAGE_CACHE_CREATION) or 0
    # The convention counts cached tokens inside the input; costlog's input is the uncached part.
    whole_input = integer(span_attrs, USAGE_INPUT) or 0
    provider = (provider_name(text(span_attrs, "gen_ai.provider.name"))
                or provider_name(text(span_attrs, "gen_ai.system")) or UNKNOWN_PROVIDER)
    started, ended = span.start_time_unix_nano, span.end_time_unix_nano
    payload: dict[str, Any] = {
        "event_id": f"{ID_PREFIX}{trace}:{span.span_id.hex()}",
        "project_id": project(attrs, resource),
        "task_id": text(span_attrs, "gen_ai.conversation.id") or trace,
        "phase": (text(attrs, "costlog.phase") or text(span_attrs, "gen_ai.operation.name")
                  or DEFAULT_SPAN_PHASE),
        "initiative_id": text(attrs, "costlog.initiative"),
        "model": (text(span_attrs, "gen_ai.response.model")
                  or text(span_attrs, "gen_ai.request.model")),
        "provider": provider,
        "input_tokens": max(0, whole_input - cache_read - cache_creation),
        "output_tokens": integer(span_attrs, USAGE_OUTPUT),
        "cache_read_tokens": cache_read,
        "cache_creation_tokens": cache_creation,
        "duration_ms": (ended - started) // 1_000_000 if 0 < started <= ended else 0,
        "timestamp": instant(ended),
    }
    return parse_event(payload, now=now, fill_id="hash")


def from_traces(request: ExportTraceServiceRequest, *, now: datetime) -> Mapped:
    mapped = Mapped()
    for r, resource_spans in enumerate(request.resource_spans):
        resource = attributes(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                span_attrs = attributes(span.attributes)
                if not is_genai_usage(span_attrs):
                    mapped.ignored += 1
                    continue
                try:
                    mapped.events.append(span_event(span, span_attrs, resource, now=now))
                except InvalidEvent as error:
                    mapped.refuse(f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]", error)
    return mapped


# -- metrics -------------------------------------------------------------------------------------

#: The Metric oneof's kinds that hold data points.
POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def from_metrics(request: ExportMetricsServiceRequest) -> Mapped:
    """Every data point ignored: recording a cost counter too would count the requests twice."""
    mapped = Mapped()
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind in POINT_KINDS:
                    mapped.ignored += len(getattr(metric, kind).data_points)
    return mapped
