"""The one error shape of the API: ``{"error": "<message>"}`` with the status."""

import json
import logging
from http import HTTPStatus
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from costlog import errors as shared
from costlog.errors import CostlogError
from costlog.store.queries import QueryError

log = logging.getLogger("costlog.api")

# Exact client messages.
UNAVAILABLE = "cost analytics not available"
INITIATIVE_NOT_FOUND = "initiative not found"
EVENT_NOT_FOUND = "event not found"
VOID_REASON = "reason must be a non-empty string of at most {} characters"
INVALID_FORMAT = "invalid 'format' parameter: use csv or jsonl"
INVALID_PROJECT = "invalid 'project' parameter"
INVALID_TZ = "invalid 'tz' parameter: unknown time zone"
INVALID_LIMIT = "invalid 'limit' parameter: use an integer from 1 to 1000"
INVALID_BODY = "invalid request body: {}"
NEGATIVE_LIMIT = shared.NEGATIVE_LIMIT  # the store's own budget operations say the same
LIMIT_NOT_A_NUMBER = "monthly_limit_usd must be a number"
BAD_TIMEZONE = "timezone must be an IANA time zone name"
BAD_HARD_LIMIT = "hard_limit must be true or false"
INVALID_MONTH = "invalid 'month' parameter: use YYYY-MM"
TINY_LIMIT = "monthly_limit_usd must be 0 or at least 0.000000001"
BAD_THRESHOLD = shared.BAD_THRESHOLD
THRESHOLD_NOT_AN_INTEGER = "alert_threshold_percent must be an integer"
BODY_TOO_LARGE = "request body too large"
TOO_MANY_EVENTS = "too many events: at most {}"
ALL_REFUSED = "every event was refused: {}"
BAD_TOKEN = "missing or invalid token"
LOOPBACK_ONLY = "writes are allowed from loopback only"
QUEUE_UNAVAILABLE = "event queue not available"
UNSUPPORTED_MEDIA = "unsupported content type: use application/json"
OTLP_UNSUPPORTED_MEDIA = "unsupported content type: use application/x-protobuf or application/json"
UNSUPPORTED_ENCODING = "unsupported content encoding: use gzip, deflate or none"
CROSS_ORIGIN = "cross-origin write refused"
INVALID_HOST = "invalid host header"
BUSY = "busy: retry shortly"
REQUEST_TIMEOUT = "request not received in time"
INTERNAL = "internal server error"


class ApiError(CostlogError):
    """Raised anywhere in a handler; answered as ``{"error": message}`` with ``status``, plus
    ``body``'s fields when given (a refused write keeps its success answer's shape)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, *,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.body = body


#: Compact UTF-8 JSON, as Starlette's JSONResponse writes it but several times faster (large
#: series are the API's heaviest answers); floats in their shortest exact form, an exponent
#: without "+" or leading zeros (1e16, 2.5e-7).
_ENCODER = msgspec.json.Encoder()


class JSON(JSONResponse):
    """JSONResponse that never fails on text the client sent (lone surrogates are escaped)."""

    def render(self, content: Any) -> bytes:
        try:
            return _ENCODER.encode(content)
        except (UnicodeEncodeError, TypeError):  # a lone surrogate; a key that is no text
            return json.dumps(content, ensure_ascii=True, allow_nan=False,
                              separators=(",", ":")).encode("ascii")


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   body: dict[str, Any] | None = None) -> Response:
    return JSON({"error": message, **(body or {})}, status_code=status, headers=headers)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers, exc.body)


async def query_error(request: Request, exc: Exception) -> Response:
    """A bad read parameter found by costlog.store.queries: its message is the client's 400 text."""
    assert isinstance(exc, QueryError)
    return error_response(400, str(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (and any other HTTPException) in the one error shape."""
    assert isinstance(exc, HTTPException)
    try:
        message = HTTPStatus(exc.status_code).phrase.lower()
    except ValueError:
        message = "error"
    return error_response(exc.status_code, message, exc.headers)


async def unhandled_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (it names no secret: no handler puts one in an exception).
    log.error("unhandled error on %s %s: %s", request.method, request.url.path,
              type(exc).__name__)
    return error_response(500, INTERNAL)


EXCEPTION_HANDLERS = {
    ApiError: api_error,
    QueryError: query_error,
    HTTPException: http_error,
    Exception: unhandled_error,
}
