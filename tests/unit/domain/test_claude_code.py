"""Claude Code log lines as cost events (pure): which lines count, the mapping, the copy rules."""

import json
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

import pytest

from costlog.domain.claude_code import (
    Malformed,
    Response,
    Responses,
    default_roots,
    parse_line,
    project_folder,
)
from tests.conftest import NOW


def assistant(**overrides: Any) -> dict[str, Any]:
    """A response line as Claude Code writes it; ``overrides`` replace top-level fields, and
    ``message``/``usage`` entries are merged into the defaults."""
    usage = {"input_tokens": 4, "cache_creation_input_tokens": 300,
             "cache_read_input_tokens": 5000, "output_tokens": 120, "service_tier": "standard",
             **overrides.pop("usage", {})}
    message = {"id": "msg_01A", "type": "message", "role": "assistant",
               "model": "claude-sonnet-4-5-20250929",
               "content": [{"type": "text", "text": "Done."}], "stop_reason": None,
               "usage": usage, **overrides.pop("message", {})}
    return {"parentUuid": "p-1", "isSidechain": False, "userType": "external",
            "cwd": "/home/dev/shop", "sessionId": "s-1", "version": "2.0.14",
            "gitBranch": "main", "message": message, "requestId": "req_01X", "type": "assistant",
            "uuid": "u-1", "timestamp": "2026-11-19T10:00:00.250Z", **overrides}


def parse(record: Any, folder: str = "-home-dev-shop", session: str = "file-stem") -> Any:
    text = record if isinstance(record, str | bytes) else json.dumps(record)
    return parse_line(text, folder=folder, session=session, origin=("f", 1))


def event_of(record: Any, **kwargs: str) -> dict[str, Any]:
    response = parse(record, **kwargs)
    assert isinstance(response, Response)
    return {k: v for k, v in response.event(NOW).to_json().items()
            if k not in ("provider", "iteration", "duration_ms", "initiative_id")}


def test_a_response_line_maps_to_its_event() -> None:
    assert event_of(assistant()) == {
        "event_id": "cc:msg_01A:req_01X", "project_id": "/home/dev/shop", "task_id": "s-1",
        "phase": "session", "model": "claude-sonnet-4-5-20250929", "input_tokens": 4,
        "output_tokens": 120, "cache_creation_tokens": 300, "cache_read_tokens": 5000,
        "total_tokens": 5424, "cost_usd": None, "timestamp": "2026-11-19T10:00:00.250000Z",
        "cache_creation_1h_tokens": 0, "web_search_requests": 0, "service_tier": "standard",
    }


