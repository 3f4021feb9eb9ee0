"""A realistic month of demo events (pure and deterministic: the same ids on every run)."""

import random
from datetime import datetime, timedelta
from typing import Any

from ingest.event import format_timestamp

SEED = 20261101
EVENTS = 2400
DAYS = 30
PROJECTS = ("/home/dev/webapp", "/home/dev/cli", "/home/dev/data-pipeline", "/home/dev/docs-site")
PHASES = ("spec", "implement", "test", "review", "docs")
#: (raw model id, weight): a realistic mix, old and new versions priced differently.
MODELS = (
    ("claude-opus-4-5-20251101", 3), ("claude-opus-4-1-20250805", 1),
    ("claude-sonnet-4-5-20250929", 6), ("claude-haiku-4-5-20251001", 4),
    ("claude-3-haiku-20240307", 1),
)
#: Share of events sent without cost_usd, so costlog prices them.
UNPRICED_SHARE = 0.2


def demo_events(now: datetime, count: int = EVENTS) -> list[dict[str, Any]]:
    """``count`` events over the ``DAYS`` days before ``now``; ids ``demo-00000``… are fixed."""
    rng = random.Random(SEED)
    tasks = [(project, f"TASK-{index:03d}", f"INIT-{index % 7}" if index % 3 else "")
             for index, project in enumerate(PROJECTS * 15)]
    ids, weights = zip(*MODELS, strict=True)
    events = []
    for index in range(count):
        project, task, initiative = rng.choice(tasks)
        model = rng.choices(ids, weights)[0]
        tokens = {"input_tokens": rng.randint(500, 40_000),
                  "output_tokens": rng.randint(100, 8_000),
                  "cache_creation_tokens": rng.choice((0, 0, rng.randint(1_000, 20_000))),
                  "cache_read_tokens": rng.choice((0, rng.randint(5_000, 200_000)))}
        at = now - timedelta(seconds=rng.randint(60, DAYS * 86400))
        event: dict[str, Any] = {
            "event_id": f"demo-{index:05d}", "project_id": project, "task_id": task,
            "phase": rng.choice(PHASES), "model": model, "iteration": rng.randint(0, 3),
            **tokens, "duration_ms": rng.randint(5_000, 600_000), "initiative_id": initiative,
            "timestamp": format_timestamp(at.replace(microsecond=0)),
        }
        if rng.random() >= UNPRICED_SHARE:
            # A reported cost near the list price, as a provider's bill would show it.
            event["cost_usd"] = round(rng.uniform(0.01, 2.5), 6)
        events.append(event)
    return events
