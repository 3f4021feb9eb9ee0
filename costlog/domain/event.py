"""The cost event contract: pure validation, no I/O.

``parse_event`` turns a decoded JSON object into a :class:`CostEvent` or raises
:class:`InvalidEvent` naming the first bad field. :func:`json_schema` describes the same rules
from the same limits, for the OpenAPI document.
"""

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from costlog import constants
from costlog.errors import CostlogError

EVENT_ID_PATTERN = rf"^[A-Za-z0-9._:-]{{1,{constants.EVENT_ID_MAX}}}$"
EVENT_ID_RE = re.compile(EVENT_ID_PATTERN)
# RFC 3339 date-time with a mandatory offset; fractional seconds optional.
RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
#: The string fields: (name, most characters, required).
STRING_FIELDS = (
    ("project_id", constants.PROJECT_ID_MAX, True),
    ("task_id", constants.TASK_ID_MAX, True),
    ("phase", constants.PHASE_MAX, True),
    ("model", constants.MODEL_ID_MAX, False),
    ("provider", constants.PROVIDER_MAX, False),
    ("initiative_id", constants.INITIATIVE_ID_MAX, False),
    ("service_tier", constants.SERVICE_TIER_MAX, False),
)
#: The integer fields and their upper bound (None: unbounded).
COUNT_FIELDS = (
    ("iteration", constants.MAX_TOKENS), *((name, constants.MAX_TOKENS) for name in TOKEN_FIELDS),
    ("total_tokens", constants.MAX_TOKENS), ("duration_ms", constants.MAX_TOKENS),
    ("cache_creation_1h_tokens", constants.MAX_TOKENS),
    ("web_search_requests", constants.MAX_TOKENS),
)
#: The fields that tell the price the rest: in the canonical event (the filled event_id) only
#: when given, so that an event without them keeps the id it had before they existed.
PRICING_FIELDS = ("cache_creation_1h_tokens", "web_search_requests", "service_tier")


class InvalidEvent(CostlogError, ValueError):
    """An event that breaks the contract; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CostEvent:
    event_id: str
    project_id: str
    task_id: str
    phase: str
    model: str
    provider: str
    iteration: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    total_tokens: int
    cost_usd: float | None
    duration_ms: int
    initiative_id: str
    timestamp: datetime  # aware, UTC
    #: A higher revision of a recorded event_id replaces it (costlog.store.write).
    revision: int = 0
    #: The 1-hour part of cache_creation_tokens (the rest are 5-minute writes).
    cache_creation_1h_tokens: int = 0
    web_search_requests: int = 0
    #: The provider's service tier ("standard", "priority", "batch", …); "" when not reported.
    service_tier: str = ""

    def to_json(self) -> dict[str, Any]:
        """The wire form put on the queue and in the spool (parse_event reads it back)."""
        # Every field is a scalar (or a datetime, replaced below): no deep copy needed, and
        # dataclasses.asdict's took half the time of an OTLP request of 512 records.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["timestamp"] = format_timestamp(self.timestamp)
        if not self.revision:
            del data["revision"]  # the default: the wire form of an uncorrected event unchanged
        return data


_FIELD_NAMES = tuple(field.name for field in fields(CostEvent))


def format_timestamp(instant: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds kept when present."""
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def _type_name(value: Any) -> str:
    return {bool: "boolean", str: "string", int: "integer", float: "number", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def _is_utf8(value: str) -> bool:
    """False for strings holding lone surrogates (JSON allows them; UTF-8 and SQLite do not)."""
    if value.isascii():  # nearly every id: no encoding needed to know
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _string(payload: dict, name: str, max_len: int, *, required: bool, default: str = "") -> str:
    value = payload.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "is required")
        return default
    if not isinstance(value, str):
        raise InvalidEvent(name, f"must be a string, got {_type_name(value)}")
    if not _is_utf8(value):
        raise InvalidEvent(name, "must be valid Unicode text")
    if "\x00" in value:
        # PostgreSQL's text cannot hold NUL: refused on either back end, at the edge.
        raise InvalidEvent(name, "must not contain NUL characters")
    if required and not value:
        raise InvalidEvent(name, "must not be empty")
    if len(value) > max_len:
        raise InvalidEvent(name, f"must be at most {max_len} characters, got {len(value)}")
    return value


