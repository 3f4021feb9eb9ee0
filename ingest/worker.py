"""The costlog worker: RQ's ``SimpleWorker`` wrapped in a loop that outlives Redis outages.

Why ``SimpleWorker`` (no fork per job): the forking ``Worker`` runs about 80 jobs/s on two
cores, ``SimpleWorker`` 300-430/s (docs/benchmarks.md), and the job function is costlog's own
(the job class refuses any other), so a fork's isolation buys nothing. It also keeps one SQLite
connection and price table per process instead of one per job.

Why a loop around ``work()``: stock RQ exits at start when Redis is unreachable and leaves its
work loop on a connection error. Here a worker started while Redis is down waits for it, one
whose Redis goes away reconnects, and only burst completion or SIGINT/SIGTERM ends it.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import redis
from rq import utils
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker import SimpleWorker

from costlog import clock, constants
from costlog.redaction import redact, scrub
from costlog.settings import Settings
from ingest import alerts, health, job
from ingest.job import CostlogJob
from ingest.queue import alerts_queue_name, make_queue
from ingest.redis_conn import connect

log = logging.getLogger("costlog.worker")

#: Errors meaning "Redis is not reachable right now" (AuthenticationError is a ConnectionError).
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: RQ re-runs a job held in a queue's intermediate list this long after it first noticed it.
RQ_INTERMEDIATE_GRACE_SECONDS = 60
#: A job still in the intermediate list after this long (about one maintenance) is stuck.
INTERMEDIATE_STUCK_SECONDS = constants.MAINTENANCE_INTERVAL_SECONDS - 1
#: How long the thread listening for RQ's worker commands waits at a time.
PUBSUB_WAIT_SECONDS = 1.0


#: RQ's INFO lines about each job: taken (with its description, which holds the job's
#: arguments: the events), done, and how long its result is kept.
RQ_PER_JOB_MESSAGES = frozenset({
    "Worker %s: %s: %s (%s)", "Worker %s: %s: %s",
    "Successfully completed %s job in %ss on worker %s",
    "Successfully completed job %s in %ss on worker %s",
    "Worker %s: job %s result discarded immediately",
    "Worker %s: job %s result is kept for %s seconds",
})


class PerJobAtDebug(logging.Filter):
    """Makes RQ's per-job lines DEBUG records (shown with -v): at the default level, one line
    per job buries everything else, ``costlog up``'s address among it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.msg in RQ_PER_JOB_MESSAGES:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            # RQ sets its own logger to INFO: costlog's level (-v) is the root logger's.
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def quiet_per_job_lines() -> None:
    """Install :class:`PerJobAtDebug` on RQ's worker logger (once)."""
    rq_log = logging.getLogger("rq.worker")
    if not any(isinstance(found, PerJobAtDebug) for found in rq_log.filters):
        rq_log.addFilter(PerJobAtDebug())