@pytest.mark.parametrize(("record", "expected"), [
    # no requestId: the id is the message's alone
    ({k: v for k, v in assistant().items() if k != "requestId"}, {"event_id": "cc:msg_01A"}),
    (assistant(requestId=None), {"event_id": "cc:msg_01A"}),
    # no cwd (or an empty one): the project folder's name
    ({k: v for k, v in assistant().items() if k != "cwd"}, {"project_id": "-home-dev-shop"}),
    (assistant(cwd=""), {"project_id": "-home-dev-shop"}),
    # no sessionId: the file's name
    ({k: v for k, v in assistant().items() if k != "sessionId"}, {"task_id": "file-stem"}),
    (assistant(isSidechain=True), {"phase": "subagent"}),
    (assistant(isSidechain="true"), {"phase": "session"}),
    (assistant(costUSD=0.0421), {"cost_usd": 0.0421}),
    (assistant(costUSD=0), {"cost_usd": 0.0}),
    (assistant(costUSD=None), {"cost_usd": None}),
    # the cache_creation object, when present, is the sum of both lifetimes
    # ...and its 1-hour part is the event's cache_creation_1h_tokens
    (assistant(usage={"cache_creation": {"ephemeral_5m_input_tokens": 100,
                                         "ephemeral_1h_input_tokens": 2000}}),
     {"cache_creation_tokens": 2100, "cache_creation_1h_tokens": 2000, "total_tokens": 7224}),
    (assistant(usage={"cache_creation": {"ephemeral_1h_input_tokens": 7}}),
     {"cache_creation_tokens": 7, "cache_creation_1h_tokens": 7}),
    (assistant(usage={"cache_creation": {}}),
     {"cache_creation_tokens": 0, "cache_creation_1h_tokens": 0}),
    (assistant(usage={"cache_creation": None}),
     {"cache_creation_tokens": 300, "cache_creation_1h_tokens": 0}),
    # web searches and the service tier
    (assistant(usage={"server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 1}}),
     {"web_search_requests": 3}),
    (assistant(usage={"server_tool_use": {}}), {"web_search_requests": 0}),
    (assistant(usage={"server_tool_use": None}), {"web_search_requests": 0}),
    (assistant(usage={"service_tier": "priority"}), {"service_tier": "priority"}),
    (assistant(usage={"service_tier": None}), {"service_tier": ""}),
    # absent or null counts are 0
    (assistant(message={"usage": {"output_tokens": 9}}),
     {"input_tokens": 0, "output_tokens": 9, "cache_creation_tokens": 0,
      "cache_read_tokens": 0, "total_tokens": 9}),
    (assistant(usage={"input_tokens": None}), {"input_tokens": 0}),
    (assistant(message={"model": None}), {"model": ""}),
    (assistant(timestamp="2026-11-19T11:00:00+01:00"),
     {"timestamp": "2026-11-19T10:00:00Z"}),
])
def test_mapping(record: dict[str, Any], expected: dict[str, Any]) -> None:
    event = event_of(record)
    assert {k: event[k] for k in expected} == expected


@pytest.mark.parametrize("record", [
    {"type": "user", "message": {"role": "user", "content": "hi"}, "sessionId": "s-1"},
    {"type": "summary", "summary": "Fixing the tests", "leafUuid": "u-9"},
    {"type": "file-history-snapshot", "messageId": "m", "snapshot": {}},
    assistant(message={"model": "<synthetic>"}),
    assistant(message={"id": ""}),
    assistant(message={"id": None}),
    assistant(message={"id": 17}),
    {k: v for k, v in assistant().items() if k != "message"},
    assistant(message={"usage": None}),
    assistant(message={"usage": "lots"}),
    assistant(type="user"),
    {**assistant(), "message": "a string"},
    [1, 2],
    "null",
    '"text"',
], ids=lambda record: json.dumps(record)[:40])
def test_lines_that_are_not_responses_are_skipped(record: Any) -> None:
    assert parse(record) is None


@pytest.mark.parametrize(("line", "reason"), [
    (json.dumps(assistant())[:200], "invalid JSON: Unterminated string starting at: line 1"
                                    " column 193 (char 192)"),
    ("{not json", "invalid JSON: Expecting property name enclosed in double quotes:"
                  " line 1 column 2 (char 1)"),
    (b'{"type": "assistant"} \xff', "invalid JSON: 'utf-8' codec can't decode byte 0xff in"
                                    " position 22: invalid start byte"),
    (json.dumps(assistant(usage={"output_tokens": "12"})),
     'message.usage.output_tokens: must be an integer >= 0, got "12"'),
    (json.dumps(assistant(usage={"input_tokens": True})),
     "message.usage.input_tokens: must be an integer >= 0, got true"),
    (json.dumps(assistant(usage={"cache_read_input_tokens": -1})),
     "message.usage.cache_read_input_tokens: must be an integer >= 0, got -1"),
    (json.dumps(assistant(usage={"cache_creation": {"ephemeral_1h_input_tokens": 1.5}})),
     "message.usage.cache_creation.ephemeral_1h_input_tokens: must be an integer >= 0,"
     " got 1.5"),
    (json.dumps({k: v for k, v in assistant().items() if k != "timestamp"}),
     "timestamp: is required"),
])
def test_malformed_lines_name_the_field(line: str | bytes, reason: str) -> None:
    with pytest.raises(Malformed) as raised:
        parse(line)
    assert str(raised.value) == reason


@pytest.mark.parametrize(("usage", "reason"), [
    ({"server_tool_use": {"web_search_requests": "2"}},
     "message.usage.server_tool_use.web_search_requests: must be an integer >= 0, got string"),
    ({"server_tool_use": {"web_search_requests": -1}},
     "message.usage.server_tool_use.web_search_requests: must be an integer >= 0, got -1"),
    ({"service_tier": 1}, "message.usage.service_tier: must be a string, got integer"),
    ({"service_tier": "x" * 33},
     "message.usage.service_tier: must be at most 32 characters, got 33"),
])
def test_a_kept_response_with_bad_pricing_fields_names_them(usage: dict, reason: str) -> None:
    response = parse(assistant(usage=usage))
    with pytest.raises(Malformed) as raised:
        response.event(NOW)
    assert str(raised.value) == reason


@pytest.mark.parametrize(("record", "reason"), [
    (assistant(timestamp="2026-11-22T10:00:00Z"), "timestamp: is more than 24 hours in the future"),
    (assistant(timestamp="yesterday"),
     "timestamp: must be RFC 3339 with an offset, e.g. 2026-11-01T12:00:00Z"),
    (assistant(cwd="/" + "x" * 600), "cwd: must be at most 512 characters, got 601"),
    (assistant(cwd=7), "cwd: must be a string, got integer"),
    (assistant(sessionId=["s"]), "sessionId: must be a string, got array"),
    (assistant(costUSD="0.1"), "costUSD: must be a number >= 0, got string"),
    (assistant(costUSD=-0.5), "costUSD: must be a number >= 0, got -0.5"),
    (assistant(message={"model": 4}), "message.model: must be a string, got integer"),
    (assistant(message={"id": "msg 01"}),
     "message.id/requestId: must be 1-128 characters of A-Z a-z 0-9 . _ : -"),
    (assistant(usage={"output_tokens": 10**12 + 1}),
     "message.usage.output_tokens: must be at most 1000000000000, got 1000000000001"),
])
def test_a_response_that_breaks_the_event_contract_names_the_log_field(
        record: dict[str, Any], reason: str) -> None:
    response = parse(record)
    assert isinstance(response, Response)
    with pytest.raises(Malformed) as raised:
        response.event(NOW)
    assert str(raised.value) == reason


def test_an_escaped_lone_surrogate_is_still_json() -> None:
    # Node.js writes a broken character that way; the line is valid JSON.
    line = json.dumps(assistant(message={"content": [{"type": "text", "text": "\ud83d"}]}))
    assert "\\ud83d" in line
    assert event_of(line)["event_id"] == "cc:msg_01A:req_01X"


@pytest.mark.parametrize(("config_dir", "expected"), [
    (None, ["/home/u/.config/claude/projects", "/home/u/.claude/projects"]),
    ("", ["/home/u/.config/claude/projects", "/home/u/.claude/projects"]),
    (" , ", ["/home/u/.config/claude/projects", "/home/u/.claude/projects"]),
    ("/opt/claude", ["/opt/claude/projects"]),
    ("/a, /b/,", ["/a/projects", "/b/projects"]),
])
def test_default_roots(config_dir: str | None, expected: list[str]) -> None:
    assert [str(p) for p in default_roots(config_dir, Path("/home/u"))] == expected


@pytest.mark.parametrize(("log", "folder"), [
    ("/h/.claude/projects/-home-dev-shop/s-1.jsonl", "-home-dev-shop"),
    ("/h/.claude/projects/-home-dev-shop/s-1/subagents/agent-1.jsonl", "-home-dev-shop"),
    ("logs/one.jsonl", "logs"),
    ("one.jsonl", ""),
])
def test_project_folder(log: str, folder: str) -> None:
    assert project_folder(PurePath(log)) == folder


def response(message_id: str, request_id: str = "r", *, output: int = 1, sidechain: bool = False,
             origin: str = "") -> Response:
    fields = (f"cc:{message_id}:{request_id}", "/p", "s", "subagent" if sidechain else "session",
              "claude-haiku-4-5", 0, output, 0, 0, None, "2026-11-19T10:00:00Z")
    return Response(message_id, request_id, sidechain, output, fields, origin)


@pytest.mark.parametrize(("added", "kept"), [
    # streaming copies: the largest total wins, wherever it comes
    ([response("m", output=1, origin="a"), response("m", output=50, origin="b"),
      response("m", output=20, origin="c")], ["b"]),
    # equal copies: the first
    ([response("m", output=5, origin="a"), response("m", output=5, origin="b")], ["a"]),
    # another requestId: another event
    ([response("m", "r1", origin="a"), response("m", "r2", origin="b")], ["a", "b"]),
    # a sidechain replay is the main-chain response, even when larger and seen first
    ([response("m", output=99, sidechain=True, origin="side"),
      response("m", output=1, origin="main")], ["main"]),
    # ... even under another requestId
    ([response("m", "r1", origin="main"), response("m", "r2", sidechain=True, origin="side")],
     ["main"]),
    # a sidechain response without a main-chain copy counts, its largest copy kept
    ([response("s", output=3, sidechain=True, origin="a"),
      response("s", output=4, sidechain=True, origin="b")], ["b"]),
    # order of first appearance is kept
    ([response("z", origin="z"), response("a", origin="a"), response("z", output=9, origin="z2")],
     ["z2", "a"]),
])
def test_copies(added: list[Response], kept: list[str]) -> None:
    responses = Responses()
    for item in added:
        responses.add(item)
    assert [r.origin for r in responses.kept()] == kept
    # Cut anywhere, each part read apart and what each kept merged in order: the same.
    for cut in range(1, len(added)):
        merged = Responses()
        for lines in (added[:cut], added[cut:]):
            part = Responses()
            for item in lines:
                part.add(item)
            merged.add_part(part.kept(), part.main_chain)
        assert [r.origin for r in merged.kept()] == kept, cut


def test_event_time_is_bounded_by_now() -> None:
    later = datetime(2026, 11, 23, tzinfo=UTC)
    assert parse(assistant(timestamp="2026-11-22T10:00:00Z")).event(later).timestamp == \
        datetime(2026, 11, 22, 10, tzinfo=UTC)