def _count(payload: dict, name: str, limit: int | None = constants.MAX_TOKENS) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidEvent(name, f"must be an integer >= 0, got {_type_name(value)}")
    if value < 0:
        raise InvalidEvent(name, f"must be an integer >= 0, got {value}")
    if limit is not None and value > limit:
        raise InvalidEvent(name, f"must be at most {limit}, got {value}")
    return value


def _cost(payload: dict) -> float | None:
    value = payload.get("cost_usd")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent("cost_usd", f"must be a number >= 0, got {_type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEvent("cost_usd", "must be a finite number")
    if value < 0:
        raise InvalidEvent("cost_usd", f"must be a number >= 0, got {value}")
    if value > constants.MAX_COST_USD:
        raise InvalidEvent("cost_usd", f"must be at most {constants.MAX_COST_USD:.0f}, got {value}")
    return float(value)


def _timestamp(payload: dict, now: datetime) -> datetime | None:
    value = payload.get("timestamp")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent("timestamp", f"must be an RFC 3339 string, got {_type_name(value)}")
    if not RFC3339_RE.fullmatch(value):
        raise InvalidEvent(
            "timestamp", "must be RFC 3339 with an offset, e.g. 2026-11-01T12:00:00Z"
        )
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise InvalidEvent("timestamp", "is not a valid date and time") from None
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidEvent("timestamp", "is out of range") from None
    if parsed < constants.EARLIEST_TIMESTAMP:
        raise InvalidEvent("timestamp", f"must be {constants.EARLIEST_TIMESTAMP:%Y-%m-%d} or later")
    if parsed > now + timedelta(seconds=constants.MAX_FUTURE_SECONDS):
        raise InvalidEvent("timestamp", "is more than 24 hours in the future")
    return parsed


def json_schema() -> dict[str, Any]:
    """The event's JSON Schema, built from the limits :func:`parse_event` enforces."""
    properties: dict[str, Any] = {
        "event_id": {"type": "string", "pattern": EVENT_ID_PATTERN,
                     "description": "Idempotency key; filled when absent."},
    }
    for name, longest, required in STRING_FIELDS:
        properties[name] = {"type": "string", "maxLength": longest,
                            **({"minLength": 1} if required else {})}
    properties["provider"]["default"] = constants.DEFAULT_PROVIDER
    for name, bound in COUNT_FIELDS:
        properties[name] = {"type": "integer", "minimum": 0, "maximum": bound}
    properties["total_tokens"]["description"] = (
        "Default: the sum of the four token counts, which obeys the same bound."
    )
    properties["cache_creation_1h_tokens"]["description"] = (
        "The 1-hour part of cache_creation_tokens: at most it."
    )
    properties["cost_usd"] = {"type": "number", "minimum": 0, "maximum": constants.MAX_COST_USD,
                              "description": "Absent: computed from the price table."}
    properties["revision"] = {
        "type": "integer", "minimum": 0, "maximum": constants.MAX_REVISION, "default": 0,
        "description": "A higher revision of a recorded event_id replaces it; a lower or equal"
                       " one changes nothing.",
    }
    properties["timestamp"] = {
        "type": "string", "format": "date-time",
        "description": f"RFC 3339 with an offset; {constants.EARLIEST_TIMESTAMP:%Y-%m-%d} or"
                       " later, at most 24 hours in the future.",
    }
    required = [name for name, _, is_required in STRING_FIELDS if is_required]
    return {"type": "object", "required": required, "properties": properties}


def _canonical_id(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_event(
    payload: Any, *, now: datetime, fill_id: Literal["uuid", "hash"] = "hash"
) -> CostEvent:
    """Validate ``payload``; fill an absent ``event_id`` by ``fill_id``, a timestamp by ``now``.

    ``"hash"`` fills the SHA-256 of the canonical event (as given, before the timestamp default),
    so re-sending the same line or body yields the same id.
    """
    if not isinstance(payload, dict):
        raise InvalidEvent("event", f"must be a JSON object, got {_type_name(payload)}")
    event_id = payload.get("event_id")
    if event_id is not None and (
        not isinstance(event_id, str) or not EVENT_ID_RE.fullmatch(event_id)
    ):
        raise InvalidEvent("event_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    project_id = _string(payload, "project_id", constants.PROJECT_ID_MAX, required=True)
    if project_id == constants.ALL_PROJECTS:
        raise InvalidEvent("project_id", f"{constants.ALL_PROJECTS!r} is reserved")
    task_id = _string(payload, "task_id", constants.TASK_ID_MAX, required=True)
    phase = _string(payload, "phase", constants.PHASE_MAX, required=True)
    model = _string(payload, "model", constants.MODEL_ID_MAX, required=False)
    provider = _string(payload, "provider", constants.PROVIDER_MAX, required=False,
                       default=constants.DEFAULT_PROVIDER) or constants.DEFAULT_PROVIDER
    iteration = _count(payload, "iteration") or 0
    tokens = {name: _count(payload, name) or 0 for name in TOKEN_FIELDS}
    total = _count(payload, "total_tokens")
    if total is None and sum(tokens.values()) > constants.MAX_TOKENS:
        # The derived total is stored and summed like a given one: the same bound, here at the
        # edge, so that no event accepted here is refused later by the worker.
        raise InvalidEvent("total_tokens", f"the sum of the four token counts must be at most"
                           f" {constants.MAX_TOKENS}, got {sum(tokens.values())}")
    cost = _cost(payload)
    duration = _count(payload, "duration_ms") or 0
    initiative = _string(payload, "initiative_id", constants.INITIATIVE_ID_MAX, required=False)
    timestamp = _timestamp(payload, now)
    revision = _count(payload, "revision", constants.MAX_REVISION) or 0
    pricing = _pricing_fields(payload, tokens["cache_creation_tokens"])

    fields: dict[str, Any] = {
        "project_id": project_id, "task_id": task_id, "phase": phase, "model": model,
        "provider": provider, "iteration": iteration, **tokens,
        "total_tokens": sum(tokens.values()) if total is None else total,
        "cost_usd": cost, "duration_ms": duration, "initiative_id": initiative,
    }
    if event_id is None:
        if fill_id == "uuid":
            event_id = str(uuid.uuid4())
        else:
            stamp = None if timestamp is None else format_timestamp(timestamp)
            # Without the revision: an id the hash fills names the event's content, and a
            # revision only means something for an id the producer chose.
            given = {name: value for name, value in pricing.items() if value}
            event_id = _canonical_id({**fields, **given, "timestamp": stamp})
    return CostEvent(event_id=event_id, timestamp=timestamp or now.astimezone(UTC),
                     revision=revision, **fields, **pricing)


def _pricing_fields(payload: dict, cache_creation: int) -> dict[str, Any]:
    """The PRICING_FIELDS of ``payload``, checked (the 1-hour writes are part of all writes)."""
    one_hour = _count(payload, "cache_creation_1h_tokens") or 0
    if one_hour > cache_creation:
        raise InvalidEvent("cache_creation_1h_tokens",
                           f"must be at most cache_creation_tokens ({cache_creation}),"
                           f" got {one_hour}")
    return {
        "cache_creation_1h_tokens": one_hour,
        "web_search_requests": _count(payload, "web_search_requests") or 0,
        "service_tier": _string(payload, "service_tier", constants.SERVICE_TIER_MAX,
                                required=False),
    }
