"""What the app holds for its lifetime: settings, the publisher, a Redis client, metrics, the
heavy reads' limiter.

The lifespan opens them at start-up and closes them at shutdown; each is also created on first
use, so the app answers even when a server (or a test) does not run the lifespan.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from api import errors
from api.limits import QueryLimiter
from api.metrics import Metrics, Scrape
from costlog import clock
from costlog.settings import Settings
from costlog.store import alerts as store_alerts
from costlog.store import connection, queries
from costlog.store.alerts import Decision
from ingest import alerts as ingest_alerts
from ingest import health, redis_conn
from ingest.client import Publisher
from ingest.queue import alerts_queue_name, make_queue

log = logging.getLogger("costlog.api")

#: How long shutdown waits for a background spool replay the publisher started.
SHUTDOWN_REPLAY_WAIT = 5.0


@dataclass(frozen=True)
class StoredCounts:
    counters: dict[str, int]
    #: Alerts fired, deliveries pending and failed, alerts unqueued; None before the migration.
    alerts: dict[str, int] | None


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.metrics.watch(self.scrape)
        self.queries = QueryLimiter(settings.max_concurrent_queries)
        self._lock = threading.Lock()
        self._publisher: Publisher | None = None
        self._redis: redis.Redis | None = None
        self.databases = connection.Connections(settings.db_path)

    # -- lifetime ----------------------------------------------------------------------------

    def open(self) -> None:
        self.publisher  # noqa: B018 - create now rather than on the first POST
        self.redis  # noqa: B018

    def close(self) -> None:
        with self._lock:
            publisher, self._publisher = self._publisher, None
            client, self._redis = self._redis, None
        self.databases.close()
        if publisher is not None and not publisher.wait_for_replay(SHUTDOWN_REPLAY_WAIT):
            log.warning("spool replay still running at shutdown; the rest is replayed later")
        if client is not None:
            client.close()

    # -- shared clients ----------------------------------------------------------------------

    @property
    def publisher(self) -> Publisher | None:
        """The Publisher of POST /api/cost/events; None when no Redis URL is configured."""
        if self.settings.redis_url is None:
            return None
        with self._lock:
            if self._publisher is None:
                self._publisher = Publisher.from_settings(self.settings)
            return self._publisher

    @property
    def redis(self) -> redis.Redis | None:
        """The API's own Redis client (health and metrics); None when no URL is configured."""
        if self.settings.redis_url is None:
            return None
        with self._lock:
            if self._redis is None:
                self._redis = redis_conn.connect(self.settings.redis_url)
            return self._redis

    # -- database ----------------------------------------------------------------------------

    @contextmanager
    def read_db(self) -> Iterator[connection.Database]:
        """A read-only connection for one request; unreadable database → 503."""
        with self._db(readonly=True) as db:
            yield db

    @contextmanager
    def write_db(self) -> Iterator[connection.Database]:
        """A read-write connection; the database must already exist (never created here)."""
        with self._db(readonly=False) as db:
            yield db

    @contextmanager
    def _db(self, *, readonly: bool) -> Iterator[connection.Database]:
        try:
            with self.databases.open(readonly=readonly) as db:
                yield db
        except connection.DatabaseUnavailable as error:
            log.warning("database unavailable: %s", error)
            raise errors.ApiError(503, errors.UNAVAILABLE) from None

    # -- queue ---------------------------------------------------------------------------------

    def stored_counters(self) -> StoredCounts | None:
        """The database's monotonic counters and alert counts; None when it cannot be read."""
        try:
            with self.read_db() as db:
                counters = queries.read_counters(db)
                try:
                    alerts = store_alerts.counts(db)
                except connection.missing_table(db):
                    alerts = None  # a database the worker has not migrated yet
                return StoredCounts(counters, alerts)
        except errors.ApiError:
            return None

    def scrape(self) -> Scrape:
        stored = self.stored_counters()
        return Scrape(stored=None if stored is None else stored.counters,
                      alerts=None if stored is None else stored.alerts,
                      queue=self.queue_state(), database_up=stored is not None)

    def after_budget_change(self, db: connection.Database, decision: Decision) -> None:
        """After a budget's commit: enqueue the alerts it fired, update the gate's state. Without
        Redis, a worker's sweep does both."""
        client = self.redis
        if client is None:
            return
        name = self.settings.queue_name
        if decision.fired:
            ingest_alerts.enqueue_deliveries(db, make_queue(alerts_queue_name(name), client),
                                             self.settings, decision.fired)
        ingest_alerts.publish_states(client, name, decision)

    def queue_state(self) -> health.QueueState | None:
        """The queue's numbers and the workers' write errors; None when Redis cannot be asked."""
        client = self.redis
        if client is None:
            return None
        try:
            queue = make_queue(self.settings.queue_name, client)
            return health.QueueState(
                depth=queue.count,
                retrying=queue.scheduled_job_registry.get_job_count(cleanup=False),
                failed_jobs=queue.failed_job_registry.get_job_count(cleanup=False),
                write_errors=health.fresh_errors(client, self.settings.queue_name, clock.now()),
            )
        except (redis.RedisError, OSError) as error:
            # The exception text can name host and port; never the URL or its password.
            log.warning("redis unavailable: %s", type(error).__name__)
            return None
