"""The webhook client: one signed POST of an alert, bounded as a whole.

A socket timeout bounds each read, not the attempt: a receiver that trickles a byte every few
seconds never trips it. Here the whole attempt (name lookup, connect, TLS, send, and reading the
status line and headers) runs in a thread of its own, and the caller waits for it at most
``ALERT_ATTEMPT_SECONDS``; past that, the attempt's sockets are shut down, which ends any read or
write still blocked on them, and the caller gets ``timed out after 10 s``.
"""

import base64
import contextlib
import http.client
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from costlog import constants
from costlog.domain import alerts


class _Attempt:
    """The sockets of one attempt, so that they can be shut down from the waiting thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._aborted = False
        self.error: str | None = None

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            if not self._aborted:
                self._sockets.append(sock)
                return sock
        _shut_down(sock)  # opened after the deadline (a slow name lookup)
        return sock

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    # Shut down, not closed: the descriptor stays the attempt thread's until it closes it (a
    # closed number could be reused meanwhile). socket.socket's own method, also for a TLS
    # socket, whose shutdown would first drop its SSL object under the other thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watching(urllib.request.AbstractHTTPHandler):
    """Opens connections whose sockets ``attempt`` watches from their creation on."""

    def __init__(self, attempt: _Attempt) -> None:
        super().__init__()
        self.attempt = attempt

    def do_open(self, http_class: Any, req: Any, **http_conn_args: Any) -> Any:
        attempt = self.attempt

        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            made = http_class(host, **kwargs)
            # http.client opens its socket through this attribute (TLS wraps it afterwards):
            # watched before the handshake's first byte.
            create = made._create_connection
            made._create_connection = lambda *args, **kw: attempt.watch(create(*args, **kw))
            return made

        return super().do_open(connection, req, **http_conn_args)


class _HTTP(_Watching, urllib.request.HTTPHandler):
    pass


class _HTTPS(_Watching, urllib.request.HTTPSHandler):
    pass


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect is not a 2xx: it is retried, and the body never goes to another address.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its user:password, and those as HTTP Basic credentials (urllib would
    take them for part of the host name)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return (urllib.parse.urlunsplit(parts._replace(netloc=host)),
            base64.b64encode(pair.encode()).decode())


def _send(attempt: _Attempt, url: str, request: urllib.request.Request, seconds: float) -> None:
    opener = urllib.request.build_opener(_NoRedirects, _HTTP(attempt), _HTTPS(attempt))
    try:
        # The response's status and headers are read; its body is not needed.
        with opener.open(request, timeout=seconds) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except Exception as error:  # noqa: BLE001 - any failure of the attempt is its outcome
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):  # a socket timeout, at the same deadline
            attempt.error = _timed_out(seconds)
            return
        text = f"{type(error).__name__}: {reason}"
        attempt.error = text.replace(url, alerts.redact_url(url))[:200]
        return
    attempt.error = None if 200 <= status < 300 else f"HTTP {status}"


def post(url: str, body: bytes, kind: str, delivery_id: str, secret: str | None) -> str | None:
    """POST ``body`` to ``url`` once, within ALERT_ATTEMPT_SECONDS in all; None on a 2xx, else
    why not (never naming the URL)."""
    seconds = constants.ALERT_ATTEMPT_SECONDS
    headers = {"Content-Type": "application/json", "User-Agent": "costlog",
               "X-Costlog-Event": kind, "X-Costlog-Delivery": delivery_id}
    if secret:
        headers["X-Costlog-Signature"] = alerts.signature(secret, body)
    target, credentials = _split_credentials(url)
    if credentials:
        headers["Authorization"] = f"Basic {credentials}"
    try:
        request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    except ValueError as error:
        return f"ValueError: {error}".replace(url, alerts.redact_url(url))[:200]
    attempt = _Attempt()
    sender = threading.Thread(target=_send, args=(attempt, url, request, seconds),
                              name="costlog-webhook", daemon=True)
    sender.start()
    sender.join(seconds)
    if sender.is_alive():
        attempt.abort()
        return _timed_out(seconds)
    return attempt.error


def _timed_out(seconds: float) -> str:
    return f"timed out after {seconds:g} s"
