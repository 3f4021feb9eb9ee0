"""The one event factory of the suite: a valid wire event, any field overridden or removed."""

from typing import Any

#: A complete, valid event; tests override what they are about.
BASE: dict[str, Any] = {
    "event_id": "e-1", "project_id": "proj", "task_id": "task-1", "phase": "implement",
    "model": "claude-sonnet-4-5-20250929", "input_tokens": 100, "output_tokens": 20,
    "cost_usd": 1.25, "timestamp": "2026-11-20T10:00:00Z",
}


def wire_event(**fields: Any) -> dict[str, Any]:
    """:data:`BASE` with ``fields`` merged in; a value of ``...`` removes that key."""
    merged = {**BASE, **fields}
    return {key: value for key, value in merged.items() if value is not ...}
