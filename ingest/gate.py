"""The budget gate: ``from ingest import budget_allows``, asked by the executor before a task.

It reads one Redis hash that this module also writes (:func:`publish_states`, called by the
workers and the API: each budget's month spend, rewritten after every commit that changes it,
every budget change and every sweep), so an answer costs one round trip and no database. It
never raises and fails open, like the orchestrator's own check: when Redis or the state is
missing the task may run, and the reason says why the gate could not tell.
"""

import json
import logging
import threading
import time
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import redis

from costlog import clock, constants
from costlog.constants import ALL_PROJECTS
from costlog.domain import alerts
from costlog.settings import Settings

log = logging.getLogger("costlog.client")

NO_REDIS = "budget state unavailable: no Redis URL configured (COSTLOG_REDIS_URL)"
REDIS_DOWN = "budget state unavailable: Redis did not answer"
NO_STATE = "budget state unavailable: no worker has published it yet"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return ZoneInfo("UTC")


def verdict(raw: list[bytes | None], projects: list[str]) -> tuple[bool, str | None]:
    """The answer for the values of the hash fields [ready, *projects] (HMGET's reply)."""
    if raw[0] is None:
        return True, NO_STATE
    now = clock.now()
    for project, value in zip(projects, raw[1:], strict=True):
        if value is None:
            continue  # no budget with a limit
        try:
            state = alerts.BudgetState.from_json(project, json.loads(value))
        except (ValueError, KeyError, TypeError):
            return True, f"budget state unreadable for {project!r}"
        current = now.astimezone(_zone(state.timezone)).strftime("%Y-%m")
        reason = alerts.blocked_reason(state, current)
        if reason is not None:
            return False, reason
    return True, None


# -- writing the state ---------------------------------------------------------------------------


def state_key(queue_name: str) -> str:
    return f"{constants.BUDGET_STATE_KEY_PREFIX}{queue_name}"


def publish_states(connection: redis.Redis, queue_name: str,
                   states: Iterable[alerts.BudgetState], *, complete: bool = False) -> None:
    """Write budgets' month spend for the gate; ``complete``: these are all the budgets (the
    hash is replaced and marked ready)."""
    pipe = connection.pipeline(transaction=True)
    if complete:
        pipe.delete(state_key(queue_name))
        pipe.hset(state_key(queue_name), constants.BUDGET_STATE_READY_FIELD, "1")
    queue_states(pipe, queue_name, states)
    pipe.execute()


def queue_states(pipeline: redis.client.Pipeline, queue_name: str,
                 states: Iterable[alerts.BudgetState]) -> None:
    """Add the writes of budgets' month spend to ``pipeline`` (executed by the caller)."""
    mapping = {state.project: json.dumps(state.to_json()) for state in states}
    if mapping:
        pipeline.hset(state_key(queue_name), mapping=mapping)


# -- reading it ----------------------------------------------------------------------------------


class Gate:
    """Answers from one Redis client with the executor's short timeouts; after a failure it
    answers without Redis for BREAKER_OPEN_SECONDS, so a dead Redis costs one timeout."""

    def __init__(self, connection: redis.Redis | None, queue_name: str) -> None:
        self.connection = connection
        self.key = state_key(queue_name)
        self._open_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "Gate":
        from ingest.redis_conn import connect

        url = settings.redis_url
        return cls(connect(url, fail_fast=True) if url else None, settings.queue_name)

    def allows(self, project_id: str) -> tuple[bool, str | None]:
        try:
            if not isinstance(project_id, str) or not project_id:
                return True, "budget gate error: project_id must be a non-empty string"
            if self.connection is None:
                return True, NO_REDIS
            if time.monotonic() < self._open_until:
                return True, REDIS_DOWN
            projects = [project_id] if project_id == ALL_PROJECTS else [project_id, ALL_PROJECTS]
            try:
                raw = self.connection.hmget(self.key, [constants.BUDGET_STATE_READY_FIELD,
                                                       *projects])
            except (redis.RedisError, OSError):
                self._open_until = time.monotonic() + constants.BREAKER_OPEN_SECONDS
                return True, REDIS_DOWN
            return verdict(raw, projects)
        except Exception as error:  # noqa: BLE001 - the executor must never see the gate fail
            log.warning("budget gate: %s", type(error).__name__)
            return True, f"budget gate error: {type(error).__name__}"


_default: Gate | None = None
_default_lock = threading.Lock()


def default_gate() -> Gate:
    global _default
    with _default_lock:
        if _default is None:
            _default = Gate.from_settings(Settings.from_env())
        return _default


def budget_allows(project_id: str) -> tuple[bool, str | None]:
    """(allowed, reason): False only when the project's budget or the all-projects budget has a
    hard limit and this month's spend is over it. Never raises; fails open with a reason."""
    try:
        gate = default_gate()
    except Exception as error:  # noqa: BLE001 - e.g. a bad COSTLOG_* value
        return True, f"budget gate error: {error}"
    return gate.allows(project_id)
