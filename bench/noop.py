"""RQ's floor for the ingest benchmark: the same worker class running a job that does nothing.

:class:`NoopJob` allow-lists only :func:`noop`, the way ``ingest.job.CostlogJob`` allow-lists
``record_events``; it lives here, with its own queue, so costlog's job class is not weakened.
"""

import threading
from typing import Any

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker, Worker

from costlog import constants
from ingest.queue import retry_policy
from ingest.worker import CostlogWorker

NOOP = "bench.noop.noop"


def noop(events: list[dict[str, Any]]) -> None:
    """Does nothing with the events: the floor of RQ's own per-job cost."""


class NoopJob(Job):
    """Runs only :func:`noop`; any other function name is refused before it is imported."""

    @property
    def func(self):  # noqa: ANN201 - mirrors rq.job.Job.func
        if self.func_name != NOOP:
            raise RuntimeError(f"refused {self.func_name!r}")
        return noop


def noop_queue(name: str, connection: redis.Redis) -> Queue:
    return Queue(name, connection=connection, job_class=NoopJob, serializer=JSONSerializer)


def enqueue_noop(queue: Queue, events: list[dict[str, Any]]) -> None:
    """A no-op job with the same payload and the same options as ``ingest.queue.enqueue_events``."""
    queue.enqueue(NOOP, args=(events,), job_timeout=constants.JOB_TIMEOUT_SECONDS,
                  result_ttl=constants.RESULT_TTL_SECONDS,
                  failure_ttl=constants.FAILED_JOB_TTL_SECONDS, retry=retry_policy())


def noop_worker(queue: Queue, connection: redis.Redis, kind: str = "costlog",
                replay_spool=None) -> Worker:
    """``kind="costlog"``: costlog's worker class and tuning (``ingest.worker.build_worker``)
    on the no-op queue; ``"simple"``: RQ's plain ``SimpleWorker``; ``"forking"``: RQ's default
    forking ``Worker``, both with the same tuning."""
    if kind != "costlog":
        worker_class = SimpleWorker if kind == "simple" else Worker
        return worker_class([queue], connection=connection, job_class=NoopJob,
                            serializer=JSONSerializer, worker_ttl=constants.WORKER_TTL_SECONDS,
                            maintenance_interval=constants.MAINTENANCE_INTERVAL_SECONDS,
                            default_result_ttl=constants.RESULT_TTL_SECONDS)
    return CostlogWorker([queue], connection=connection, job_class=NoopJob,
                         serializer=JSONSerializer, worker_ttl=constants.WORKER_TTL_SECONDS,
                         maintenance_interval=constants.MAINTENANCE_INTERVAL_SECONDS,
                         default_result_ttl=constants.RESULT_TTL_SECONDS,
                         stop=threading.Event(), replay_spool=replay_spool)
