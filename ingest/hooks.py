"""The executor hooks: ``check_budget`` before a task starts, and (kept from the seed)
``record_cost_to_global`` after each phase completes.

They must never break the executor: an invalid event is logged (naming the field) and dropped,
Redis trouble is absorbed by the client's spool (or, for the budget check, answered "allowed"),
and anything else is logged too.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from costlog.domain.event import InvalidEvent
from ingest.client import Publisher, default_publisher
from ingest.gate import Gate, budget_allows

log = logging.getLogger("costlog.client")


@dataclass
class CostMetadata:
    """What the executor knows about one completed phase (the seed's shape)."""

    project_id: str
    task_id: str
    phase: str
    model: str
    provider: str = "claude"
    iteration: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    total_tokens: int | None = None
    cost_usd: float | None = None
    duration_ms: int = 0
    initiative_id: str = ""
    timestamp: datetime | str | None = None  # aware datetime or RFC 3339; None = now
    event_id: str | None = None  # None = a fresh UUID4
    cache_creation_1h_tokens: int = 0  # the 1-hour part of cache_creation_tokens
    web_search_requests: int = 0
    service_tier: str = ""
    revision: int = 0  # a higher revision of a recorded event_id replaces it

    def to_event(self) -> dict[str, Any]:
        """The wire payload; absent optionals are left out (null means absent anyway)."""
        event = {key: value for key, value in asdict(self).items() if value is not None}
        if isinstance(self.timestamp, datetime):
            # A naive datetime yields no offset, which parse_event rejects naming "timestamp".
            event["timestamp"] = self.timestamp.isoformat()
        return event


def record_cost_to_global(meta: CostMetadata, *, publisher: Publisher | None = None) -> str | None:
    """Publish ``meta`` as a cost event; its event_id, or None when it could not be recorded.

    Never raises into the executor.
    """
    try:
        target = publisher if publisher is not None else default_publisher()
        return target.publish(meta.to_event())
    except InvalidEvent as error:
        log.warning("costlog: cost of task %r phase %r not recorded: invalid %s: %s",
                    meta.task_id, meta.phase, error.field, error.reason)
    except Exception:
        # Configuration or spool trouble (no Redis URL, disk full): report, keep the executor going.
        log.exception("costlog: cost of task %r phase %r not recorded", meta.task_id, meta.phase)
    return None


def check_budget(project_id: str, *, ignore_budget: bool = False,
                 gate: Gate | None = None) -> tuple[bool, str | None]:
    """Before a task of ``project_id``: (may it run, why not). The orchestrator's check: a hard
    budget whose month is overspent blocks the task, unless ``ignore_budget`` (its
    ``--ignore-budget``), which runs it anyway and logs the reason. Never raises; fails open."""
    allowed, reason = gate.allows(project_id) if gate else budget_allows(project_id)
    if allowed:
        return True, reason
    if ignore_budget:
        log.warning("costlog: %s; running project %r anyway (budget ignored)", reason,
                    project_id)
        return True, reason
    log.warning("costlog: task of project %r blocked: %s", project_id, reason)
    return False, reason
