"""OTLP/HTTP receivers: ``POST /v1/logs``, ``/v1/traces`` and ``/v1/metrics``.

A body is ``application/x-protobuf`` (decoded by ``opentelemetry-proto``) or OTLP JSON, sent
plain, gzip- or deflate-compressed; decompressed, it holds at most OTLP_MAX_BODY_BYTES (413, also
for a gzip bomb: it is inflated a bounded piece at a time). The cost events it carries
(costlog.domain.otel) go onto the queue like POST /api/cost/events' (spooled when Redis is
down), and the answer is the signal's Export…ServiceResponse in the request's encoding, with
``partial_success`` when some items were refused. The write rules of every POST hold.
"""

import base64
import binascii
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api import errors
from api.endpoints import decode_json, enqueue, read_body, resources
from api.errors import JSON, ApiError
from api.security import JSON_MEDIA_TYPE, media_type, require_write_access
from costlog import clock
from costlog.constants import OTLP_MAX_BODY_BYTES
from costlog.domain import otel

log = logging.getLogger("costlog.api")

PROTOBUF_MEDIA_TYPE = "application/x-protobuf"
MEDIA_TYPES = frozenset({PROTOBUF_MEDIA_TYPE, JSON_MEDIA_TYPE})
#: The OpenAPI document's order: protobuf, OTLP/HTTP's default, first.
RESPONSE_MEDIA_TYPES = (PROTOBUF_MEDIA_TYPE, JSON_MEDIA_TYPE)
#: Content-Encoding → zlib's wbits (gzip's header, zlib's); absent or identity: as sent.
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
             "deflate": zlib.MAX_WBITS}
#: The OTLP JSON fields that hold ids: hex in OTLP JSON, base64 in protobuf's JSON mapping.
ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


@dataclass(frozen=True)
class Signal:
    name: str  # logs, traces or metrics: the path's last part and the metrics' label
    request: type[Message]
    response: type[Message]
    rejected_field: str  # partial_success's count of refused items
    to_events: Callable[[Any, datetime], otel.Mapped]


LOGS = Signal("logs", logs_service_pb2.ExportLogsServiceRequest,
              logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records",
              lambda message, now: otel.from_logs(message, now=now))
TRACES = Signal("traces", trace_service_pb2.ExportTraceServiceRequest,
                trace_service_pb2.ExportTraceServiceResponse, "rejected_spans",
                lambda message, now: otel.from_traces(message, now=now))
METRICS = Signal("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                 metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points",
                 lambda message, now: otel.from_metrics(message))


def json_name(field: str) -> str:
    """A protobuf field's name in OTLP JSON (lowerCamelCase)."""
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """``data`` decompressed, never holding more than ``limit`` + 1 bytes of output at once:
    413 past ``limit``, 400 for data that is not gzip/deflate (or is cut short)."""
    parts: list[bytes] = []
    size = 0
    decompressor = zlib.decompressobj(wbits)
    pending = data
    try:
        while pending:
            chunk = decompressor.decompress(pending, limit + 1 - size)
            size += len(chunk)
            if size > limit:
                raise ApiError(413, errors.BODY_TOO_LARGE)
            parts.append(chunk)
            # Output room was left, so all input that could be used was: the stream ended
            # (another gzip member may follow) or the input ran out.
            pending = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
            if decompressor.eof and pending:
                decompressor = zlib.decompressobj(wbits)
    except zlib.error:
        raise ApiError(400, errors.INVALID_BODY.format("not valid compressed data")) from None
    if not decompressor.eof:
        raise ApiError(400, errors.INVALID_BODY.format("compressed data cut short"))
    return b"".join(parts)


def _ids_to_base64(value: Any) -> None:
    """OTLP JSON's hex ids, in place, as the base64 json_format reads for bytes fields."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_FIELDS and isinstance(item, str):
                try:
                    value[key] = base64.b64encode(bytes.fromhex(item)).decode()
                except ValueError:
                    raise ApiError(400, errors.INVALID_BODY.format(
                        f"{key} must be hex, got {item[:40]!r}")) from None
            else:
                _ids_to_base64(item)
    elif isinstance(value, list):
        for item in value:
            _ids_to_base64(item)


def decode(body: bytes, media: str, signal: Signal) -> Message:
    """The request message, or 400 ``invalid request body: …``."""
    message = signal.request()
    if media == PROTOBUF_MEDIA_TYPE:
        try:
            message.ParseFromString(body)
        except DecodeError:
            raise ApiError(400, errors.INVALID_BODY.format(
                f"not a protobuf {signal.request.__name__}")) from None
        return message
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise ApiError(400, errors.INVALID_BODY.format(
            f"expected an OTLP JSON {signal.request.__name__} object"))
    try:
        _ids_to_base64(payload)
        ParseDict(payload, message, ignore_unknown_fields=True)
    except (ParseError, binascii.Error) as error:
        raise ApiError(400, errors.INVALID_BODY.format(str(error)[:300])) from None
    except RecursionError:
        raise ApiError(400, errors.INVALID_BODY.format("nested too deeply")) from None
    return message


def encode(response: Message, media: str) -> Response:
    if media == PROTOBUF_MEDIA_TYPE:
        return Response(response.SerializeToString(), media_type=PROTOBUF_MEDIA_TYPE)
    return JSON(MessageToDict(response))


def answer(signal: Signal, refused: list[str]) -> Message:
    """The Export…ServiceResponse: empty, or a partial success with the first reason."""
    response = signal.response()
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        setattr(response.partial_success, signal.rejected_field, len(refused))
        response.partial_success.error_message = refused[0] + more
    return response


def receiver(signal: Signal) -> Callable[[Request], Any]:
    async def export(request: Request) -> Response:
        res = resources(request)
        require_write_access(request, res.settings, media_types=MEDIA_TYPES,
                             media_error=errors.OTLP_UNSUPPORTED_MEDIA)
        media = media_type(request.headers.get("content-type"))
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity") and encoding not in ENCODINGS:
            raise ApiError(415, errors.UNSUPPORTED_ENCODING)
        body = await read_body(request, OTLP_MAX_BODY_BYTES)

        def to_events() -> otel.Mapped:
            raw = inflate(body, ENCODINGS[encoding], OTLP_MAX_BODY_BYTES) \
                if encoding in ENCODINGS else body
            return signal.to_events(decode(raw, media, signal), clock.now())

        mapped = await run_in_threadpool(to_events)
        await enqueue(res, mapped.events)
        res.metrics.otlp(signal.name, media, accepted=len(mapped.events),
                         refused=len(mapped.refused), ignored=mapped.ignored)
        if mapped.refused:
            log.info("otlp %s: %d refused, first: %s", signal.name, len(mapped.refused),
                     mapped.refused[0])
        return encode(answer(signal, mapped.refused), media)

    export.__name__ = f"export_{signal.name}"
    export.__doc__ = f"OTLP/HTTP {signal.name} receiver."
    return export


export_logs = receiver(LOGS)
export_traces = receiver(TRACES)
export_metrics = receiver(METRICS)
