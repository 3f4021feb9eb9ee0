"""Budgets: the cost_budgets rows, read and written, and a month's spend against them.

The arithmetic of a status (projection, percent, on track) is pure and lives in
``costlog.domain.budgets``; the orchestrator's operations (``store/orchestrator.py``) only
adapt names to these.
"""

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import ALL_PROJECTS
from costlog.domain import buckets
from costlog.domain.budgets import figures as budget_figures
from costlog.errors import BAD_THRESHOLD, NEGATIVE_LIMIT
from costlog.store.queries.planner import bucket_sums, usd

DEFAULT_ALERT_THRESHOLD = 80


def spent_between(db: sqlite_utils.Database, project: str | None, start: datetime,
                  end: datetime) -> int:
    """Nano-USD of every row timestamped in ``[start, end)`` (both on quarter-hour edges)."""
    return sum(bucket_sums(db, [start, end], project=project, model=None).cost(0).values())


BUDGET_COLUMNS = ("project_id, monthly_limit_usd, alert_threshold_percent, timezone,"
                  " hard_limit")


def budget_of(row: tuple) -> dict[str, Any]:
    """A cost_budgets row of BUDGET_COLUMNS as a budget."""
    project, limit, threshold, zone, hard = row
    return {"project_id": project, "monthly_limit_usd": limit or 0.0,
            "alert_threshold_percent": threshold or DEFAULT_ALERT_THRESHOLD,
            "timezone": zone or "UTC", "hard_limit": bool(hard)}


def get_budgets(db: sqlite_utils.Database,
                project: str | None = None) -> list[dict[str, Any]]:
    """The budget of ``project`` (``*``: all projects), or (None) every budget by project."""
    where, params = ("project_id = ?", [project]) if project is not None else ("1", [])
    return [budget_of(row) for row in db.execute(
        f"SELECT {BUDGET_COLUMNS} FROM cost_budgets WHERE {where} ORDER BY project_id", params)]


def get_budget(db: sqlite_utils.Database, project: str | None) -> dict[str, Any] | None:
    found = get_budgets(db, project or ALL_PROJECTS)
    return found[0] if found else None


def budget_zone(budget: dict[str, Any] | None, default: ZoneInfo) -> ZoneInfo:
    """The zone of ``budget``'s months; ``default`` without a budget (or with an unknown zone,
    which the API never stores)."""
    if budget is None:
        return default
    try:
        return ZoneInfo(budget["timezone"])
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return default


def budget_status(db: sqlite_utils.Database, *, project: str | None, tz: ZoneInfo | None,
                  now: datetime, default_tz: ZoneInfo | None = None) -> dict[str, Any]:
    """Month-to-date spend against the budget, with a linear projection: months in ``tz``, or
    (``tz`` None) in the budget's own zone, ``default_tz`` (else UTC) when there is none."""
    budget = get_budget(db, project)
    if tz is None:
        tz = budget_zone(budget, default_tz or ZoneInfo("UTC"))
    month_start, month_end = buckets.month_bounds(now, tz)
    spent = spent_between(db, project, month_start, month_end)
    return status_of(budget, project, spent, tz, now)


def status_of(budget: dict[str, Any] | None, project: str | None, spent_nanos: int,
              tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """The budget status (GET /api/cost/budget) for a month's spend already summed."""
    budget = budget or {}
    limit = float(budget.get("monthly_limit_usd") or 0.0)
    threshold = int(budget.get("alert_threshold_percent") or DEFAULT_ALERT_THRESHOLD)
    month_start, month_end = buckets.month_bounds(now, tz)
    spent = usd(spent_nanos)
    return {
        "project": project or ALL_PROJECTS,
        "month": month_start.strftime("%Y-%m"),
        "monthly_limit_usd": limit,
        "alert_threshold_percent": threshold,
        "timezone": str(budget.get("timezone") or tz),
        "hard_limit": bool(budget.get("hard_limit", False)),
        "current_spent_usd": spent,
        **budget_figures(limit=limit, threshold=threshold, spent=spent,
                         month_start=month_start, month_end=month_end, now=now, tz=tz),
    }


def put_budget(db: sqlite_utils.Database, project_id: str | None, monthly_limit_usd: float,
               alert_threshold_percent: int = DEFAULT_ALERT_THRESHOLD, *,
               timezone: str | None = None, hard_limit: bool | None = None) -> str:
    """Create or replace a monthly budget in the caller's write transaction; the project key it
    is stored under (``*`` for all projects). A threshold of 0 means the default 80;
    ``timezone`` (IANA) and ``hard_limit`` left None keep the budget's own (UTC and False for a
    new one). Setting a budget also decides its alerts (``store/alerts.py``), which read the
    budgets: the orchestrator's ``set_budget`` does both in one transaction."""
    if not math.isfinite(monthly_limit_usd) or monthly_limit_usd < 0:
        raise ValueError(NEGATIVE_LIMIT)
    if not 0 <= alert_threshold_percent <= 100:
        raise ValueError(BAD_THRESHOLD)
    if timezone is not None:
        ZoneInfo(timezone)  # raises on an unknown zone
    threshold = alert_threshold_percent or DEFAULT_ALERT_THRESHOLD
    project = project_id or ALL_PROJECTS
    db.execute(
        "INSERT INTO cost_budgets(project_id, monthly_limit_usd, alert_threshold_percent,"
        " timezone, hard_limit, created_at, updated_at)"
        " VALUES (:project, :limit, :threshold, COALESCE(:tz, ''), COALESCE(:hard, 0),"
        " datetime('now'), datetime('now'))"
        " ON CONFLICT(project_id) DO UPDATE SET monthly_limit_usd = excluded.monthly_limit_usd,"
        " alert_threshold_percent = excluded.alert_threshold_percent,"
        " timezone = COALESCE(:tz, timezone), hard_limit = COALESCE(:hard, hard_limit),"
        " updated_at = excluded.updated_at",
        {"project": project, "limit": float(monthly_limit_usd), "threshold": threshold,
         "tz": timezone, "hard": None if hard_limit is None else int(hard_limit)},
    )
    return project
