"""The executor-side client: ``publish`` / ``publish_many``.

Fire-and-forget: validate, enqueue on a fail-fast Redis connection (100 ms timeouts, no
retries), and when Redis cannot take the events, append them to the local spool and return
normally. After a failure a circuit breaker skips Redis for ``BREAKER_OPEN_SECONDS`` so a dead
or hung Redis costs each caller one spool append, not a timeout. After a successful enqueue,
a non-empty spool is replayed in a background thread, off the caller's path.

An invalid event raises :class:`InvalidEvent`: that is the caller's bug, not an outage.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import redis
import rq

from costlog import clock, constants
from costlog.domain.event import CostEvent, InvalidEvent, parse_event
from costlog.redaction import redact, scrub
from costlog.settings import Settings
from ingest.queue import enqueue_events, make_queue
from ingest.redis_conn import connect
from ingest.spool import Spool

log = logging.getLogger("costlog.client")

#: What "Redis is unavailable" looks like: refused, timed out, or answering with an error.
#: OSError covers socket failures redis-py does not wrap.
REDIS_FAILURES: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

FillId = Literal["uuid", "hash"]


@dataclass(frozen=True)
class PublishResult:
    ids: list[str]
    spooled: bool  # True when any of the events went to the spool instead of Redis


class Publisher:
    """Publishes cost events to one RQ queue, spooling them while Redis is unavailable."""

    def __init__(
        self,
        redis_url: str | None,
        queue_name: str,
        spool_dir: Path,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not redis_url:
            raise ValueError(
                "no Redis URL: set COSTLOG_REDIS_URL (or run `costlog up`, which starts Redis)"
            )
        self.redis_url = redis_url
        self.queue_name = queue_name
        self.spool = Spool(spool_dir)
        # The breaker measures a duration, so it uses a monotonic clock, not clock.now().
        self._monotonic = monotonic
        self._open_until: float | None = None
        self._lock = threading.Lock()
        self._queue: rq.Queue | None = None
        self._replay_thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Publisher":
        return cls(settings.redis_url, settings.queue_name, settings.spool_dir)

    def __repr__(self) -> str:
        return f"Publisher({redact(self.redis_url)!r}, {self.queue_name!r}, {self.spool.directory})"

    # -- public API -------------------------------------------------------------------------

    def publish(self, event: dict[str, Any] | CostEvent) -> str:
        """Validate and publish one event; returns its event_id (a UUID4 if it had none)."""
        return self.publish_events([_validate(event, fill_id="uuid")]).ids[0]

    def publish_many(
        self, events: Iterable[dict[str, Any] | CostEvent], *, fill_id: FillId = "uuid"
    ) -> list[str]:
        """Validate all, then publish them in as few jobs as allowed; returns the event_ids.

        Nothing is published when any event is invalid (:class:`InvalidEvent` names it).
        """
        valid: list[CostEvent] = []
        for index, event in enumerate(events):
            try:
                valid.append(_validate(event, fill_id=fill_id))
            except InvalidEvent as error:
                raise InvalidEvent(error.field, f"{error.reason} (event {index})") from None
        return self.publish_events(valid).ids

    def publish_events(self, events: list[CostEvent]) -> PublishResult:
        """Publish already-validated events (the HTTP endpoint); never raises for Redis.

        Raises OSError only when Redis failed *and* the spool cannot be written. A timeout after
        Redis did take the job spools it too; the later replay is a harmless duplicate (event_id).
        """
        wire = [event.to_json() for event in events]
        spooled = False
        for start in range(0, len(wire), constants.MAX_EVENTS_PER_JOB):
            chunk = wire[start:start + constants.MAX_EVENTS_PER_JOB]
            if spooled or not self._try_enqueue(chunk):
                # Once one chunk failed the breaker is open: the rest go straight to the spool.
                self.spool.append(chunk)
                spooled = True
        if wire and not spooled:
            self._maybe_replay()
        return PublishResult(ids=[event.event_id for event in events], spooled=spooled)

    def replay_spool(self) -> int:
        """Replay the spool now, in the caller's thread; returns how many events were sent."""
        return self.spool.replay(self._send)

    def wait_for_replay(self, timeout: float | None = None) -> bool:
        """Wait for a background replay to finish (tests, shutdown); True when none is running."""
        thread = self._replay_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    @property
    def breaker_open(self) -> bool:
        until = self._open_until
        return until is not None and self._monotonic() < until

    # -- internals --------------------------------------------------------------------------

    @property
    def queue(self) -> rq.Queue:
        """The RQ queue on the fail-fast connection (created on first use; no I/O)."""
        with self._lock:
            if self._queue is None:
                # fail_fast: 100 ms connect/socket timeouts and no retry loop.
                self._queue = make_queue(self.queue_name, connect(self.redis_url, fail_fast=True))
            return self._queue

    def _send(self, events: list[dict[str, Any]]) -> None:
        """Enqueue one job, raising on failure (the spool's replay callback)."""
        if self.breaker_open:
            raise redis.ConnectionError("circuit breaker open: Redis failed recently")
        try:
            enqueue_events(self.queue, events)
        except REDIS_FAILURES:
            self._trip()
            raise

    def _try_enqueue(self, events: list[dict[str, Any]]) -> bool:
        """Enqueue one job; False (and the breaker tripped) when Redis could not take it."""
        if self.breaker_open:
            return False
        try:
            self._send(events)
        except REDIS_FAILURES as error:
            log.warning("costlog: Redis at %s unavailable (%s); spooling %d event(s) to %s",
                        redact(self.redis_url), scrub(str(error), self.redis_url), len(events),
                        self.spool.directory)
            return False
        return True

    def _trip(self) -> None:
        self._open_until = self._monotonic() + constants.BREAKER_OPEN_SECONDS

    def _maybe_replay(self) -> None:
        """Start a background replay when the spool holds events and none is running."""
        if not self.spool.has_pending():
            return
        with self._lock:
            if self._replay_thread is not None and self._replay_thread.is_alive():
                return
            # Daemon: an exit mid-replay only means a harmless re-send next time (event_id).
            thread = threading.Thread(target=self._replay_in_background,
                                      name="costlog-spool-replay", daemon=True)
            self._replay_thread = thread
        thread.start()

    def _replay_in_background(self) -> None:
        try:
            sent = self.replay_spool()
        except REDIS_FAILURES as error:
            log.warning("costlog: spool replay stopped, Redis unavailable (%s); will retry",
                        scrub(str(error), self.redis_url))
            return
        except Exception:  # a daemon thread has no caller to raise to
            log.exception("costlog: spool replay failed")
            return
        if sent:
            log.info("costlog: replayed %d spooled event(s)", sent)


