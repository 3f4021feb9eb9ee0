"""The jobs the costlog worker runs, and the job class that refuses every other one.

Two functions are allowed: :func:`record_events` (cost events into the store) and
:func:`deliver_alert` (one budget alert to one configured webhook).

RQ imports a job's function from the name stored in Redis, so anyone who can write to Redis could
name ``os.system``. :class:`CostlogJob` checks the name before anything is
imported; it is given as ``job_class`` to both the queue and the worker.

It also reads any job hash without raising: RQ's own ``Job.restore`` raises on a malformed field
(``status``, a date, an integer) while the worker dequeues or cleans its registries, which ends
the worker's loop on every attempt and leaves the job stuck
(tests/faults/test_fault_hostile.py). Here such a job loads as a *defective* job that fails at
once, without retries, into the failed registry with the reason, and its hash is rewritten in
RQ's own shape.
"""

import logging
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rq
from rq.exceptions import DeserializationError
from rq.job import Job, get_current_job
from rq.utils import decode_redis_hash

from costlog import clock, constants
from costlog.domain.event import CostEvent, InvalidEvent, parse_event
from costlog.domain.pricing import PriceTable, load_prices
from costlog.errors import CostlogError
from costlog.settings import Settings

if TYPE_CHECKING:
    import sqlite_utils

    from costlog.domain.alerts import BudgetState
    from costlog.store.write import WriteResult

log = logging.getLogger("costlog.worker")


class JobRefused(CostlogError):
    """The job names a function that is not allowed (:data:`ALLOWED_FUNCTIONS`)."""


class InvalidJob(CostlogError, ValueError):
    """The job's payload breaks the event contract; retrying cannot fix it."""


#: Failures that retrying cannot fix: the worker marks them failed at once.
PERMANENT_FAILURES = (JobRefused, InvalidJob)

#: Hash field that keeps a defective job refused after its hash is rewritten (RQ ignores it).
DEFECT_FIELD = "costlog_defect"


def _shorten(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: hostile names can be megabytes long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _bounded_data(raw: Any) -> tuple[bytes, str | None]:
    """A job's data, decompressed to at most MAX_JOB_DATA_BYTES (no zlib bomb), and a defect."""
    if raw is None:
        return b"", "job hash has no data"
    if not isinstance(raw, bytes):
        raw = str(raw).encode()
    limit = constants.MAX_JOB_DATA_BYTES
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, limit + 1)
        if not inflater.eof and len(data) <= limit:
            data = raw  # a truncated stream: RQ, too, reads it as uncompressed data
    except zlib.error:
        data = raw  # RQ's fallback: data stored uncompressed
    if len(data) > limit:
        return b"", f"job data larger than {limit} bytes"
    return data, None


