"""The one job the costlog worker runs, and the job class that refuses every other one.

RQ imports a job's function from the name stored in Redis, so anyone who can write to Redis could
name ``os.system`` (LIBRARY-NOTES). :class:`CostlogJob` checks the name before anything is
imported; it is given as ``job_class`` to both the queue and the worker.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from rq.job import Job

from ingest import clock, constants, store
from ingest.database import connect
from ingest.event import CostEvent, InvalidEvent, parse_event
from ingest.migrations import migrate
from ingest.pricing import PriceTable, load_prices
from ingest.settings import Settings

log = logging.getLogger("costlog.worker")


class JobRefused(Exception):
    """The job names a function other than :data:`constants.JOB_FUNCTION`."""


class InvalidJob(ValueError):
    """The job's payload breaks the event contract; retrying cannot fix it."""


#: Failures that retrying cannot fix: the worker marks them failed at once.
PERMANENT_FAILURES = (JobRefused, InvalidJob)


class CostlogJob(Job):
    """An RQ job that only ever runs :data:`constants.JOB_FUNCTION`."""

    @property
    def func(self) -> Callable[..., Any]:
        # Checked before RQ's import_attribute: a refused name is never imported.
        self._check_allowed()
        return record_events

    def _check_allowed(self) -> None:
        if self.func_name != constants.JOB_FUNCTION:
            raise JobRefused(
                f"job refused: function {self.func_name!r} is not {constants.JOB_FUNCTION!r}"
            )
        if self.instance is not None:
            raise JobRefused("job refused: jobs bound to an instance are not allowed")
        callbacks = (self._success_callback_name, self._failure_callback_name,
                     self._stopped_callback_name)
        if any(callbacks):
            raise JobRefused("job refused: callbacks are not allowed")

    # Callbacks are imported by name too; costlog never sets them, so none is ever imported.
    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    def _execute(self) -> Any:
        try:
            return super()._execute()
        except PERMANENT_FAILURES:
            # The worker decides to retry from retries_left on this very object; a refused or
            # invalid job fails at once instead of burning its retries.
            self.retries_left = 0
            raise


@dataclass(frozen=True)
class JobContext:
    """What the job function writes with: one connection and price table per process."""

    db: sqlite_utils.Database
    prices: PriceTable


_context: JobContext | None = None
_context_lock = threading.Lock()


def open_context(db_path: Path, prices_path: Path | None) -> JobContext:
    """Connect to and migrate ``db_path``, load the prices."""
    db = connect(db_path)
    migrate(db)
    return JobContext(db=db, prices=load_prices(prices_path))


def set_context(context: JobContext | None) -> JobContext | None:
    """Install the process-level context (the worker, tests); returns the previous one."""
    global _context
    with _context_lock:
        previous, _context = _context, context
    return previous


def get_context() -> JobContext:
    """The installed context, else one built from the environment (a plain ``rq worker``)."""
    global _context
    with _context_lock:
        if _context is None:
            settings = Settings.from_env()
            _context = open_context(settings.db_path, settings.prices_path)
        return _context


def _parse_all(events: list[Any]) -> tuple[list[CostEvent], list[str]]:
    now = clock.now()
    valid: list[CostEvent] = []
    errors: list[str] = []
    for index, payload in enumerate(events):
        try:
            valid.append(parse_event(payload, now=now, fill_id="hash"))
        except InvalidEvent as error:
            errors.append(f"event {index}: {error}")
    return valid, errors


def _invalid_message(errors: list[str], total: int, result: store.WriteResult) -> str:
    shown = errors[: constants.INVALID_EVENTS_REPORTED]
    more = len(errors) - len(shown)
    tail = f"; and {more} more" if more else ""
    return (
        f"{len(errors)} of {total} events invalid (valid ones recorded: inserted "
        f"{result.inserted}, duplicates {result.duplicates}): {'; '.join(shown)}{tail}"
    )


def record_events(events: list[dict[str, Any]]) -> dict[str, int]:
    """Record ``events`` (wire dicts); the valid ones commit even when some are invalid.

    Transient errors (locked or unreadable database) propagate so RQ retries with backoff; any
    invalid event raises :class:`InvalidJob` naming its index and field, after the valid ones
    are written.
    """
    if not isinstance(events, list):
        raise InvalidJob(f"events: must be an array of events, got {type(events).__name__}")
    valid, errors = _parse_all(events)
    result = store.WriteResult(inserted=0, duplicates=0)
    if valid:
        context = get_context()
        result = store.record_events(context.db, valid, context.prices)
    if errors:
        raise InvalidJob(_invalid_message(errors, len(events), result))
    log.debug("recorded %d events (%d duplicates)", result.inserted, result.duplicates)
    return {"inserted": result.inserted, "duplicates": result.duplicates}