class CostlogWorker(SimpleWorker):
    """SimpleWorker that reports stop signals, replays the spool, and runs in any thread."""

    # RQ's own reconnect wait inside its dequeue loop: cap it like ours.
    max_connection_wait_time = constants.WORKER_RECONNECT_MAX_SECONDS

    def __init__(self, *args: Any, stop: threading.Event,
                 replay_spool: Callable[[], object] | None = None,
                 settings: Settings | None = None, sweeps: bool = True, **kwargs: Any) -> None:
        # Set before RQ's __init__, which already reads dequeue_timeout.
        self.stop_event = stop
        self.replayer = _Replayer(replay_spool)
        self.settings = settings
        self.sweeps = sweeps  # the alert sweep: the events' workers, not the alert worker
        self.last_sweep: float | None = None
        self.write_failing = False
        super().__init__(*args, **kwargs)
        self.push_exc_handler(self._note_write_error)
        if threading.current_thread() is not threading.main_thread():
            # RQ's default job timeout uses SIGALRM, which only the main thread can set.
            self.death_penalty_class = TimerDeathPenalty

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        # RQ's SimpleWorker uses job timeout + 60 s (90 s): a dead worker's job then waits ~93 s
        # for its re-run (measured, tests/faults/test_fault_worker_kill.py). This TTL still outlives
        # any live job (see constants.EXECUTION_TTL_SECONDS).
        return constants.EXECUTION_TTL_SECONDS

    def clean_registries(self) -> None:
        # RQ takes a job in two steps: its id moves to the queue's intermediate list (and an
        # execution is registered), then the job is marked started and leaves the list. A job
        # whose worker died, or lost Redis, between the two is stuck in the list. RQ re-runs it
        # only once the list has held it for a minute from when maintenance first noticed it,
        # and does not start that clock while the execution is registered: measured, a job lost
        # that way ran again after ~137 s, beyond the promised two minutes; one lost before its
        # execution was registered (e.g. Redis restarted) after ~63 s (tests/faults/).
        # A live worker moves a job through the list in milliseconds, so here a job still there
        # one maintenance later is stuck: its clock is started at once and, when it is seen
        # again, set back so that RQ's own clean-up (just below, under its lock) re-runs it now.
        for queue in self.queues:
            intermediate = queue.intermediate_queue
            for job_id in intermediate.get_job_ids():
                first_seen = intermediate.get_first_seen(job_id)
                if first_seen is None:
                    intermediate.set_first_seen(job_id)
                elif (utils.now() - first_seen).total_seconds() >= INTERMEDIATE_STUCK_SECONDS:
                    self.connection.set(intermediate.get_first_seen_key(job_id),
                                        time.time() - RQ_INTERMEDIATE_GRACE_SECONDS - 1,
                                        ex=24 * 3600)
        super().clean_registries()

    def subscribe(self) -> None:
        # RQ's own, but listening for commands in 1 s waits rather than 60 s ones: redis-py 8
        # stops the listening thread only once its wait ends, so every worker's exit (a burst
        # run, SIGTERM, `costlog up` stopping) took a minute.
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_WAIT_SECONDS, daemon=True,
            exception_handler=self._pubsub_exception_handler)

    def execute_job(self, job: Any, queue: Any) -> None:
        # A job belongs to the queue it was taken from, whatever its hash claims: its failure
        # must land in this queue's failed registry, where `rq info` and /healthz look.
        if job.origin != queue.name:
            job.origin = queue.name
        super().execute_job(job, queue)

    def _note_write_error(self, job: Any, exc_type: Any, exc_value: BaseException | None,
                          traceback: Any) -> bool:
        # A database that refuses writes (disk full, read-only) is visible in /healthz at once,
        # not only when the retries run out (ingest/health.py).
        error = health.database_write_error(exc_value)
        if error is not None:
            self._report_write_health(error)
        return True

    def handle_job_success(self, job: Any, queue: Any, started_job_registry: Any,
                           execution: Any) -> None:
        super().handle_job_success(job, queue, started_job_registry, execution)
        if self.write_failing:
            self._report_write_health(None)

    def register_death(self) -> None:
        if self.write_failing:
            self._report_write_health(None)  # a stopped worker's error is no longer current
        super().register_death()

    def _report_write_health(self, error: str | None) -> None:
        # Under the events' queue, also from the alert worker: /healthz reads that one.
        queue_name = self.settings.queue_name if self.settings else self.queues[0].name
        try:
            if error is None:
                health.clear(self.connection, queue_name, self.name)
            else:
                health.record(self.connection, queue_name, self.name, error, clock.now())
        except REDIS_DOWN:
            return  # reported again on the next job
        self.write_failing = error is not None

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # Tell the outer loop this was a stop, not a dropped connection.
        self.stop_event.set()
        super().request_stop(signum, frame)

    def _install_signal_handlers(self) -> None:
        # signal.signal only works in the main thread (tests and embedders run us elsewhere).
        if threading.current_thread() is threading.main_thread():
            super()._install_signal_handlers()

    @property
    def dequeue_timeout(self) -> int:
        # Wake at least every replay interval so the spool is replayed while idle, and every
        # sweep interval for the alert sweep.
        wait = min(super().dequeue_timeout, constants.ALERT_SWEEP_SECONDS)
        if self.replayer.enabled:
            wait = min(wait, constants.SPOOL_REPLAY_SECONDS)
        return max(1, wait)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        # Plain heartbeats come from the idle loop and after each job, never mid-job.
        plain = timeout is None and pipeline is None
        if plain:
            self._stop_if_asked()
        super().heartbeat(timeout, pipeline=pipeline)
        if plain:
            self.replayer.maybe_run()
            self.maybe_sweep()
            self._stop_if_asked()

    def maybe_sweep(self) -> None:
        """Every ALERT_SWEEP_SECONDS: enqueue alerts left unqueued, rewrite the budget state."""
        due = self.last_sweep is None or (
            time.monotonic() - self.last_sweep >= constants.ALERT_SWEEP_SECONDS)
        if self.settings is None or not self.sweeps or not due:
            return
        self.last_sweep = time.monotonic()
        try:
            name = self.settings.queue_name
            alerts.sweep(job.get_context().db, self.connection, name, self.settings,
                         make_queue(alerts_queue_name(name), self.connection))
        except Exception as error:  # noqa: BLE001 - a sweep problem must not stop the worker
            log.warning("alert sweep failed: %s: %s", type(error).__name__,
                        scrub(str(error), self.settings.redis_url))

    def _stop_if_asked(self) -> None:
        # ``stop`` set from another thread (signals raise StopRequested themselves).
        if self.stop_event.is_set():
            raise StopRequested()


