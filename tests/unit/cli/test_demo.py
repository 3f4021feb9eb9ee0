"""The demo month is deterministic, realistic, and re-publishable without duplicates."""

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from costlog.cli.demo import (
    DAYS,
    EVENTS,
    INITIATIVES,
    MODELS,
    PHASES,
    PROJECTS,
    SONNET_4_5,
    demo_events,
)
from costlog.constants import COST_COMPUTED
from costlog.domain.event import CostEvent, parse_event
from costlog.domain.models import detect_model
from costlog.domain.pricing import load_prices, price_event
from tests.conftest import NOW

WITHOUT_TIME = ("timestamp",)


def _content(event: dict) -> dict:
    return {key: value for key, value in event.items() if key not in WITHOUT_TIME}


def test_ids_and_content_do_not_depend_on_the_day() -> None:
    events = demo_events(NOW)
    assert events == demo_events(NOW)
    assert [e["event_id"] for e in events] == [f"demo-{i:05d}" for i in range(EVENTS)]
    # Run again days later: the same ids and contents (only the times move with "now"), so
    # re-publishing counts nothing twice.
    later = demo_events(NOW + timedelta(days=3, hours=5))
    assert [_content(e) for e in later] == [_content(e) for e in events]
    assert [e["timestamp"] for e in later] != [e["timestamp"] for e in events]


def test_every_event_is_valid_and_inside_the_month() -> None:
    parsed = [parse_event(e, now=NOW) for e in demo_events(NOW)]
    assert len(parsed) == EVENTS
    assert all(NOW - timedelta(days=DAYS) <= e.timestamp < NOW for e in parsed)
    assert [e.timestamp for e in parsed] == sorted(e.timestamp for e in parsed)
    # Spread over the whole month, busier on weekdays.
    assert len({e.timestamp.date() for e in parsed}) >= DAYS - 1
    weekdays = Counter(e.timestamp.weekday() < 5 for e in parsed)
    assert weekdays[True] / 5 > 2 * weekdays[False] / 2


def test_covers_projects_initiatives_phases_models_and_cache() -> None:
    parsed = [parse_event(e, now=NOW) for e in demo_events(NOW)]
    assert {e.project_id for e in parsed} == set(PROJECTS)
    assert len({(e.project_id, e.task_id) for e in parsed}) >= 50
    assert {e.initiative_id for e in parsed} == {""} | {f"INIT-{i}" for i in range(INITIATIVES)}
    assert {e.phase for e in parsed} == set(PHASES)
    assert {e.model for e in parsed} == set(MODELS)
    assert {detect_model(e.model) for e in parsed} == {"opus", "sonnet", "haiku"}
    assert sum(e.cache_read_tokens > 0 for e in parsed) > EVENTS / 2
    assert sum(e.cache_creation_tokens > 0 for e in parsed) > EVENTS / 2
    assert any(e.iteration > 0 for e in parsed)


def test_some_events_leave_the_cost_to_the_price_table() -> None:
    parsed = [parse_event(e, now=NOW) for e in demo_events(NOW)]
    prices = load_prices(None)
    unpriced = [e for e in parsed if e.cost_usd is None]
    assert 0.15 * EVENTS < len(unpriced) < 0.25 * EVENTS
    # Every model is in the catalogue, so each of them gets a computed cost.
    assert {price_event(e, prices).cost_source for e in unpriced} == {COST_COMPUTED}
    assert {e.model for e in unpriced} == set(MODELS)
    # Reported costs are what the list price gives for the same tokens (to the micro-dollar).
    for event in parsed[:200]:
        if event.cost_usd is not None:
            computed = price_event(replace(event, cost_usd=None), prices).cost_usd
            assert abs(event.cost_usd - computed) <= 1e-6


def whole_input(event: CostEvent) -> int:
    return event.input_tokens + event.cache_read_tokens + event.cache_creation_tokens


def test_one_hour_cache_writes_and_one_long_context_request() -> None:
    parsed = [parse_event(e, now=NOW) for e in demo_events(NOW)]
    one_hour = [e for e in parsed if e.cache_creation_1h_tokens]
    assert 0.2 * EVENTS < len(one_hour) < 0.4 * EVENTS
    assert all(e.cache_creation_1h_tokens <= e.cache_creation_tokens for e in parsed)
    [long] = [e for e in parsed if whole_input(e) > 200_000]
    assert (long.model, long.cost_usd, whole_input(long)) == (SONNET_4_5, None, 229_000)
    # The whole request at the long-context rates: $6 / $22.50, 1-hour writes $12, reads $0.60.
    assert price_event(long, load_prices(None)).cost_usd == pytest.approx(
        (9_000 * 6 + 14_000 * 22.5 + 30_000 * 12 + 190_000 * 0.6) / 1e6, rel=1e-12)
