"""``costlog api``: the app under uvicorn, with bounded connections and request deadlines.

Uvicorn reads requests without a deadline (its keep-alive timer stops at a request's first
byte) and accepts connections without bound: clients sending a request's first bytes and
nothing more held 4,000 connections open. Here each connection must send its whole request
within ``request_seconds`` (408 and closed otherwise), and a connection beyond
``max_connections`` open ones is answered 503 and closed (once the client has read the
answer, ANSWER_GRACE_SECONDS at most). Each connection runs one
request at a time, so that bounds the requests in progress too. Exposed beyond loopback, put a
reverse proxy in front (docs/operations.md).
"""

import gc
import resource
import sys
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api import errors
from api.app import create_app
from costlog.constants import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_OPEN_CONNECTIONS,
    REQUEST_READ_SECONDS,
    RESERVED_FILE_DESCRIPTORS,
    SWITCH_INTERVAL_SECONDS,
)
from costlog.settings import Settings


def _raw_answer(status: str, message: str, extra: str = "") -> bytes:
    body = f'{{"error":"{message}"}}'.encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


#: How long an answered connection waits for the client to close it.
ANSWER_GRACE_SECONDS = 1.0
BUSY_ANSWER = _raw_answer("503 Service Unavailable", errors.BUSY, "retry-after: 1\r\n")
LATE_ANSWER = _raw_answer("408 Request Timeout", errors.REQUEST_TIMEOUT)


class BoundedH11Protocol(H11Protocol):
    """Uvicorn's h11 protocol with a bound on open connections and a deadline per request."""

    max_connections = MAX_OPEN_CONNECTIONS
    request_seconds = REQUEST_READ_SECONDS

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._request_timer: Any = None
        self._ending = False
        if len(self.connections) > self.max_connections:
            self._answer_and_close(BUSY_ANSWER)
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._ending:
            return  # answered already: the rest is not read
        super().data_received(data)
        if self.conn.their_state is not h11.SEND_BODY and self.conn.their_state is not h11.IDLE:
            self._disarm()  # the whole request is in (or the connection is ending)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request on this connection has a deadline of its own.
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._request_timer = self.loop.call_later(self.request_seconds, self._too_late)

    def _disarm(self) -> None:
        timer = getattr(self, "_request_timer", None)
        if timer is not None:
            timer.cancel()
            self._request_timer = None

    def _too_late(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self._answer_and_close(LATE_ANSWER)  # no answer is under way: say why
        else:
            self.transport.close()  # a handler still reading the body sees the client gone

    def _answer_and_close(self, answer: bytes) -> None:
        # Closed at once, a socket with unread data sends a reset, which can reach the client
        # before the answer does: the answer goes out with our end of the stream, and the
        # connection is closed when the client closes its end, or ANSWER_GRACE_SECONDS later.
        self._ending = True
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(ANSWER_GRACE_SECONDS, self.transport.close)


def open_connections_bound(wanted: int = MAX_OPEN_CONNECTIONS) -> int:
    """``wanted``, or fewer when the process may not open that many files besides its own."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - RESERVED_FILE_DESCRIPTORS))


def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
          max_connections: int = MAX_OPEN_CONNECTIONS,
          request_seconds: float = REQUEST_READ_SECONDS) -> None:
    """Run the API until interrupted; 127.0.0.1:8787 unless told otherwise.

    Uvicorn's access log shows method, path and query string only: the token travels in a
    header and is never logged. X-Forwarded-For is trusted from loopback proxies only
    (uvicorn's default), so a local reverse proxy cannot make remote clients look local.
    """
    app = create_app(settings)
    protocol = type("Protocol", (BoundedH11Protocol,), {
        "max_connections": open_connections_bound(max_connections),
        "request_seconds": request_seconds})
    # Heavy reads are Python-bound threads: with the GIL handed over every 5 ms (the default),
    # each of /healthz's many short steps waits behind them; handed over more often, it is
    # served between their slices.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # The objects made so far (modules, the app) live as long as the process: kept out of the
    # collector's full passes, which would otherwise walk all of them in the middle of some
    # request.
    gc.collect()
    gc.freeze()
    # log_config=None: uvicorn's loggers go through the process's handler (text or JSON lines).
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", server_header=False, http=protocol)
