"""The demo month is deterministic, realistic, and re-publishable without duplicates."""

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from costlog.cli.demo import DAYS, EVENTS, INITIATIVES, MODELS, PHASES, PROJECTS, demo_events
from costlog.constants import COST_COMPUTED
from costlog.domain.event import parse_event
from costlog.domain.models import detect_model
from costlog.domain.pricing import cost_of, load_prices
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
    # Every model is known to the built-in table, so each of them gets a computed cost.
    assert {cost_of(e, prices)[1] for e in unpriced} == {COST_COMPUTED}
    assert {e.model for e in unpriced} == set(MODELS)
    # Reported costs are what the list price gives for the same tokens (to the micro-dollar).
    for event in parsed[:200]:
        if event.cost_usd is not None:
            computed, _ = cost_of(replace(event, cost_usd=None), prices)
            assert abs(event.cost_usd - computed) <= 1e-6
