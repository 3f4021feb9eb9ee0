"""OpenTelemetry clients for the tests: the real Python SDK and its OTLP/HTTP exporters, the
SDK's own encoders for OTLP JSON bodies, and Claude Code's api_request records (no tests here).
"""

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

#: Claude Code's resource, pointed at a costlog project as `costlog up` prints it.
CLAUDE_CODE_RESOURCE = {"service.name": "claude-code", "service.version": "2.0.14",
                        "costlog.project": "web"}
SESSION = "4f1c2d3e-aaaa-bbbb-cccc-0123456789ab"
#: 2026-11-20T10:00:00Z in Unix nanoseconds: inside the tests' fixed clock's day.
BASE_NANOS = 1_795_168_800 * 10**9
ID_KEYS = ("traceId", "spanId", "parentSpanId")


def api_request(sequence: int, *, session: str = SESSION, **attrs: Any) -> dict[str, Any]:
    """One ``claude_code.api_request`` record's attributes, as Claude Code sends them (strings);
    ``attrs`` override (``...`` removes one)."""
    at = datetime.fromtimestamp(BASE_NANOS // 10**9 + sequence, UTC)
    base = {"event.name": "api_request",
            "event.timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{sequence % 1000:03d}Z",
            "event.sequence": str(sequence), "session.id": session,
            "prompt.id": f"prompt-{sequence // 4}", "model": "claude-sonnet-4-5-20250929",
            "cost_usd": f"{0.001 * (sequence % 7 + 1):.3f}", "duration_ms": str(800 + sequence),
            "input_tokens": str(10 + sequence), "output_tokens": str(200 + sequence),
            "cache_read_tokens": str(3000 + sequence), "cache_creation_tokens": "400"}
    merged = {**base, **attrs}
    return {key: value for key, value in merged.items() if value is not ...}


def emit_claude_code_events(provider: LoggerProvider, records: list[dict[str, Any]]) -> None:
    """Emit records as Claude Code does: body ``claude_code.<event.name>``, the attributes."""
    logger = provider.get_logger("com.anthropic.claude_code.events")
    for attributes in records:
        logger.emit(timestamp=BASE_NANOS, body=f"claude_code.{attributes['event.name']}",
                    attributes=attributes)


@contextmanager
def log_provider(exporter: LogRecordExporter, resource: dict[str, Any] | None = None,
                 *, batch: bool = True) -> Iterator[LoggerProvider]:
    """A LoggerProvider exporting through ``exporter``; flushed and shut down at the end."""
    provider = LoggerProvider(resource=Resource.create(resource or CLAUDE_CODE_RESOURCE))
    processor = (BatchLogRecordProcessor(exporter, schedule_delay_millis=60_000) if batch
                 else SimpleLogRecordProcessor(exporter))
    provider.add_log_record_processor(processor)
    try:
        yield provider
    finally:
        provider.force_flush()
        provider.shutdown()


def genai_attributes(index: int, **attrs: Any) -> dict[str, Any]:
    """A GenAI-convention chat span's attributes (cache counted inside input)."""
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-haiku-4-5",
            "gen_ai.response.model": "claude-haiku-4-5-20251001",
            "gen_ai.conversation.id": f"conv-{index % 2}",
            "gen_ai.usage.input_tokens": 1000 + index, "gen_ai.usage.output_tokens": 50 + index,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_creation.input_tokens": 100}
    merged = {**base, **attrs}
    return {key: value for key, value in merged.items() if value is not ...}


@contextmanager
def tracer_provider(exporter: SpanExporter,
                    resource: dict[str, Any] | None = None) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create(resource or {"service.name": "support-bot"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    try:
        yield provider
    finally:
        provider.force_flush()
        provider.shutdown()


def record_spans(provider: TracerProvider, count: int, *, plain: int = 0) -> None:
    """``count`` GenAI chat spans (each inside a request span), one a second from BASE_NANOS,
    each lasting 1.5 s, and ``plain`` spans without usage."""
    tracer = provider.get_tracer("support-bot")
    for index in range(count):
        start = BASE_NANOS + index * 10**9
        parent = tracer.start_span("handle request", start_time=start)
        with trace.use_span(parent, end_on_exit=False):
            chat = tracer.start_span("chat claude-haiku-4-5", start_time=start,
                                     attributes=genai_attributes(index))
            chat.end(end_time=start + 1_500_000_000)
        parent.end(end_time=start + 1_600_000_000)
    for index in range(plain):
        tracer.start_span("GET /health", start_time=BASE_NANOS).end(end_time=BASE_NANOS + index)


@contextmanager
def meter_provider(exporter: MetricExporter) -> Iterator[MeterProvider]:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader],
                             resource=Resource.create(CLAUDE_CODE_RESOURCE))
    try:
        yield provider
    finally:
        provider.shutdown()  # exports once (a force_flush first would export twice)


def record_claude_code_metrics(provider: MeterProvider) -> None:
    """Claude Code's cost and token counters: two points each."""
    meter = provider.get_meter("com.anthropic.claude_code")
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    for model in ("claude-sonnet-4-5", "claude-haiku-4-5"):
        cost.add(0.25, {"model": model})
        tokens.add(1000, {"model": model, "type": "input"})


# -- OTLP JSON bodies from the SDK's own encoding -----------------------------------------------


def otlp_json(message: Message) -> dict[str, Any]:
    """``message`` in OTLP JSON: json_format's mapping with enums as integers and the ids in
    hex (json_format's bytes are base64)."""
    payload = MessageToDict(message, use_integers_for_enums=True)
    _ids_to_hex(payload)
    return payload


def _ids_to_hex(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_KEYS and isinstance(item, str):
                value[key] = base64.b64decode(item).hex()
            else:
                _ids_to_hex(item)
    elif isinstance(value, list):
        for item in value:
            _ids_to_hex(item)


def sdk_log_request(records: list[dict[str, Any]],
                    resource: dict[str, Any] | None = None) -> Message:
    """The ExportLogsServiceRequest the SDK's exporter would send for ``records``."""
    exporter = InMemoryLogRecordExporter()
    with log_provider(exporter, resource) as provider:
        emit_claude_code_events(provider, records)
    return encode_logs(exporter.get_finished_logs())


def sdk_trace_request(count: int, resource: dict[str, Any] | None = None, *,
                      plain: int = 0) -> Message:
    """The ExportTraceServiceRequest of :func:`record_spans`' spans."""
    exporter = InMemorySpanExporter()
    with tracer_provider(exporter, resource) as provider:
        record_spans(provider, count, plain=plain)
    return encode_spans(exporter.get_finished_spans())


def sdk_metrics_request() -> Message:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader],
                             resource=Resource.create(CLAUDE_CODE_RESOURCE))
    record_claude_code_metrics(provider)
    request = encode_metrics(reader.get_metrics_data())
    provider.shutdown()
    return request


def json_body(message: Message) -> bytes:
    return json.dumps(otlp_json(message)).encode()
