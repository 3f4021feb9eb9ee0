"""Write health: workers tell /healthz when the database refuses their writes.

A full disk or a read-only database makes every job fail and retry with backoff; reads still
work, and the failed registry only counts a job once its retries run out (about 6.5 minutes).
So each worker records its last database write error in one Redis hash per queue (field: the
worker's name) and clears its field on its next successful job; /healthz reports the errors
that are still fresh.
"""

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

import redis

from costlog import constants


@dataclass(frozen=True)
class WriteError:
    worker: str
    error: str
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {"worker": self.worker, "error": self.error, "at": self.at.isoformat()}


@dataclass(frozen=True)
class QueueState:
    """What Redis says of the queue, read in one go (one failure handling for all of it)."""

    depth: int
    retrying: int  # jobs waiting for a retry (RQ's scheduled registry)
    failed_jobs: int
    write_errors: list[WriteError]  # workers' recent database write failures


def key(queue_name: str) -> str:
    return f"{constants.WRITE_ERRORS_KEY_PREFIX}{queue_name}"


def database_write_error(error: BaseException | None) -> str | None:
    """``"OperationalError: disk I/O error"`` when ``error`` (or its cause) is a write failure.

    Lock contention is not one: it resolves by itself and is retried.
    """
    while error is not None:
        # PostgreSQL's errors by module name: the queue side never imports psycopg itself.
        if isinstance(error, sqlite3.Error) or type(error).__module__.startswith("psycopg"):
            text = str(error)
            if "locked" in text or "busy" in text:
                return None
            return f"{type(error).__name__}: {text}"
        error = error.__cause__ or error.__context__
    return None


def record(connection: redis.Redis, queue_name: str, worker: str, error: str,
           at: datetime) -> None:
    connection.hset(key(queue_name), worker, json.dumps({"error": error, "at": at.isoformat()}))


def clear(connection: redis.Redis, queue_name: str, worker: str) -> None:
    connection.hdel(key(queue_name), worker)


def fresh_errors(connection: redis.Redis, queue_name: str, now: datetime) -> list[WriteError]:
    """The recorded errors not older than WRITE_ERROR_STALE_SECONDS, oldest first."""
    errors = []
    for worker, raw in connection.hgetall(key(queue_name)).items():
        try:
            entry = json.loads(raw)
            at = datetime.fromisoformat(entry["at"])
            error = str(entry["error"])
        except (ValueError, KeyError, TypeError):
            continue  # not ours to trust: ignored, never a 500
        if (now - at).total_seconds() <= constants.WRITE_ERROR_STALE_SECONDS:
            name = worker.decode(errors="replace") if isinstance(worker, bytes) else str(worker)
            errors.append(WriteError(worker=name, error=error[:200], at=at))
    return sorted(errors, key=lambda entry: entry.at)
