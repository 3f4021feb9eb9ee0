"""Claude Code session logs as cost events: pure, no I/O.

Claude Code writes one JSON object per line to ``<config>/projects/<project>/<session>.jsonl``
(a subagent's to ``<project>/<session>/subagents/*.jsonl``). A line is a response, and counts,
when its ``type`` is ``assistant`` and its ``message`` has ``usage``, a non-empty ``id`` and a
``model`` other than ``<synthetic>`` (the placeholder Claude Code writes for messages no model
produced). :func:`parse_line` maps such a line to a :class:`Response`; :class:`Responses` keeps
one per event, whatever the number of copies the logs hold of it.
"""

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from costlog.domain.event import CostEvent, InvalidEvent, parse_event
from costlog.errors import CostlogError

SYNTHETIC_MODEL = "<synthetic>"
EVENT_ID_PREFIX = "cc"
PHASE_SESSION = "session"
PHASE_SUBAGENT = "subagent"
#: The folder Claude Code keeps a subagent's log in, inside its session's folder.
SUBAGENTS_FOLDER = "subagents"

#: The log field an event field comes from, to name it in a malformed line's reason.
SOURCE_FIELD = {
    "event_id": "message.id/requestId",
    "project_id": "cwd",
    "task_id": "sessionId",
    "model": "message.model",
    "input_tokens": "message.usage.input_tokens",
    "output_tokens": "message.usage.output_tokens",
    "cache_creation_tokens": "message.usage.cache_creation_input_tokens",
    "cache_read_tokens": "message.usage.cache_read_input_tokens",
    "total_tokens": "message.usage",
    "cost_usd": "costUSD",
    "timestamp": "timestamp",
    "cache_creation_1h_tokens": "message.usage.cache_creation.ephemeral_1h_input_tokens",
    "web_search_requests": "message.usage.server_tool_use.web_search_requests",
    "service_tier": "message.usage.service_tier",
}
_5M, _1H = "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"
_5M_NAME, _1H_NAME = f"cache_creation.{_5M}", f"cache_creation.{_1H}"


class Malformed(CostlogError, ValueError):
    """A line that is not JSON, or a response line whose fields break the event contract."""


#: The event fields a :class:`Response` holds, in order.
_FIELDS = ("event_id", "project_id", "task_id", "phase", "model", "input_tokens",
           "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cost_usd",
           "timestamp", "cache_creation_1h_tokens", "web_search_requests", "service_tier")


@dataclass(frozen=True, slots=True)
class Response:
    """One response line: its copy key, its token total, and its event's fields, validated by
    :meth:`event` only for the copy that is kept (most lines are streaming copies)."""

    message_id: str
    request_id: str
    sidechain: bool
    total: int
    fields: tuple  # the values of _FIELDS
    origin: Any = None  # where the caller read the line, to report it

    def event(self, now: datetime) -> CostEvent:
        """The cost event; raises :class:`Malformed` naming the log field that breaks it."""
        try:
            return parse_event(dict(zip(_FIELDS, self.fields, strict=True)), now=now)
        except InvalidEvent as error:
            source = SOURCE_FIELD.get(error.field, error.field)
            raise Malformed(f"{source}: {error.reason}") from None


def default_roots(claude_config_dir: str | None, home: Path) -> list[Path]:
    """The folders Claude Code writes its logs to, in order (whether they exist or not):
    ``<dir>/projects`` for each directory of ``CLAUDE_CONFIG_DIR`` (comma-separated) when it is
    set, else ``~/.config/claude/projects`` and ``~/.claude/projects``."""
    dirs = [part.strip() for part in (claude_config_dir or "").split(",") if part.strip()]
    if dirs:
        return [Path(part) / "projects" for part in dirs]
    return [home / ".config" / "claude" / "projects", home / ".claude" / "projects"]


def project_folder(log: PurePath) -> str:
    """The project folder a log file belongs to: its own folder, or for a subagent's log
    (``<project>/<session>/subagents/x.jsonl``) the folder two levels above."""
    folder = log.parent
    if folder.name == SUBAGENTS_FOLDER:
        folder = folder.parent.parent
    return folder.name


def _tokens(value: Any, name: str) -> int:
    """A token count of the line (absent: 0); its upper bound is checked with the event's."""
    # type(), not isinstance(): a bool would pass as 0 or 1 once added up.
    if type(value) is int and value >= 0:
        return value
    if value is None:
        return 0
    raise Malformed(f"message.usage.{name}: must be an integer >= 0, got {json.dumps(value)}")


