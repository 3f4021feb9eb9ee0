"""The heavy reads' limiter: slots, a bounded wait, then 503 with Retry-After."""

import threading
from typing import Any

import anyio
import pytest

from api.errors import ApiError
from api.limits import QueryLimiter


def blocking(started: threading.Event, release: threading.Event) -> Any:
    def handler(request: Any) -> str:
        started.set()
        assert release.wait(10)
        return "slow"
    return handler


def quick(request: Any) -> str:
    return "quick"


def test_a_read_without_a_free_slot_gets_503_after_the_wait() -> None:
    limiter = QueryLimiter(1, wait_seconds=0.2)
    started, release = threading.Event(), threading.Event()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(limiter.run, blocking(started, release), None)
            await anyio.to_thread.run_sync(started.wait)
            assert limiter.running == 1
            with pytest.raises(ApiError) as busy:
                await limiter.run(quick, None)
            assert (busy.value.status, busy.value.message, busy.value.headers) == (
                503, "busy: retry shortly", {"Retry-After": "1"})
            release.set()
        assert limiter.running == 0
        assert await limiter.run(quick, None) == "quick"

    anyio.run(main)


def test_a_waiting_read_runs_once_a_slot_frees() -> None:
    limiter = QueryLimiter(2, wait_seconds=5)
    started = [threading.Event(), threading.Event()]
    release = threading.Event()
    answers: list[str] = []

    async def waiter() -> None:
        answers.append(await limiter.run(quick, None))

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for event in started:
                group.start_soon(limiter.run, blocking(event, release), None)
            for event in started:
                await anyio.to_thread.run_sync(event.wait)
            group.start_soon(waiter)
            await anyio.sleep(0.1)
            assert answers == [] and limiter.running == 2  # waiting, holding no thread
            release.set()
        assert answers == ["quick"]

    anyio.run(main)


def test_a_failing_read_gives_its_slot_back() -> None:
    limiter = QueryLimiter(1, wait_seconds=0.1)

    def failing(request: Any) -> str:
        raise ApiError(400, "bad")

    async def main() -> None:
        for _ in range(3):
            with pytest.raises(ApiError, match="bad"):
                await limiter.run(failing, None)
        assert limiter.running == 0

    anyio.run(main)


def test_the_limit_defaults_to_two_per_core_and_reads_its_variable() -> None:
    import os

    from costlog.settings import Settings, SettingsError

    assert Settings().max_concurrent_queries == 2 * (os.cpu_count() or 1)
    assert Settings.from_env({"COSTLOG_MAX_CONCURRENT_QUERIES": "7"}).max_concurrent_queries == 7
    assert Settings.from_env({"COSTLOG_ALLOWED_HOSTS": "a.example, b"}).allowed_hosts == (
        "a.example", "b")
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(SettingsError, match="^COSTLOG_MAX_CONCURRENT_QUERIES: use a whole"):
            Settings.from_env({"COSTLOG_MAX_CONCURRENT_QUERIES": bad})
