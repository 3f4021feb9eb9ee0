"""A webhook receiver on loopback for alert delivery tests: it answers each POST as scripted
(fail, answer late, trickle, hang, accept) and keeps what it received."""

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    #: What to do with the next requests, in order: "fail" (500), "timeout" (answer after
    #: ``delay`` seconds), "trickle" (send the 204 answer one byte every ``delay`` seconds, as a
    #: slow receiver does), "hang" (read the request, never answer), "accept" (204). Once empty:
    #: the action of the request's path in ``paths``, else ``default``.
    script: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    default: str = "accept"
    delay: float = 1.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set when the receiver stops: trickling and hanging answers end then.
    closed: threading.Event = field(default_factory=threading.Event)

    def action(self, path: str) -> str:
        if self.script:
            return self.script.pop(0)
        return self.paths.get(path.partition("?")[0], self.default)


ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers), body))
                action = state.action(self.path)
            if action == "hang":
                state.closed.wait()
                return
            if action == "trickle":
                with contextlib.suppress(OSError):  # the client gave up
                    for byte in ANSWER:
                        if state.closed.wait(state.delay):
                            return
                        self.wfile.write(bytes([byte]))
                return
            if action == "timeout":
                time.sleep(state.delay)
            status = 500 if action == "fail" else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.closed.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
