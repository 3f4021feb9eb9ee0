"""The orchestrator's own cost operations under their Python names, over costlog's store.

An orchestrator that called its global database's functions can call these with the same
names and meanings; each reads or writes through the same modules as the API and the worker.
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog import clock
from costlog.domain.event import parse_event
from costlog.domain.models import detect_model
from costlog.domain.pricing import PriceTable
from costlog.store import alerts, budgets, queries
from costlog.store.connection import immediate
from costlog.store.write import WriteResult, record_events

__all__ = [
    "detect_model", "get_budget", "get_budget_status", "get_cost_aggregates", "get_cost_by_model",
    "get_cost_timeseries", "get_initiative_cost", "record_cost_extended", "set_budget",
    "update_cost_aggregate",
]



def record_cost_extended(db: sqlite_utils.Database, prices: PriceTable | None = None,
                         **fields: Any) -> WriteResult:
    """Validate one event given as keyword fields (its field names) and record it once."""
    event = parse_event(fields, now=clock.now(), fill_id="hash")
    return record_events(db, [event], prices or PriceTable())


def get_cost_by_model(db: sqlite_utils.Database, project_id: str | None = None,
                      period: str = "all") -> dict[str, dict[str, Any]]:
    """Cost, tokens and share per model family."""
    return queries.breakdown(db, by="model", period=period, project=project_id, limit=None,
                             now=clock.now())["breakdown"]


def get_cost_timeseries(db: sqlite_utils.Database, granularity: str = "day",
                        start: str | None = None, end: str | None = None,
                        project_id: str | None = None, tz: str = "UTC",
                        model: str | None = None) -> list[dict[str, Any]]:
    """Gap-filled points per day/week/month (or hour) in ``tz``."""
    return queries.timeseries(db, granularity=granularity, start=start, end=end, model=model,
                              project=project_id, tz=ZoneInfo(tz), now=clock.now())["series"]


_AGGREGATE_VALUES = ("total_cost_usd", "total_input_tokens", "total_output_tokens",
                     "total_cache_tokens", "turn_count", "task_count")


def update_cost_aggregate(db: sqlite_utils.Database, project_id: str, model: str, phase: str,
                          date: str, **values: float) -> None:
    """Replace one cost_aggregates row's values (the seed's operator override).

    The live path never calls this: it adds into cost_aggregates. A replaced row shows up as
    drift in ``costlog aggregates check`` until ``rebuild``.
    """
    unknown = sorted(set(values) - set(_AGGREGATE_VALUES))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a cost_aggregates value")
    columns = ["project_id", "model", "phase", "date", *values, "created_at"]
    updates = ", ".join(f"{column} = excluded.{column}" for column in values) or "date = date"
    with immediate(db):
        db.execute(
            f"INSERT INTO cost_aggregates ({', '.join(columns)})"
            f" VALUES ({', '.join('?' for _ in columns[:-1])}, datetime('now'))"
            f" ON CONFLICT(project_id, model, phase, date) DO UPDATE SET {updates}",
            [project_id, model, phase, date, *values.values()],
        )


def get_cost_aggregates(db: sqlite_utils.Database, project_id: str | None = None,
                        start_date: str | None = None,
                        end_date: str | None = None) -> list[dict[str, Any]]:
    """cost_aggregates rows (UTC dates, inclusive bounds), oldest first."""
    where, params = ["1"], []
    for clause, value in (("project_id = ?", project_id), ("date >= ?", start_date),
                          ("date <= ?", end_date)):
        if value is not None:
            where.append(clause)
            params.append(value)
    return list(db.query(
        f"SELECT * FROM cost_aggregates WHERE {' AND '.join(where)}"
        " ORDER BY date, project_id, model, phase", params,
    ))


def get_budget(db: sqlite_utils.Database, project_id: str | None = None) -> dict[str, Any] | None:
    """The budget of ``project_id`` (None: the all-projects budget), or None when unset."""
    return budgets.get_budget(db, project_id)


def set_budget(db: sqlite_utils.Database, project_id: str | None, monthly_limit_usd: float,
               alert_threshold_percent: int = budgets.DEFAULT_ALERT_THRESHOLD, *,
               timezone: str | None = None, hard_limit: bool | None = None,
               now: datetime | None = None) -> alerts.Decision:
    """Create or replace a monthly budget; a threshold of 0 means the default 80.

    ``timezone`` (IANA) and ``hard_limit`` left None keep the budget's own (UTC and False for
    a new one). The alerts the new budget makes due fire in the same transaction: a limit
    lowered below this month's spend fires at once.
    """
    with immediate(db):
        project = budgets.put_budget(db, project_id, monthly_limit_usd, alert_threshold_percent,
                                     timezone=timezone, hard_limit=hard_limit)
        return alerts.decide(db, [project], now or clock.now())


def get_budget_status(db: sqlite_utils.Database, project_id: str | None = None,
                      tz: str | None = "UTC", now: datetime | None = None) -> dict[str, Any]:
    """Live month-to-date spend against the budget (calendar month in ``tz``; None: in the
    budget's own zone)."""
    return budgets.budget_status(db, project=project_id, tz=None if tz is None else ZoneInfo(tz),
                                 now=now or clock.now())


def get_initiative_cost(db: sqlite_utils.Database, initiative_id: str,
                        project_id: str | None = None) -> dict[str, Any] | None:
    return queries.initiative_cost(db, initiative_id, project=project_id)
