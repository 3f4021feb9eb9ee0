"""The demo month is deterministic and realistic."""

from datetime import timedelta

from costlog.demo import DAYS, EVENTS, MODELS, PHASES, PROJECTS, demo_events
from ingest.event import parse_event
from ingest.models import detect_model
from tests.conftest import NOW


def test_demo_is_deterministic_and_covers_everything() -> None:
    events = demo_events(NOW)
    assert events == demo_events(NOW)
    assert [e["event_id"] for e in events] == [f"demo-{i:05d}" for i in range(EVENTS)]
    # Ids do not depend on the day it runs: re-running later adds nothing twice.
    assert [e["event_id"] for e in demo_events(NOW + timedelta(days=3))] == [
        e["event_id"] for e in events]
    parsed = [parse_event(e, now=NOW) for e in events]
    assert {e.project_id for e in parsed} == set(PROJECTS)
    assert {e.phase for e in parsed} == set(PHASES)
    assert {e.model for e in parsed} == {model for model, _ in MODELS}
    assert {detect_model(e.model) for e in parsed} == {"opus", "sonnet", "haiku"}
    assert all(NOW - timedelta(days=DAYS) <= e.timestamp < NOW for e in parsed)
    unpriced = sum(e.cost_usd is None for e in parsed)
    assert 0.15 * EVENTS < unpriced < 0.25 * EVENTS
    assert sum(e.cache_read_tokens > 0 for e in parsed) > EVENTS / 3
    assert len({e.initiative_id for e in parsed} - {""}) == 7
