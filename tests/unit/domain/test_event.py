"""The cost event contract: parse_event, InvalidEvent, CostEvent.to_json."""

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from costlog.domain.event import CostEvent, InvalidEvent, format_timestamp, parse_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINIMAL = {"project_id": "proj", "task_id": "TASK-1", "phase": "implement"}
FULL = {
    "event_id": "evt-1:a.b_c",
    "project_id": "proj",
    "task_id": "TASK-1",
    "phase": "implement",
    "model": "claude-sonnet-4-5-20250929",
    "provider": "claude",
    "iteration": 3,
    "input_tokens": 100,
    "output_tokens": 200,
    "cache_creation_tokens": 300,
    "cache_read_tokens": 400,
    "total_tokens": 1000,
    "cost_usd": 0.25,
    "duration_ms": 12_345,
    "initiative_id": "INIT-7",
    "timestamp": "2026-11-19T08:30:00Z",
}
SHA256_RE = re.compile(r"[0-9a-f]{64}")


def event(**fields: Any) -> dict[str, Any]:
    """MINIMAL with ``fields`` merged in (a value of ``...`` removes the key)."""
    merged = {**MINIMAL, **fields}
    return {key: value for key, value in merged.items() if value is not ...}


def parse(payload: Any, **kwargs: Any) -> CostEvent:
    return parse_event(payload, now=NOW, **kwargs)


# --- valid events ---------------------------------------------------------------------------


def test_minimal_event_gets_every_default() -> None:
    parsed = parse(MINIMAL)
    assert parsed.project_id == "proj"
    assert parsed.task_id == "TASK-1"
    assert parsed.phase == "implement"
    assert parsed.model == ""
    assert parsed.provider == "claude"
    assert parsed.iteration == 0
    assert parsed.input_tokens == 0
    assert parsed.output_tokens == 0
    assert parsed.cache_creation_tokens == 0
    assert parsed.cache_read_tokens == 0
    assert parsed.total_tokens == 0
    assert parsed.cost_usd is None
    assert parsed.duration_ms == 0
    assert parsed.initiative_id == ""
    assert parsed.timestamp == NOW
    assert (parsed.cache_creation_1h_tokens, parsed.web_search_requests,
            parsed.service_tier) == (0, 0, "")
    assert SHA256_RE.fullmatch(parsed.event_id)


def test_full_event_keeps_every_field() -> None:
    assert parse(FULL) == CostEvent(
        event_id="evt-1:a.b_c",
        project_id="proj",
        task_id="TASK-1",
        phase="implement",
        model="claude-sonnet-4-5-20250929",
        provider="claude",
        iteration=3,
        input_tokens=100,
        output_tokens=200,
        cache_creation_tokens=300,
        cache_read_tokens=400,
        total_tokens=1000,
        cost_usd=0.25,
        duration_ms=12_345,
        initiative_id="INIT-7",
        timestamp=datetime(2026, 11, 19, 8, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("provider", "expected"),
    [(..., "claude"), (None, "claude"), ("", "claude"), ("openai", "openai")],
)
def test_provider_defaults_to_claude(provider: Any, expected: str) -> None:
    assert parse(event(provider=provider)).provider == expected


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ({}, 0),
        ({"input_tokens": 7}, 7),
        (
            {
                "input_tokens": 1,
                "output_tokens": 20,
                "cache_creation_tokens": 300,
                "cache_read_tokens": 4000,
            },
            4321,
        ),
        ({"output_tokens": 10**12 - 1, "cache_read_tokens": 1}, 10**12),
        ({"input_tokens": 5, "total_tokens": None}, 5),
    ],
)
def test_total_tokens_defaults_to_the_sum_of_the_four(tokens: dict, expected: int) -> None:
    assert parse(event(**tokens)).total_tokens == expected


@pytest.mark.parametrize(
    "tokens", [{"input_tokens": 10**12, "output_tokens": 1},
               {"output_tokens": 10**12, "cache_read_tokens": 10**12}])