class _Replayer:
    """Calls ``replay_spool`` at most every SPOOL_REPLAY_SECONDS; its errors are logged only."""

    def __init__(self, replay_spool: Callable[[], object] | None) -> None:
        self.replay_spool = replay_spool
        self.last_run: float | None = None
        self.redis_url: str | None = None

    @property
    def enabled(self) -> bool:
        return self.replay_spool is not None

    def maybe_run(self) -> None:
        due = self.last_run is None or (
            time.monotonic() - self.last_run >= constants.SPOOL_REPLAY_SECONDS
        )
        if self.enabled and due:
            self.run()

    def run(self) -> None:
        if self.replay_spool is None:
            return
        self.last_run = time.monotonic()
        try:
            self.replay_spool()
        except Exception as error:  # noqa: BLE001 - a spool problem must not stop the worker
            log.warning("spool replay failed: %s: %s", type(error).__name__,
                        scrub(str(error), self.redis_url))


def reconnect_delay(attempt: int) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based): doubling, capped."""
    delay = constants.WORKER_RECONNECT_BASE_SECONDS * 2 ** min(attempt, 16)
    return min(delay, constants.WORKER_RECONNECT_MAX_SECONDS)


def worked_queue(settings: Settings, deliveries: bool) -> str:
    """The events' queue, or with ``deliveries`` its alerts queue."""
    return alerts_queue_name(settings.queue_name) if deliveries else settings.queue_name