def _salvage(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields of an unreadable hash RQ needs to fail the job in the right place."""
    kept: dict[str, Any] = {"data": b""}
    origin = obj.get("origin")
    try:
        if isinstance(origin, bytes) and origin.decode():
            kept["origin"] = origin
    except UnicodeDecodeError:
        pass
    return kept


class CostlogJob(Job):
    """An RQ job that only ever runs an allowed function, read from any hash safely."""

    #: Why this job cannot run at all (unreadable hash or data); None for a well-formed job.
    defect: str | None = None
    #: The data field as read from Redis, and the data it holds (see :meth:`to_dict`).
    _stored_data: tuple[bytes, bytes] | None = None
    #: Budgets' month spend this job committed, for the gate (see :meth:`_handle_success`).
    gate_states: tuple["BudgetState", ...] = ()

    # -- loading: never raise on what another Redis writer put there ------------------------

    def restore(self, raw_data: Any) -> None:
        obj = decode_redis_hash(raw_data)
        data, defect = _bounded_data(obj.get("data"))
        marked = obj.get(DEFECT_FIELD)
        if marked:
            # Refused before: it stays refused, even once re-queued with a readable hash.
            defect = bytes(marked).decode("utf-8", "replace")
        try:
            # The data is decompressed above, boundedly; RQ's restore must not inflate it again.
            super().restore({**obj, "data": b""})
        except Exception as error:  # noqa: BLE001 - any malformed field: refuse, never crash
            reason = f"{type(error).__name__}: {_shorten(str(error))}"
            defect = defect or f"unreadable job hash: {reason}"
            super().restore(_salvage(obj))
        self.data = data
        self.defect = defect
        stored = obj.get("data")
        self._stored_data = (stored, data) if isinstance(stored, bytes) and not defect else None
        if self.description and len(self.description) > 200:
            self.description = self.description[:200] + "..."
        # The worker's own limits, whatever the hash says (it may be hostile).
        self.timeout = constants.JOB_TIMEOUT_SECONDS
        self.failure_ttl = constants.FAILED_JOB_TTL_SECONDS
        if defect:
            self._refuse_retries()

    def _deserialize_data(self) -> None:
        if self.defect is None:
            try:
                super()._deserialize_data()
            except DeserializationError as error:
                cause = error.__cause__ or error
                self.defect = ("job data is not JSON [function, instance, args, kwargs]: "
                               f"{type(cause).__name__}: {_shorten(str(cause))}")
        if self.defect is not None:
            # Placeholders, so logging and saving the job never raise; ``func`` refuses it.
            self._func_name, self._instance, self._args, self._kwargs = "", None, (), {}
            self._refuse_retries()

    def _refuse_retries(self) -> None:
        self.retries_left = 0
        self.retry_intervals = None

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict:
        # RQ compresses the job's data again on every save, a noticeable part of recording a
        # large job. Data that is still the data read from Redis is written back in the form
        # it was read.
        stored = self._stored_data
        if stored is None or self._data is not stored[1]:
            return super().to_dict(include_meta=include_meta, include_result=include_result)
        self._data = b""  # what RQ's to_dict compresses now; the data is put back below
        try:
            obj = super().to_dict(include_meta=include_meta, include_result=include_result)
        finally:
            self._data = stored[1]
        obj["data"] = stored[0]
        return obj

    def save(self, pipeline: Any = None, include_meta: bool = True,
             include_result: bool = True) -> None:
        if self.defect is None:
            super().save(pipeline=pipeline, include_meta=include_meta,
                         include_result=include_result)
            return
        # Rewrite the hash whole, so no malformed field is left for the next reader (plain RQ
        # in `rq info` / `rq requeue` included), and mark it: a re-queued defective job is
        # refused again rather than run. Its data is kept as it came, for inspection.
        connection = pipeline if pipeline is not None else self.connection
        connection.delete(self.key)
        super().save(pipeline=pipeline, include_meta=include_meta, include_result=include_result)
        connection.hset(self.key, DEFECT_FIELD, self.defect)

    # -- running: only the allowed functions, with their arguments --------------------------

    @property
    def func(self) -> Callable[..., Any]:
        # Checked before RQ's import_attribute: a refused name is never imported.
        self._check_allowed()
        return ALLOWED_FUNCTIONS[self.func_name]

    def _check_allowed(self) -> None:
        name = self.func_name  # deserializes the data, which may find a defect
        if self.defect is not None:
            raise JobRefused(f"job refused: {self.defect}")
        if name not in ALLOWED_FUNCTIONS:
            allowed = " or ".join(repr(function) for function in ALLOWED_FUNCTIONS)
            raise JobRefused(f"job refused: function {_shorten(name)} is not {allowed}")
        if self.instance is not None:
            raise JobRefused("job refused: jobs bound to an instance are not allowed")
        callbacks = (self._success_callback_name, self._failure_callback_name,
                     self._stopped_callback_name)
        if any(callbacks):
            raise JobRefused("job refused: callbacks are not allowed")
        if self.webhooks:
            raise JobRefused("job refused: webhooks are not allowed")
        if self.repeats_left:
            raise JobRefused("job refused: repeating jobs are not allowed")

    def _check_arguments(self) -> None:
        args, kwargs = self.args, self.kwargs
        if self.func_name == constants.DELIVER_FUNCTION:
            if isinstance(args, list | tuple) and len(args) == 2 and not kwargs \
                    and all(isinstance(arg, str) for arg in args):
                return
            raise InvalidJob("job arguments: deliver_alert takes two strings, an alert id and"
                             " a webhook key")
        if isinstance(args, list | tuple) and len(args) == 1 and not kwargs:
            return
        if isinstance(args, list | tuple) and not args and isinstance(kwargs, dict) \
                and list(kwargs) == ["events"]:
            return
        raise InvalidJob("job arguments: record_events takes one argument, a list of events")

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

    # Webhooks are HTTP requests to URLs named in the hash; costlog never sets any.
    def send_webhooks(self, status: Any, *, exc_string: str | None = None) -> None:
        return None

    def _handle_success(self, result_ttl: Any, pipeline: Any, *args: Any, **kwargs: Any) -> None:
        # RQ marks a finished job in one Redis transaction; the gate's state joins it rather
        # than costing a round trip of its own after every commit (see record_events).
        super()._handle_success(result_ttl, pipeline, *args, **kwargs)
        if self.gate_states:
            from ingest import gate

            gate.queue_states(pipeline, self.origin, self.gate_states)

    def _execute(self) -> Any:
        try:
            self._check_allowed()
            self._check_arguments()
            return super()._execute()
        except PERMANENT_FAILURES:
            # The worker decides to retry from retries_left on this very object; a refused or
            # invalid job fails at once instead of burning its retries.
            self.retries_left = 0
            raise


@dataclass(frozen=True)
class JobContext:
    """What the job functions work with: one connection, price table and settings per process
    (the settings name the alert webhooks and their secret)."""

    db: "sqlite_utils.Database"
    prices: PriceTable
    settings: Settings = Settings()


_context: JobContext | None = None
_context_lock = threading.Lock()


def open_context(db_path: Path, prices_path: Path | None,
                 settings: Settings | None = None) -> JobContext:
    """Connect to and migrate ``db_path``, load the prices."""
    # The store is imported here, not at the top: the executor's ``from ingest import publish``
    # reaches this module through the queue's job class and must not load SQLite.
    from costlog.store.connection import connect
    from costlog.store.migrations import migrate

    db = connect(db_path)
    migrate(db)
    return JobContext(db=db, prices=load_prices(prices_path), settings=settings or Settings())


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
            _context = open_context(settings.db_path, settings.prices_path, settings)
        return _context


def _parse_all(events: list[Any]) -> tuple[dict[int, CostEvent], list[str]]:
    """The valid events by their index in the job, and the invalid ones' reasons."""
    now = clock.now()
    valid: dict[int, CostEvent] = {}
    errors: list[str] = []
    for index, payload in enumerate(events):
        try:
            valid[index] = parse_event(payload, now=now, fill_id="hash")
        except InvalidEvent as error:
            errors.append(f"event {index}: {error}")
    return valid, errors


def _failure_message(errors: list[str], total: int, result: "WriteResult") -> str:
    shown = errors[: constants.INVALID_EVENTS_REPORTED]
    more = len(errors) - len(shown)
    tail = f"; and {more} more" if more else ""
    refused = len(result.refused)
    what = ("invalid" if not refused else "refused" if refused == len(errors)
            else "invalid or refused")
    return (
        f"{len(errors)} of {total} events {what} (valid ones recorded: inserted "
        f"{result.inserted}, duplicates {result.duplicates}): {'; '.join(shown)}{tail}"
    )


def record_events(events: list[dict[str, Any]]) -> dict[str, int]:
    """Record ``events`` (wire dicts); the valid ones commit even when some are invalid.

    Transient errors (locked or unreadable database) propagate so RQ retries with backoff; any
    invalid event, or one refused because a stored sum would leave its exact range, raises
    :class:`InvalidJob` naming its index and field, after the others are written.
    """
    if not isinstance(events, list):
        raise InvalidJob(f"events: must be an array of events, got {type(events).__name__}")
    if len(events) > constants.MAX_EVENTS_PER_JOB:
        raise InvalidJob(f"events: at most {constants.MAX_EVENTS_PER_JOB} per job,"
                         f" got {len(events)}")
    from costlog.store import write  # in the worker only: see open_context

    valid, errors = _parse_all(events)
    result = write.WriteResult(inserted=0, duplicates=0)
    if valid:
        context = get_context()
        result = write.record_events(context.db, list(valid.values()), context.prices)
        job = get_current_job()
        if result.decision.states and job is not None:  # outside a job, the sweep does both
            from ingest import alerts

            alerts.after_commit(context.db, context.settings, result.decision,
                                _alerts_queue(job))
            # A job that succeeds writes the gate's state as RQ marks it finished; one that
            # fails below writes it now.
            if isinstance(job, CostlogJob) and not (errors or result.refused):
                job.gate_states = result.decision.states
            else:
                alerts.publish_states(job.connection, job.origin, result.decision)
    if result.refused:
        index_of = {event.event_id: index for index, event in valid.items()}
        errors += [f"event {index_of[refusal.event_id]}: {refusal.reason}"
                   for refusal in result.refused]
    if errors:
        raise InvalidJob(_failure_message(errors, len(events), result))
    log.debug("recorded %d events (%d duplicates, %d revised)", result.inserted,
              result.duplicates, result.revised)
    return {"inserted": result.inserted, "duplicates": result.duplicates,
            "revised": result.revised}


def _alerts_queue(job: Job) -> rq.Queue:
    """The queue of the deliveries that ``job``'s events fire: ``<its queue>-alerts``, on its
    connection, with its job class and serializer."""
    return rq.Queue(f"{job.origin}{constants.ALERTS_QUEUE_SUFFIX}", connection=job.connection,
                    job_class=type(job), serializer=job.serializer)


def deliver_alert(alert_id: str, url_key: str) -> str:
    """POST alert ``alert_id`` to the configured webhook whose key is ``url_key``.

    A failed attempt raises, so RQ retries it with backoff (``ingest.alerts.delivery_retry``);
    the last one is recorded as failed.
    """
    from ingest import alerts

    try:
        context = get_context()
        return alerts.deliver(context.db, context.settings, alert_id, url_key, get_current_job())
    except alerts.UnknownDelivery as error:
        raise InvalidJob(str(error)) from None


#: The functions a job may name, by the dotted name stored in Redis.
ALLOWED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    constants.JOB_FUNCTION: record_events,
    constants.DELIVER_FUNCTION: deliver_alert,
}