def test_a_derived_total_over_the_bound_is_rejected_at_the_edge(tokens: dict) -> None:
    # Stored and summed like a given total, so bound like one: never accepted, then refused.
    with pytest.raises(InvalidEvent) as raised:
        parse(event(**tokens))
    assert str(raised.value) == (
        "total_tokens: the sum of the four token counts must be at most 1000000000000,"
        f" got {sum(tokens.values())}")


@pytest.mark.parametrize("total", [0, 3, 999])
def test_explicit_total_tokens_is_kept(total: int) -> None:
    parsed = parse(event(input_tokens=100, output_tokens=200, total_tokens=total))
    assert parsed.total_tokens == total


@pytest.mark.parametrize(
    "name",
    [
        "event_id",
        "model",
        "provider",
        "iteration",
        "input_tokens",
        "output_tokens",
        "cache_creation_tokens",
        "cache_read_tokens",
        "total_tokens",
        "cost_usd",
        "duration_ms",
        "initiative_id",
        "timestamp",
    ],
)
def test_null_means_absent(name: str) -> None:
    with_null = parse(event(**{name: None}))
    without = parse(MINIMAL)
    assert with_null == without


def test_unknown_fields_are_ignored() -> None:
    extra = event(colour="blue", nested={"a": [1, 2]}, cost=float("nan"), tokens="many")
    assert parse(extra) == parse(MINIMAL)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-19T08:30:00Z", datetime(2026, 11, 19, 8, 30, tzinfo=UTC)),
        ("2026-11-19T08:30:00z", datetime(2026, 11, 19, 8, 30, tzinfo=UTC)),
        ("2026-11-19t08:30:00+00:00", datetime(2026, 11, 19, 8, 30, tzinfo=UTC)),
        ("2026-11-19 08:30:00-00:00", datetime(2026, 11, 19, 8, 30, tzinfo=UTC)),
        ("2026-11-19T10:30:00+02:00", datetime(2026, 11, 19, 8, 30, tzinfo=UTC)),
        ("2026-11-19T01:00:00-08:00", datetime(2026, 11, 19, 9, 0, tzinfo=UTC)),
        ("2026-11-20T05:15:00+05:45", datetime(2026, 11, 19, 23, 30, tzinfo=UTC)),
        ("2026-11-19T08:30:00.5Z", datetime(2026, 11, 19, 8, 30, 0, 500_000, tzinfo=UTC)),
        ("2026-11-19T08:30:00.123456+01:00", datetime(2026, 11, 19, 7, 30, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_timestamp_with_offset_is_converted_to_utc(stamp: str, expected: datetime) -> None:
    parsed = parse(event(timestamp=stamp))
    assert parsed.timestamp == expected
    assert parsed.timestamp.utcoffset() == timedelta(0)
    assert parsed.timestamp.tzinfo is UTC


def test_timestamp_defaults_to_now_in_utc() -> None:
    local_now = datetime(2026, 11, 20, 14, 0, tzinfo=timezone(timedelta(hours=1)))
    parsed = parse_event(MINIMAL, now=local_now)
    assert parsed.timestamp == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
    assert parsed.timestamp.tzinfo is UTC


def test_timestamp_exactly_24_hours_ahead_is_accepted() -> None:
    ahead = NOW + timedelta(hours=24)
    assert parse(event(timestamp=format_timestamp(ahead))).timestamp == ahead


@pytest.mark.parametrize("stamp", [
    "1999-12-31T23:59:59Z", "1999-12-31T23:59:59.999999Z", "2000-01-01T00:59:59+01:00",
    "1883-11-18T12:00:00-04:56", "0006-06-01T00:00:00Z", "1000-01-01T00:00:00Z",
])
def test_timestamp_before_2000_is_refused(stamp: str) -> None:
    assert_invalid(event(timestamp=stamp), "timestamp", "must be 2000-01-01 or later")


@pytest.mark.parametrize("stamp", ["2000-01-01T00:00:00Z", "1999-12-31T23:00:00-01:00"])
def test_timestamp_at_2000_is_accepted(stamp: str) -> None:
    assert parse(event(timestamp=stamp)).timestamp == datetime(2000, 1, 1, tzinfo=UTC)


def test_timestamp_in_the_past_is_accepted() -> None:
    assert parse(event(timestamp="2001-01-01T00:00:00Z")).timestamp == datetime(
        2001, 1, 1, tzinfo=UTC
    )


def test_explicit_event_id_is_kept() -> None:
    assert parse(event(event_id="x"), fill_id="uuid").event_id == "x"
    assert parse(event(event_id="A" * 128)).event_id == "A" * 128


def test_hash_event_id_is_deterministic() -> None:
    first = parse(FULL | {"event_id": None}, fill_id="hash")
    again = parse(dict(reversed(list(FULL.items()))) | {"event_id": None}, fill_id="hash")
    later = parse_event(FULL | {"event_id": None}, now=NOW + timedelta(hours=3))
    assert SHA256_RE.fullmatch(first.event_id)
    assert first.event_id == again.event_id == later.event_id


def test_hash_event_id_without_timestamp_ignores_the_clock() -> None:
    assert parse(MINIMAL).event_id == parse_event(MINIMAL, now=NOW - timedelta(days=2)).event_id


def test_hash_event_id_is_the_default_fill() -> None:
    assert parse(MINIMAL).event_id == parse(MINIMAL, fill_id="hash").event_id


@pytest.mark.parametrize(
    "change",
    [
        {"project_id": "proj2"},
        {"task_id": "TASK-2"},
        {"phase": "review"},
        {"model": "claude-opus-4"},
        {"provider": "openai"},
        {"iteration": 4},
        {"input_tokens": 101},
        {"output_tokens": 201},
        {"cache_creation_tokens": 301},
        {"cache_read_tokens": 401},
        {"total_tokens": 1001},
        {"cost_usd": 0.26},
        {"cost_usd": None},
        {"duration_ms": 1},
        {"initiative_id": "INIT-8"},
        {"timestamp": "2026-11-19T08:30:01Z"},
        {"timestamp": None},
        {"cache_creation_1h_tokens": 1},
        {"web_search_requests": 2},
        {"service_tier": "priority"},
    ],
)
def test_hash_event_id_differs_for_a_different_event(change: dict) -> None:
    base = FULL | {"event_id": None}
    assert parse(base).event_id != parse(base | change).event_id


@pytest.mark.parametrize("absent", [
    {}, {"cache_creation_1h_tokens": 0}, {"web_search_requests": None}, {"service_tier": ""},
])
def test_hash_event_id_of_an_event_without_pricing_fields_is_unchanged(absent: dict) -> None:
    # The id an event without these fields had before they existed: re-sending an old file
    # counts nothing twice.
    assert parse(event(input_tokens=5) | absent).event_id == (
        "d19d36e6dda71dae9fddabec4cf3d6db31f170a6d896eae18c5f8fd942ee14dd")


def test_hash_event_id_is_canonical_over_equal_instants() -> None:
    utc = parse(event(timestamp="2026-11-19T08:30:00Z"))
    offset = parse(event(timestamp="2026-11-19T10:30:00+02:00"))
    assert utc.event_id == offset.event_id


def test_uuid_event_id_is_a_fresh_uuid4() -> None:
    first = parse(MINIMAL, fill_id="uuid")
    second = parse(MINIMAL, fill_id="uuid")
    for parsed in (first, second):
        value = uuid.UUID(parsed.event_id)
        assert value.version == 4
        assert str(value) == parsed.event_id
    assert first.event_id != second.event_id


@pytest.mark.parametrize(
    "payload",
    [
        MINIMAL,
        FULL,
        FULL | {"cost_usd": None, "timestamp": "2026-11-19T08:30:00.123456+03:00"},
        event(cost_usd=0, provider="openai", model="GPT-5"),
        event(total_tokens=0, input_tokens=10),
        event(cache_creation_tokens=9, cache_creation_1h_tokens=4, web_search_requests=3,
              service_tier="priority"),
    ],
)
def test_to_json_round_trips_through_parse_event(payload: dict) -> None:
    parsed = parse(payload)
    wire = parsed.to_json()
    assert wire["timestamp"] == format_timestamp(parsed.timestamp)
    assert wire["timestamp"].endswith("Z")
    assert parse(wire) == parsed
    assert parse_event(wire, now=NOW + timedelta(days=30), fill_id="uuid") == parsed


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 11, 19, 8, 30, tzinfo=UTC), "2026-11-19T08:30:00Z"),
        (datetime(2026, 11, 19, 8, 30, 0, 5, tzinfo=UTC), "2026-11-19T08:30:00.000005Z"),
        (datetime.fromisoformat("2026-11-19T10:30:00+02:00"), "2026-11-19T08:30:00Z"),
    ],
)
def test_format_timestamp(instant: datetime, expected: str) -> None:
    assert format_timestamp(instant) == expected


def test_integer_cost_is_a_float() -> None:
    parsed = parse(event(cost_usd=2))
    assert parsed.cost_usd == 2.0
    assert isinstance(parsed.cost_usd, float)


@pytest.mark.parametrize(
    ("fields", "attr", "expected"),
    [
        ({"cost_usd": 0}, "cost_usd", 0.0),
        ({"cost_usd": 1_000_000}, "cost_usd", 1_000_000.0),
        ({"cost_usd": 1_000_000.0}, "cost_usd", 1_000_000.0),
        ({"input_tokens": 10**12}, "input_tokens", 10**12),
        ({"total_tokens": 10**12}, "total_tokens", 10**12),
        ({"iteration": 0}, "iteration", 0),
        ({"duration_ms": 10**12}, "duration_ms", 10**12),
        ({"project_id": "p" * 512}, "project_id", "p" * 512),
        ({"task_id": "t" * 256}, "task_id", "t" * 256),
        ({"phase": "f" * 128}, "phase", "f" * 128),
        ({"project_id": "**"}, "project_id", "**"),
        ({"project_id": "ünï-código ✓"}, "project_id", "ünï-código ✓"),
        ({"model": ""}, "model", ""),
        ({"initiative_id": ""}, "initiative_id", ""),
    ],
)
def test_values_at_the_bounds_are_accepted(fields: dict, attr: str, expected: Any) -> None:
    assert getattr(parse(event(**fields)), attr) == expected


# --- invalid events -------------------------------------------------------------------------


def assert_invalid(payload: Any, field: str, reason: str, now: datetime = NOW) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(payload, now=now)
    assert caught.value.field == field
    assert caught.value.reason == reason
    assert str(caught.value) == f"{field}: {reason}"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([MINIMAL], "must be a JSON object, got array"),
        ([], "must be a JSON object, got array"),
        ("proj", "must be a JSON object, got string"),
        (None, "must be a JSON object, got null"),
        (12, "must be a JSON object, got integer"),
        (1.5, "must be a JSON object, got number"),
        (True, "must be a JSON object, got boolean"),
    ],
)
def test_payload_must_be_an_object(payload: Any, reason: str) -> None:
    assert_invalid(payload, "event", reason)


@pytest.mark.parametrize("name", ["project_id", "task_id", "phase"])
@pytest.mark.parametrize("value", [..., None])
def test_required_field_missing(name: str, value: Any) -> None:
    assert_invalid(event(**{name: value}), name, "is required")


@pytest.mark.parametrize("name", ["project_id", "task_id", "phase"])
def test_required_field_empty(name: str) -> None:
    assert_invalid(event(**{name: ""}), name, "must not be empty")


def test_first_bad_field_is_named() -> None:
    assert_invalid({}, "project_id", "is required")
    assert_invalid({"project_id": "p"}, "task_id", "is required")
    assert_invalid({"project_id": "p", "task_id": "t"}, "phase", "is required")


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("project_id", 12, "integer"),
        ("project_id", ["p"], "array"),
        ("task_id", 1.5, "number"),
        ("task_id", {"id": 1}, "object"),
        ("phase", True, "boolean"),
        ("model", 4, "integer"),
        ("provider", False, "boolean"),
        ("initiative_id", 7, "integer"),
        ("service_tier", 1, "integer"),
    ],
)
def test_string_field_wrong_type(name: str, value: Any, kind: str) -> None:
    assert_invalid(event(**{name: value}), name, f"must be a string, got {kind}")


@pytest.mark.parametrize(
    ("name", "length", "limit"),
    [
        ("project_id", 513, 512),
        ("task_id", 257, 256),
        ("phase", 129, 128),
        ("model", 257, 256),
        ("provider", 65, 64),
        ("initiative_id", 257, 256),
        ("service_tier", 33, 32),
    ],
)
def test_oversized_strings(name: str, length: int, limit: int) -> None:
    assert_invalid(
        event(**{name: "x" * length}), name, f"must be at most {limit} characters, got {length}"
    )


def test_lone_surrogate_is_rejected() -> None:
    assert_invalid(event(task_id="a\ud800b"), "task_id", "must be valid Unicode text")


@pytest.mark.parametrize("name", ["project_id", "task_id", "phase", "model", "initiative_id"])
def test_nul_characters_are_rejected(name: str) -> None:
    assert_invalid(event(**{name: "a\x00b"}), name, "must not contain NUL characters")


@pytest.mark.parametrize(("writes", "one_hour"), [(0, 0), (10, 10), (10, 3)])
def test_one_hour_writes_are_a_part_of_all_writes(writes: int, one_hour: int) -> None:
    parsed = parse(event(cache_creation_tokens=writes, cache_creation_1h_tokens=one_hour))
    assert (parsed.cache_creation_tokens, parsed.cache_creation_1h_tokens) == (writes, one_hour)


@pytest.mark.parametrize(("writes", "one_hour"), [(None, 1), (10, 11)])
def test_more_one_hour_writes_than_writes_is_rejected(writes: int | None, one_hour: int) -> None:
    assert_invalid(event(cache_creation_tokens=writes, cache_creation_1h_tokens=one_hour),
                   "cache_creation_1h_tokens",
                   f"must be at most cache_creation_tokens ({writes or 0}), got {one_hour}")


def test_project_id_star_is_reserved() -> None:
    assert_invalid(event(project_id="*"), "project_id", "'*' is reserved")


INT_FIELDS = [
    "iteration",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "total_tokens",
    "duration_ms",
    "cache_creation_1h_tokens",
    "web_search_requests",
]


@pytest.mark.parametrize("name", INT_FIELDS)
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "boolean"),
        (False, "boolean"),
        ("12", "string"),
        (12.5, "number"),
        (12.0, "number"),
        (float("nan"), "number"),
        ([1], "array"),
        ({"n": 1}, "object"),
    ],
)
def test_integer_field_wrong_type(name: str, value: Any, kind: str) -> None:
    assert_invalid(event(**{name: value}), name, f"must be an integer >= 0, got {kind}")


@pytest.mark.parametrize("name", INT_FIELDS)
@pytest.mark.parametrize("value", [-1, -(10**13)])
def test_integer_field_negative(name: str, value: int) -> None:
    assert_invalid(event(**{name: value}), name, f"must be an integer >= 0, got {value}")


@pytest.mark.parametrize("name", INT_FIELDS)
@pytest.mark.parametrize("value", [10**12 + 1, 10**30])
def test_integer_field_above_bound(name: str, value: int) -> None:
    assert_invalid(event(**{name: value}), name, f"must be at most 1000000000000, got {value}")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "must be a number >= 0, got boolean"),
        (False, "must be a number >= 0, got boolean"),
        ("12", "must be a number >= 0, got string"),
        ("0.5", "must be a number >= 0, got string"),
        ([0.5], "must be a number >= 0, got array"),
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (float("-inf"), "must be a finite number"),
        (-0.01, "must be a number >= 0, got -0.01"),
        (-1, "must be a number >= 0, got -1"),
        (1_000_000.5, "must be at most 1000000, got 1000000.5"),
        (1_000_001, "must be at most 1000000, got 1000001"),
        (1e300, "must be at most 1000000, got 1e+300"),
    ],
)
def test_invalid_cost(value: Any, reason: str) -> None:
    assert_invalid(event(cost_usd=value), "cost_usd", reason)


RFC3339_REASON = "must be RFC 3339 with an offset, e.g. 2026-11-01T12:00:00Z"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-19T08:30:00", RFC3339_REASON),
        ("2026-11-19", RFC3339_REASON),
        ("not a date", RFC3339_REASON),
        ("", RFC3339_REASON),
        ("2026-11-19T08:30Z", RFC3339_REASON),
        ("2026-11-19T08:30:00+0200", RFC3339_REASON),
        ("2026-11-19T08:30:00 UTC", RFC3339_REASON),
        ("2026-11-19T08:30:00Z\n", RFC3339_REASON),
        ("1763541000", RFC3339_REASON),
        ("2026-02-30T00:00:00Z", "is not a valid date and time"),
        ("2026-13-01T00:00:00Z", "is not a valid date and time"),
        ("2026-11-19T24:00:00Z", "is not a valid date and time"),
        ("2026-11-19T08:30:00+24:00", "is not a valid date and time"),
        ("0001-01-01T00:00:00+01:00", "is out of range"),
        (1763541000, "must be an RFC 3339 string, got integer"),
        (1763541000.5, "must be an RFC 3339 string, got number"),
        (True, "must be an RFC 3339 string, got boolean"),
        (["2026-11-19T08:30:00Z"], "must be an RFC 3339 string, got array"),
    ],
)
def test_invalid_timestamp(value: Any, reason: str) -> None:
    assert_invalid(event(timestamp=value), "timestamp", reason)


@pytest.mark.parametrize(
    "ahead",
    [timedelta(hours=24, microseconds=1), timedelta(hours=24, seconds=1), timedelta(days=365)],
)
def test_timestamp_more_than_24_hours_ahead_is_rejected(ahead: timedelta) -> None:
    stamp = format_timestamp(NOW + ahead)
    assert_invalid(event(timestamp=stamp), "timestamp", "is more than 24 hours in the future")


def test_future_bound_is_relative_to_the_now_passed_in() -> None:
    stamp = "2026-11-25T00:00:00Z"
    assert_invalid(event(timestamp=stamp), "timestamp", "is more than 24 hours in the future")
    later = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert parse_event(event(timestamp=stamp), now=later).timestamp == datetime(
        2026, 11, 25, tzinfo=UTC
    )


def test_future_bound_compares_instants_not_wall_clocks() -> None:
    # 2026-11-21T13:00+02:00 is 11:00Z: 23 h ahead, although its wall clock is 25 h ahead.
    assert parse(event(timestamp="2026-11-21T13:00:00+02:00")).timestamp == datetime(
        2026, 11, 21, 11, 0, tzinfo=UTC
    )
    assert_invalid(
        event(timestamp="2026-11-21T11:00:00-02:00"),
        "timestamp",
        "is more than 24 hours in the future",
    )


EVENT_ID_REASON = "must be 1-128 characters of A-Z a-z 0-9 . _ : -"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a" * 129,
        "has space",
        "slash/",
        "semi;colon",
        "ümlaut",
        "new\nline",
        "tab\t",
        "star*",
        "a@b",
        12,
        True,
        ["id"],
    ],
)
def test_invalid_event_id(value: Any) -> None:
    assert_invalid(event(event_id=value), "event_id", EVENT_ID_REASON)


def test_invalid_event_is_not_filled_by_uuid() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event(event_id="bad id"), now=NOW, fill_id="uuid")
    assert str(caught.value) == f"event_id: {EVENT_ID_REASON}"


# --- revision -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (0, 0), (1, 1), (2**31 - 1, 2**31 - 1)])
def test_revision_is_kept_and_round_trips_through_the_wire_form(value: Any,
                                                                expected: int) -> None:
    parsed = parse(event(event_id="e", revision=value))
    assert parsed.revision == expected
    wire = parsed.to_json()
    assert wire.get("revision", 0) == expected
    assert ("revision" in wire) == bool(expected)  # an uncorrected event's wire form unchanged
    assert parse(wire) == parsed


@pytest.mark.parametrize(("value", "message"), [
    (True, "revision: must be an integer >= 0, got boolean"),
    ("1", "revision: must be an integer >= 0, got string"),
    (1.5, "revision: must be an integer >= 0, got number"),
    (-1, "revision: must be an integer >= 0, got -1"),
    (2**31, "revision: must be at most 2147483647, got 2147483648"),
])
def test_a_bad_revision_is_refused_naming_the_field(value: Any, message: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        parse(event(revision=value))
    assert str(refused.value) == message


def test_a_filled_id_ignores_the_revision() -> None:
    assert parse(event(revision=3)).event_id == parse(event()).event_id