def build_worker(settings: Settings, connection: redis.Redis, stop: threading.Event,
                 replay_spool: Callable[[], object] | None = None, *,
                 deliveries: bool = False) -> CostlogWorker:
    """A worker on ``settings.queue_name`` (``deliveries``: on its alerts queue) with costlog's
    job class, serializer and tuning."""
    quiet_per_job_lines()
    worker = CostlogWorker(
        [make_queue(worked_queue(settings, deliveries), connection)],
        connection=connection,
        job_class=CostlogJob,
        serializer=JSONSerializer,
        worker_ttl=constants.WORKER_TTL_SECONDS,
        maintenance_interval=constants.MAINTENANCE_INTERVAL_SECONDS,
        default_result_ttl=constants.RESULT_TTL_SECONDS,
        stop=stop,
        replay_spool=replay_spool,
        settings=settings,
        sweeps=not deliveries,
    )
    worker.replayer.redis_url = settings.redis_url
    return worker


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any] | None:
    """Route SIGINT/SIGTERM to ``stop`` between work rounds; None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    for sig in _STOP_SIGNALS:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    return previous


def _restore_handlers(previous: dict[int, Any] | None) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)


def _release_scheduler_locks(connection: redis.Redis, queue_name: str,
                             schedulers: set[str]) -> None:
    """Free the scheduler lock our earlier rounds' schedulers may still hold.

    A scheduler that stops while Redis is away cannot release its lock; after a Redis restart
    the lock (kept by the AOF, 61 s TTL) then keeps this worker's new scheduler from starting,
    and every retry waits: measured, a re-run job waited ~45 s for it
    (tests/faults/test_fault_redis.py). Only a lock still held by one of our own, stopped,
    schedulers is deleted (compare-and-delete).
    """
    for name in schedulers:
        release_lock(connection, RQScheduler.get_locking_key(queue_name), name)
    schedulers.clear()


def _work_round(settings: Settings, stop: threading.Event, burst: bool,
                replay_spool: Callable[[], object] | None,
                stale_schedulers: set[str] | None = None, deliveries: bool = False) -> bool:
    """Connect and run one RQ work loop; True when the worker should end (done or stopped)."""
    assert settings.redis_url
    stale_schedulers = set() if stale_schedulers is None else stale_schedulers
    queue_name = worked_queue(settings, deliveries)
    connection = connect(settings.redis_url)
    try:
        connection.ping()  # RQ would die on an unreachable Redis: fail here instead
        log.info("connected to %s, queue %r", redact(settings.redis_url), queue_name)
        _release_scheduler_locks(connection, queue_name, stale_schedulers)
        worker = build_worker(settings, connection, stop, replay_spool, deliveries=deliveries)
        if burst and replay_spool is not None:
            worker.replayer.run()  # one replay first, so spooled events are worked on too
        worker.maybe_sweep()  # the gate's state is complete from the start
        try:
            worker.work(burst=burst, with_scheduler=True)
        finally:
            # RQ's handlers point at this worker; ours must cover the wait before the next.
            _install_stop_handlers(stop)
            if worker.scheduler is not None:
                stale_schedulers.add(worker.scheduler.name)
        if stop.is_set():
            return True
        # RQ leaves work() quietly on a lost connection: only a reachable Redis means "done".
        connection.ping()
        return burst
    finally:
        connection.close()


def run_worker(settings: Settings, *, burst: bool = False,
               replay_spool: Callable[[], object] | None = None,
               stop: threading.Event | None = None, deliveries: bool = False) -> None:
    """Work the queue until burst completion or SIGINT/SIGTERM (or ``stop`` is set); with
    ``deliveries``, the alerts queue (``<queue>-alerts``): the alert worker.

    Migrates the database once and installs the job context, then runs RQ rounds; whenever Redis
    is unreachable it logs (password masked), waits a bounded backoff and tries again.
    """
    if not settings.redis_url:
        raise ValueError("no Redis URL: set COSTLOG_REDIS_URL")
    stop = stop or threading.Event()
    context = job.open_context(settings.db_path, settings.prices_path, settings)
    previous_context = job.set_context(context)
    previous_handlers = _install_stop_handlers(stop)
    try:
        _run_rounds(settings, stop, burst, replay_spool, deliveries)
    finally:
        _restore_handlers(previous_handlers)
        job.set_context(previous_context)
        context.db.close()
    log.info("worker stopped")


def _run_rounds(settings: Settings, stop: threading.Event, burst: bool,
                replay_spool: Callable[[], object] | None, deliveries: bool) -> None:
    attempt = 0
    stale_schedulers: set[str] = set()
    while not stop.is_set():
        started = time.monotonic()
        try:
            if _work_round(settings, stop, burst, replay_spool, stale_schedulers, deliveries):
                return
            reason = "the work loop ended (connection lost?)"
        except REDIS_DOWN as error:
            reason = f"{type(error).__name__}: {scrub(str(error), settings.redis_url)}"
        if time.monotonic() - started > constants.WORKER_RECONNECT_MAX_SECONDS:
            attempt = 0  # it had been working: start the backoff over
        delay = reconnect_delay(attempt)
        attempt += 1
        log.warning("Redis unavailable at %s (%s); retrying in %.1f s",
                    redact(settings.redis_url or ""), reason, delay)
        stop.wait(delay)
