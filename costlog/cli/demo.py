"""A realistic month of demo events: pure and deterministic.

Everything but the timestamps comes from one seeded generator and does not depend on the day it
runs; the ids are ``demo-00000`` … by index. Running ``costlog up --demo`` again, even weeks
later, therefore publishes the same ids and the store ignores them as duplicates. Timestamps
come from a second seeded generator and are spread over the ``DAYS`` days before ``now``
(fewer at weekends and at night, as a team's agents would run).
"""

import random
from datetime import datetime, timedelta
from typing import Any

from costlog.domain.event import format_timestamp
from costlog.domain.pricing import PriceTable
from costlog.domain.rates import cost_parts

SEED = 20261101
EVENTS = 2400
DAYS = 30
PROJECTS = ("/home/dev/webapp", "/home/dev/cli", "/home/dev/data-pipeline", "/home/dev/docs-site")
TASKS_PER_PROJECT = 15
INITIATIVES = 7
PHASES = ("spec", "implement", "test", "review", "docs")

OPUS_4_5 = "claude-opus-4-5-20251101"
OPUS_4_1 = "claude-opus-4-1-20250805"
SONNET_4_5 = "claude-sonnet-4-5-20250929"
HAIKU_4_5 = "claude-haiku-4-5-20251001"
HAIKU_3 = "claude-3-haiku-20240307"
#: Every raw model id the demo uses (old and new versions are priced differently).
MODELS = (OPUS_4_5, OPUS_4_1, SONNET_4_5, HAIKU_4_5, HAIKU_3)

#: Which models each phase runs on, with weights: planning and review on Opus, the bulk of the
#: implementation on Sonnet, tests and docs mostly on Haiku.
PHASE_MODELS: dict[str, tuple[tuple[str, int], ...]] = {
    "spec": ((OPUS_4_5, 6), (OPUS_4_1, 2), (SONNET_4_5, 2)),
    "implement": ((SONNET_4_5, 7), (OPUS_4_5, 2), (OPUS_4_1, 1)),
    "test": ((HAIKU_4_5, 5), (SONNET_4_5, 3), (HAIKU_3, 2)),
    "review": ((OPUS_4_5, 5), (SONNET_4_5, 4), (OPUS_4_1, 1)),
    "docs": ((HAIKU_4_5, 6), (HAIKU_3, 3), (SONNET_4_5, 1)),
}
#: How often each phase runs (implement and test loop more than spec and docs).
PHASE_WEIGHTS = (2, 5, 4, 3, 1)
#: Token ranges per phase: (uncached input, output, cache write, cache read). A request's
#: whole input (uncached + cache write + cache read) stays within 200,000 tokens, the
#: standard context window, but for the one long-context request below.
PHASE_TOKENS: dict[str, tuple[tuple[int, int], ...]] = {
    "spec": ((500, 6_000), (1_500, 8_000), (4_000, 30_000), (10_000, 120_000)),
    "implement": ((1_000, 12_000), (3_000, 20_000), (8_000, 60_000), (50_000, 125_000)),
    "test": ((500, 8_000), (800, 6_000), (2_000, 20_000), (20_000, 170_000)),
    "review": ((500, 6_000), (600, 5_000), (4_000, 40_000), (30_000, 150_000)),
    "docs": ((300, 4_000), (1_000, 8_000), (1_000, 12_000), (5_000, 80_000)),
}
#: Share of events whose cache writes are (partly) 1-hour ones, which cost 2x input instead of
#: the 5-minute writes' 1.25x.
ONE_HOUR_SHARE = 0.3
#: The one long-context request: Sonnet 4.5 with 229,000 input tokens, above the 200,000 from
#: which the whole request costs $6/$22.50 per million; left for costlog to price.
LONG_CONTEXT_INDEX = EVENTS // 2
LONG_CONTEXT_TOKENS = {"input_tokens": 9_000, "output_tokens": 14_000,
                       "cache_creation_tokens": 30_000, "cache_read_tokens": 190_000,
                       "cache_creation_1h_tokens": 30_000}
#: Share of events sent without cost_usd, so costlog prices them from its table.
UNPRICED_SHARE = 0.2
#: Share of events whose phase used no prompt cache at all.
NO_CACHE_SHARE = 0.1
#: Share of weekend (and night) slots kept, relative to working hours.
QUIET_KEEP = 0.25


_CATALOGUE = PriceTable()


def _list_cost(model: str, tokens: dict[str, int], at: datetime) -> float:
    """The provider's bill for these tokens at list price, to the micro-dollar."""
    price = _CATALOGUE.lookup(model, at=at)
    assert price is not None, model
    return round(cost_parts(price, **tokens).total, 6)


def _tasks() -> list[tuple[str, str, str]]:
    """(project, task, initiative): every third task belongs to no initiative."""
    tasks = []
    for number in range(len(PROJECTS) * TASKS_PER_PROJECT):
        initiative = f"INIT-{number % INITIATIVES}" if number % 3 else ""
        tasks.append((PROJECTS[number % len(PROJECTS)], f"TASK-{number:03d}", initiative))
    return tasks


def _timestamps(now: datetime, count: int) -> list[datetime]:
    """``count`` instants in the ``DAYS`` days before ``now``, busier on weekday daytime."""
    rng = random.Random(SEED + 1)
    span = DAYS * 86_400
    instants = []
    while len(instants) < count:
        at = now - timedelta(seconds=rng.randint(60, span - 60))
        quiet = at.weekday() >= 5 or not 7 <= at.hour < 21
        if not quiet or rng.random() < QUIET_KEEP:
            instants.append(at.replace(microsecond=0))
    return sorted(instants)  # demo-00000 is the oldest


def demo_events(now: datetime, count: int = EVENTS) -> list[dict[str, Any]]:
    """``count`` wire-format events (dicts, as ``costlog emit`` reads them) before ``now``."""
    rng = random.Random(SEED)
    tasks = _tasks()
    events = []
    for index, at in enumerate(_timestamps(now, count)):
        project, task, initiative = rng.choice(tasks)
        phase = rng.choices(PHASES, PHASE_WEIGHTS)[0]
        models, weights = zip(*PHASE_MODELS[phase], strict=True)
        model = rng.choices(models, weights)[0]
        ranges = PHASE_TOKENS[phase]
        tokens = {name: rng.randint(*bounds) for name, bounds in zip(
            ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens"),
            ranges, strict=True)}
        if rng.random() < NO_CACHE_SHARE:
            tokens["cache_creation_tokens"] = tokens["cache_read_tokens"] = 0
        if rng.random() < ONE_HOUR_SHARE:
            tokens["cache_creation_1h_tokens"] = rng.randint(0, tokens["cache_creation_tokens"])
        unpriced = rng.random() < UNPRICED_SHARE
        if index == LONG_CONTEXT_INDEX:
            phase, model, tokens, unpriced = "implement", SONNET_4_5, LONG_CONTEXT_TOKENS, True
        event: dict[str, Any] = {
            "event_id": f"demo-{index:05d}",
            "project_id": project,
            "task_id": task,
            "phase": phase,
            "model": model,
            "iteration": rng.choices((0, 1, 2, 3), (6, 3, 2, 1))[0],
            **tokens,
            "duration_ms": rng.randint(5_000, 600_000),
            "initiative_id": initiative,
            "timestamp": format_timestamp(at),
        }
        if not unpriced:
            # The executor reports what the provider billed (list price here).
            event["cost_usd"] = _list_cost(model, tokens, at)
        events.append(event)
    return events
