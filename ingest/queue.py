"""The costlog queue: JSON-serialised jobs of one allowed function."""

from typing import Any

import redis
import rq
from rq.serializers import JSONSerializer

from costlog import constants
from ingest.job import CostlogJob


def make_queue(name: str, connection: redis.Redis) -> rq.Queue:
    """Queue ``name`` with costlog's job class (the allow-list) and JSON serializer (no pickle)."""
    return rq.Queue(name, connection=connection, job_class=CostlogJob, serializer=JSONSerializer)


def alerts_queue_name(queue_name: str) -> str:
    """The queue of the alert deliveries that the events of ``queue_name`` fire."""
    return f"{queue_name}{constants.ALERTS_QUEUE_SUFFIX}"


def retry_policy() -> rq.Retry:
    """Backoff for transient failures; needs a worker running the scheduler."""
    return rq.Retry(max=len(constants.RETRY_INTERVALS), interval=list(constants.RETRY_INTERVALS))


def enqueue_events(queue: rq.Queue, events: list[dict[str, Any]]) -> rq.job.Job:
    """One job recording ``events`` (wire dicts, ``CostEvent.to_json()``) in one transaction."""
    # By name, not by reference: the worker imports only this exact string.
    return queue.enqueue(
        constants.JOB_FUNCTION,
        args=(events,),
        job_timeout=constants.JOB_TIMEOUT_SECONDS,
        result_ttl=constants.RESULT_TTL_SECONDS,
        failure_ttl=constants.FAILED_JOB_TTL_SECONDS,
        retry=retry_policy(),
    )
