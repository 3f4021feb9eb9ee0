"""Bounded heavy reads: at most COSTLOG_MAX_CONCURRENT_QUERIES run at once.

Each read handler runs in Starlette's thread pool (40 threads). Unbounded, 40 large series took
every thread, so /healthz queued behind them, and each held its rows and response in memory at
once. Here a read first takes a slot, waiting in the event loop (no thread, no memory) for at
most QUERY_WAIT_SECONDS, then answers 503 ``busy: retry shortly`` with Retry-After: the thread
pool always has threads left for /healthz, and memory grows with the slots, not the requests.
"""

from collections.abc import Awaitable, Callable

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api import errors
from costlog.constants import QUERY_RETRY_AFTER_SECONDS, QUERY_WAIT_SECONDS


class QueryLimiter:
    def __init__(self, slots: int, wait_seconds: float = QUERY_WAIT_SECONDS) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._semaphore = anyio.Semaphore(slots)

    @property
    def running(self) -> int:
        return self.slots - self._semaphore.value

    async def run(self, handler: Callable[[Request], Response], request: Request) -> Response:
        """``handler(request)`` in the thread pool once a slot is free, else the 503."""
        acquired = False
        with anyio.move_on_after(self.wait_seconds):  # bounds the wait only, not the read
            await self._semaphore.acquire()
            acquired = True
        if not acquired:
            raise errors.ApiError(503, errors.BUSY,
                                  {"Retry-After": str(QUERY_RETRY_AFTER_SECONDS)})
        try:
            return await run_in_threadpool(handler, request)
        finally:
            self._semaphore.release()


def limited(handler: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` as an async endpoint that runs under the app's QueryLimiter."""

    async def endpoint(request: Request) -> Response:
        return await request.app.state.costlog.queries.run(handler, request)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint
