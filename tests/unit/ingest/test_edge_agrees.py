"""Any event an edge accepts (POST /api/cost/events, ``costlog emit``, ``publish``), the worker
records: the same validation runs at both ends, derived fields included."""

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costlog import constants
from costlog.domain.event import InvalidEvent, parse_event
from costlog.domain.pricing import load_prices
from ingest import job
from ingest.job import JobContext
from tests.conftest import NOW

#: Counts around the bound, so that sums of the four token counts land on both sides of it.
COUNTS = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=constants.MAX_TOKENS + 1),
    st.sampled_from([0, 1, constants.MAX_TOKENS // 4, constants.MAX_TOKENS // 2,
                     constants.MAX_TOKENS - 1, constants.MAX_TOKENS, constants.MAX_TOKENS + 1]),
)
COSTS = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=constants.MAX_COST_USD * 1.01, allow_nan=False),
    st.sampled_from([0, 0.0, 1e-9, constants.MAX_COST_USD, constants.MAX_COST_USD + 1e-9]),
)
#: Instants around "now" and the ends of the calendar, written with odd offsets.
TIMESTAMPS = st.one_of(
    st.none(),
    st.sampled_from(["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00",
                     "1999-12-31T23:59:59Z", "2000-01-01T00:00:00+00:00",
                     "9999-12-31T23:59:59-01:00", "2026-11-21T11:59:59Z",
                     "2026-11-21T12:00:01Z", "2026-11-20T12:00:00.123456789+05:45"]),
    st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(hours=30)).map(
        lambda delta: (NOW + delta).isoformat()),
)
TEXT = st.text(max_size=6)
PAYLOADS = st.fixed_dictionaries(
    {"project_id": st.sampled_from(["web", "api", "docs", "", "*",
                                  "p" * (constants.PROJECT_ID_MAX + 1)]),
     "task_id": st.sampled_from(["T-1", "t" * constants.TASK_ID_MAX]),
     "phase": st.sampled_from(["implement", "review"])},
    optional={
        "event_id": st.from_regex(r"[A-Za-z0-9._:-]{1,8}", fullmatch=True),
        "model": st.sampled_from(["claude-opus-4-5", "claude-3-haiku", "gpt-5", "", "x" * 300]),
        "provider": st.sampled_from(["claude", "openai", ""]),
        "iteration": COUNTS, "duration_ms": COUNTS,
        "input_tokens": COUNTS, "output_tokens": COUNTS,
        "cache_creation_tokens": COUNTS, "cache_read_tokens": COUNTS, "total_tokens": COUNTS,
        "cost_usd": COSTS, "initiative_id": TEXT, "timestamp": TIMESTAMPS,
    },
)


@pytest.fixture
def context(db: sqlite_utils.Database):
    previous = job.set_context(JobContext(db=db, prices=load_prices(None)))
    yield db
    job.set_context(previous)


def edge_accepts(payload: dict[str, Any], fill_id: str) -> dict[str, Any] | None:
    """What an edge puts on the queue for ``payload`` (its JSON wire form), None if refused."""
    try:
        event = parse_event(payload, now=NOW, fill_id=fill_id)  # type: ignore[arg-type]
    except InvalidEvent:
        return None
    return json.loads(json.dumps(event.to_json()))  # the queue's JSON serializer


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS, fill_id=st.sampled_from(["hash", "uuid"]))
def test_the_worker_records_every_event_the_edge_accepts(
    context: sqlite_utils.Database, payload: dict[str, Any], fill_id: str,
) -> None:
    wire = edge_accepts(payload, fill_id)
    if wire is None:
        return
    outcome = job.record_events([wire])  # raises InvalidJob if the worker disagrees
    assert outcome["inserted"] + outcome["duplicates"] == 1
    row = context.execute("SELECT total_tokens FROM cost_log WHERE event_id = ?",
                          [wire["event_id"]]).fetchone()
    assert row is not None
    if outcome["inserted"]:  # (a short generated event_id may repeat an earlier one)
        assert row[0] == wire["total_tokens"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"input_tokens": constants.MAX_TOKENS, "output_tokens": 1}, "total_tokens"),
    ({"cost_usd": constants.MAX_COST_USD + 1}, "cost_usd"),
    ({"cache_read_tokens": constants.MAX_TOKENS + 1}, "cache_read_tokens"),
])
def test_the_edge_refuses_what_the_worker_would(payload: dict[str, Any], field: str) -> None:
    """The reproduction: 10^12 input tokens plus one output token answered 202, then the worker
    failed the job for good."""
    event = {"project_id": "web", "task_id": "T-1", "phase": "implement", **payload}
    with pytest.raises(InvalidEvent) as refused:
        parse_event(event, now=NOW, fill_id="hash")
    assert refused.value.field == field