def _cache_creation(usage: Mapping[str, Any]) -> tuple[int, int]:
    """Cache writes and their 1-hour part: both lifetimes (5-minute and 1-hour) of the
    ``cache_creation`` object when the line has one, else ``cache_creation_input_tokens``."""
    creation = usage.get("cache_creation")
    if isinstance(creation, dict):
        one_hour = _tokens(creation.get(_1H), _1H_NAME)
        return _tokens(creation.get(_5M), _5M_NAME) + one_hour, one_hour
    return _tokens(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens"), 0


def _web_searches(usage: Mapping[str, Any]) -> Any:
    """``server_tool_use.web_search_requests`` (checked with the event's fields)."""
    tools = usage.get("server_tool_use")
    return tools.get("web_search_requests") if isinstance(tools, dict) else None


class _Message(msgspec.Struct):
    id: Any = None
    model: Any = None
    usage: Any = None


class _Line(msgspec.Struct, rename={"session_id": "sessionId", "request_id": "requestId",
                                    "is_sidechain": "isSidechain", "cost_usd": "costUSD"}):
    """The fields of a log line the import reads; the rest (the content) is only checked to be
    JSON, not turned into Python objects: that is most of a line, and most of the time."""

    type: Any = None
    message: _Message | None = None
    cwd: Any = None
    session_id: Any = None
    request_id: Any = None
    is_sidechain: Any = None
    timestamp: Any = None
    cost_usd: Any = None


_decode_line = msgspec.json.Decoder(_Line).decode


def _read(line: str | bytes) -> _Line | None:
    """The line's fields; None when it is JSON but not an object of the expected shape."""
    try:
        return _decode_line(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    # The rare line the fast decoder refuses: a field of another type (then not a response), or
    # JSON it reads more strictly than the standard (an escaped lone surrogate, which Node.js
    # writes for a broken character). The standard decoder has the last word.
    try:
        record = json.loads(line)
    except ValueError as error:  # UnicodeDecodeError included
        raise Malformed(f"invalid JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get("message"), dict):
        return None
    message = record["message"]
    return _Line(
        type=record.get("type"),
        message=_Message(id=message.get("id"), model=message.get("model"),
                         usage=message.get("usage")),
        cwd=record.get("cwd"), session_id=record.get("sessionId"),
        request_id=record.get("requestId"), is_sidechain=record.get("isSidechain"),
        timestamp=record.get("timestamp"), cost_usd=record.get("costUSD"))


def _shared(value: Any, default: str) -> Any:
    """``value``, or ``default`` when it is absent or empty; text is interned, so that the
    thousands of responses of one session share one copy of its project, session and model."""
    if value is None or value == "":
        return default
    return sys.intern(value) if isinstance(value, str) else value


def parse_line(line: str | bytes, *, folder: str, session: str,
               origin: Any = None) -> Response | None:
    """The response on ``line``, or None for any other line (a user turn, a summary, a
    ``<synthetic>`` message, a message without id or usage). Raises :class:`Malformed`.

    ``folder`` is the project when the line has no ``cwd``, ``session`` the task when it has no
    ``sessionId``; ``origin`` is kept with the response.
    """
    record = _read(line)
    if record is None or record.type != "assistant" or record.message is None:
        return None
    message = record.message
    usage, message_id = message.usage, message.id
    if not isinstance(usage, dict) or not isinstance(message_id, str) or not message_id \
            or message.model == SYNTHETIC_MODEL:
        return None
    request_id = record.request_id if isinstance(record.request_id, str) else ""
    if record.timestamp is None:
        raise Malformed("timestamp: is required")
    uncached = _tokens(usage.get("input_tokens"), "input_tokens")
    output = _tokens(usage.get("output_tokens"), "output_tokens")
    cache_write, one_hour = _cache_creation(usage)
    cache_read = _tokens(usage.get("cache_read_input_tokens"), "cache_read_input_tokens")
    sidechain = record.is_sidechain is True
    fields = (
        f"{EVENT_ID_PREFIX}:{message_id}:{request_id}" if request_id
        else f"{EVENT_ID_PREFIX}:{message_id}",
        _shared(record.cwd, folder),
        _shared(record.session_id, session),
        PHASE_SUBAGENT if sidechain else PHASE_SESSION,
        _shared(message.model, ""),
        uncached, output, cache_write, cache_read,
        record.cost_usd,
        record.timestamp,
        one_hour, _web_searches(usage), usage.get("service_tier"),
    )
    return Response(message_id, request_id, sidechain,
                    uncached + output + cache_write + cache_read, fields, origin)


class Copy(Protocol):
    """What the copy rules look at: a :class:`Response`, or what a caller made of one."""

    @property
    def message_id(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def sidechain(self) -> bool: ...
    @property
    def total(self) -> int: ...


C = TypeVar("C", bound=Copy)


class Responses(Generic[C]):
    """The responses of one import, one per event, as they are added in any order.

    Lines sharing a ``message.id`` and ``requestId`` are copies of one response: Claude Code
    writes a streaming response several times as its ``output_tokens`` grow, so the copy with
    the largest token total wins (the first of equals). A sidechain line whose ``message.id``
    is also on a main-chain line is a replay of that response: the main-chain line is kept.
    """

    def __init__(self) -> None:
        self._best: dict[tuple[str, str], C] = {}
        self.main_chain: set[str] = set()  # the message ids seen on main-chain lines

    def add(self, response: C) -> None:
        if not response.sidechain:
            self.main_chain.add(response.message_id)
        key = (response.message_id, response.request_id)
        kept = self._best.get(key)
        if kept is None or _rank(response) > _rank(kept):
            self._best[key] = response

    def add_part(self, kept: Iterable[C], main_chain: set[str]) -> None:
        """Add what another collection kept (of lines read after this one's), and the message
        ids of its main chain: their replays elsewhere are dropped too."""
        for response in kept:
            self.add(response)
        self.main_chain |= main_chain

    def kept(self) -> Iterator[C]:
        """One response per event, in the order their first copies were added."""
        for response in self._best.values():
            if not (response.sidechain and response.message_id in self.main_chain):
                yield response


def _rank(response: Copy) -> tuple[bool, int]:
    return (not response.sidechain, response.total)