def _validate(event: dict[str, Any] | CostEvent, *, fill_id: FillId) -> CostEvent:
    if isinstance(event, CostEvent):
        return event
    return parse_event(event, now=clock.now(), fill_id=fill_id)


# -- module-level API: `from ingest import publish, publish_many` ---------------------------

_default: Publisher | None = None
_default_lock = threading.Lock()


#: What publishing reads of the settings; no other variable can make ``publish`` raise.
PUBLISH_SETTINGS = ("db_path", "redis_url", "queue_name", "spool_dir")


def default_publisher() -> Publisher:
    """The process-wide Publisher, built from the environment on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Publisher.from_settings(Settings.from_env(only=PUBLISH_SETTINGS))
    return _default


def set_default_publisher(publisher: Publisher | None) -> Publisher | None:
    """Replace the process-wide Publisher (tests, embedding); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, publisher
    return previous


def publish(event: dict[str, Any] | CostEvent) -> str:
    """Validate and publish one event with the default Publisher; returns its event_id."""
    return default_publisher().publish(event)


def publish_many(
    events: Iterable[dict[str, Any] | CostEvent], *, fill_id: FillId = "uuid"
) -> list[str]:
    """Validate and publish many events in one job per 1,000; returns their event_ids."""
    return default_publisher().publish_many(events, fill_id=fill_id)
