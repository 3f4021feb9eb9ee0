"""The read side: breakdowns, time series, budget status and initiative rollups (SPEC §7).

Every query reads the rollups; raw cost_log rows are read only for the partial rollup bucket at
the leading edge of a rolling window (at most one quarter hour, or one UTC day for tasks and
initiatives), so no dashboard request scans cost_log. Costs are summed as integer nano-USD.
"""

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from ingest import buckets, rollups
from ingest.constants import ALL_PROJECTS, MAX_SERIES_POINTS, NANOS_PER_USD

BREAKDOWN_DIMENSIONS = ("model", "phase", "task", "initiative")
PERIODS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
DEFAULT_SERIES_SPAN = timedelta(days=30)
DEFAULT_ALERT_THRESHOLD = 80
DATES_OUT_OF_RANGE = "invalid range: dates out of range"


class QueryError(ValueError):
    """A bad request parameter; ``str()`` is the exact message the client gets."""


def usd(nanos: int) -> float:
    return nanos / NANOS_PER_USD


@dataclass(frozen=True)
class Dimension:
    """Where one breakdown dimension is read from."""

    window_table: str  # rollup with a UTC time column, for rolling windows
    time_column: str
    ceil: Any  # instant -> first boundary of the window table's time key at or after it
    key: str  # key expression over the rollup tables
    raw_key: str  # the same key over raw cost_log rows (alias n)
    all_time_table: str
    has_all_projects_rows: bool  # the tables carry project_id '*' totals
    raw_where: str = "1"


def _quarter_text(instant: datetime) -> str:
    return buckets.quarter_key(instant)


def _dimension(by: str, project: str | None) -> Dimension:
    if by == "model":
        return Dimension("rollup_model_q", "bucket", buckets.ceil_quarter, "model",
                         rollups.MODEL, "rollup_model_q", True)
    if by == "phase":
        return Dimension("rollup_phase_q", "bucket", buckets.ceil_quarter, "phase",
                         rollups.PHASE, "rollup_phase_q", True)
    if by == "task":
        # Task ids repeat between projects: across all projects the key names both.
        key, raw = ("task_id", rollups.TASK) if project else (
            "project_id || '/' || task_id", f"{rollups.PROJECT} || '/' || {rollups.TASK}")
        return Dimension("rollup_task_d", "day", buckets.ceil_day, key, raw, "rollup_task", False)
    return Dimension("rollup_initiative_d", "day", buckets.ceil_day, "initiative_id",
                     rollups.INITIATIVE, "rollup_initiative_d", True,
                     raw_where=f"{rollups.INITIATIVE} <> ''")


def _time_key(dimension: Dimension, instant: datetime) -> str:
    edge = dimension.ceil(instant)
    return _quarter_text(edge) if dimension.time_column == "bucket" else edge.date().isoformat()


def _project_filter(project: str | None, has_all_rows: bool) -> tuple[str, dict[str, str]]:
    if project:
        return "project_id = :project", {"project": project}
    if has_all_rows:
        return "project_id = :project", {"project": ALL_PROJECTS}
    return "1", {}


def _sums(db: sqlite_utils.Database, by: str, project: str | None,
          since: datetime | None) -> dict[str, list[int]]:
    """key -> [cost_nanos, tokens] for rows at or after ``since`` (all rows when None)."""
    dim = _dimension(by, project)
    where, params = _project_filter(project, dim.has_all_projects_rows)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    if since is None:
        sql = (f"SELECT {dim.key}, SUM(cost_nanos), SUM(tokens) FROM {dim.all_time_table}"
               f" WHERE {where} GROUP BY 1")
        rows = db.execute(sql, params).fetchall()
    else:
        edge = dim.ceil(since)
        params = {**params, "edge": _time_key(dim, since),
                  "since": buckets.storage_text(since), "edge_text": buckets.storage_text(edge)}
        rows = db.execute(
            f"SELECT {dim.key}, SUM(cost_nanos), SUM(tokens) FROM {dim.window_table}"
            f" WHERE {where} AND {dim.time_column} >= :edge GROUP BY 1", params,
        ).fetchall()
        raw_project = "n.project_id = :project" if project else "1"
        rows += db.execute(
            f"SELECT {dim.raw_key}, SUM({rollups.COST_NANOS}), SUM({rollups.TOKENS})"
            f" FROM cost_log AS n WHERE n.timestamp >= :since AND n.timestamp < :edge_text"
            f" AND {raw_project} AND ({dim.raw_where}) GROUP BY 1", params,
        ).fetchall()
    for key, nanos, tokens in rows:
        totals[key][0] += nanos or 0
        totals[key][1] += tokens or 0
    return totals


def _share(nanos: int, total: int) -> float:
    return nanos / total * 100 if total else 0.0


def breakdown(db: sqlite_utils.Database, *, by: str, period: str, project: str | None,
              limit: int | None, now: datetime) -> dict[str, Any]:
    """Cost and tokens per model/phase/task/initiative over a rolling window (SPEC §7)."""
    if by not in BREAKDOWN_DIMENSIONS:
        raise QueryError("invalid 'by' parameter: use model, phase, task, or initiative")
    if period not in PERIODS:
        raise QueryError("invalid 'period' parameter: use 24h, 7d, 30d, or all")
    span = PERIODS[period]
    totals = _sums(db, by, project, None if span is None else now - span)
    total = sum(nanos for nanos, _ in totals.values())
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    shown = ranked if limit is None else ranked[:limit]
    result: dict[str, Any] = {
        "period": period,
        "total_cost_usd": usd(total),
        "breakdown": {
            key: {"cost": usd(nanos), "tokens": tokens, "percent": _share(nanos, total)}
            for key, (nanos, tokens) in shown
        },
    }
    if limit is not None:
        rest = ranked[limit:]
        rest_nanos = sum(nanos for _, (nanos, _) in rest)
        result["other"] = {
            "cost": usd(rest_nanos),
            "tokens": sum(tokens for _, (_, tokens) in rest),
            "percent": _share(rest_nanos, total),
            "count": len(rest),
        }
    return result


def _parse_bound(text: str | None, name: str, tz: ZoneInfo, *, end: bool) -> datetime | None:
    if text is None:
        return None
    try:
        return buckets.parse_instant(text, tz, end_of_day=end)
    except buckets.InvalidInstant:
        raise QueryError(f"invalid {name} date: use YYYY-MM-DD or RFC3339") from None


def series_range(start: str | None, end: str | None, tz: ZoneInfo,
                 now: datetime) -> tuple[datetime, datetime]:
    """The requested range; defaults to the 30 days ending now (or ending at ``end``)."""
    first = _parse_bound(start, "start", tz, end=False)
    last = _parse_bound(end, "end", tz, end=True)
    if last is None:
        last = now.astimezone(tz)
    if first is None:
        first = last - DEFAULT_SERIES_SPAN
    if first > last:
        raise QueryError("invalid range: start is after end")
    return first, last


def timeseries(db: sqlite_utils.Database, *, granularity: str, start: str | None,
               end: str | None, model: str | None, project: str | None, tz: ZoneInfo,
               now: datetime) -> dict[str, Any]:
    """Gap-filled cost and tokens per bucket in ``tz`` (SPEC §7)."""
    if granularity not in buckets.GRANULARITIES:
        raise QueryError("invalid granularity: use hour, day, week, or month")
    try:
        first, last = series_range(start, end, tz, now)
        count = buckets.count_buckets(first, last, granularity, tz, MAX_SERIES_POINTS)
        if count > MAX_SERIES_POINTS:
            raise QueryError(f"invalid range: more than {MAX_SERIES_POINTS} points")
        points = buckets.buckets(first, last, granularity, tz)
    except QueryError:
        raise
    except (OverflowError, ValueError):
        # A bucket edge beyond year 1 or 9999: still the client's input, never a 500.
        raise QueryError(DATES_OUT_OF_RANGE) from None
    params: dict[str, Any] = {"project": project or ALL_PROJECTS,
                              "lo": points[0].start_key, "hi": points[-1].end_key}
    model_filter = ""
    if model:
        model_filter, params["model"] = " AND model = :model", model.lower()
    rows = db.execute(
        "SELECT bucket, SUM(cost_nanos), SUM(tokens) FROM rollup_model_q"
        f" WHERE project_id = :project AND bucket >= :lo AND bucket < :hi{model_filter}"
        " GROUP BY bucket", params,
    ).fetchall()
    starts = [point.start_key for point in points]
    sums = [[0, 0] for _ in points]
    for bucket, nanos, tokens in rows:
        index = bisect.bisect_right(starts, bucket) - 1
        sums[index][0] += nanos
        sums[index][1] += tokens
    series = []
    for point, (nanos, tokens) in zip(points, sums, strict=True):
        entry: dict[str, Any] = {"date": point.label, "start": buckets.rfc3339(point.start),
                                 "cost": usd(nanos), "tokens": tokens}
        if model:
            entry["model"] = model.lower()
        series.append(entry)
    return {"start": buckets.rfc3339(first), "end": buckets.rfc3339(last),
            "granularity": granularity, "series": series}


def spent_between(db: sqlite_utils.Database, project: str | None, start: datetime,
                  end: datetime) -> int:
    """Nano-USD of every row timestamped in ``[start, end)`` (both on quarter-hour edges)."""
    (nanos,) = db.execute(
        "SELECT COALESCE(SUM(cost_nanos), 0) FROM rollup_model_q"
        " WHERE project_id = ? AND bucket >= ? AND bucket < ?",
        [project or ALL_PROJECTS, buckets.quarter_key(start), buckets.quarter_key(end)],
    ).fetchone()
    return nanos


def get_budget(db: sqlite_utils.Database, project: str | None) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT monthly_limit_usd, alert_threshold_percent FROM cost_budgets WHERE project_id = ?",
        [project or ALL_PROJECTS],
    ).fetchone()
    if row is None:
        return None
    return {"project_id": project or ALL_PROJECTS, "monthly_limit_usd": row[0] or 0.0,
            "alert_threshold_percent": row[1] or DEFAULT_ALERT_THRESHOLD}


def budget_status(db: sqlite_utils.Database, *, project: str | None, tz: ZoneInfo,
                  now: datetime) -> dict[str, Any]:
    """Month-to-date spend in ``tz`` against the budget, with a linear projection (SPEC §7)."""
    budget = get_budget(db, project) or {}
    limit = float(budget.get("monthly_limit_usd") or 0.0)
    threshold = int(budget.get("alert_threshold_percent") or DEFAULT_ALERT_THRESHOLD)
    month_start, month_end = buckets.month_bounds(now, tz)
    spent = usd(spent_between(db, project, month_start, month_end))
    month_seconds = (month_end - month_start).total_seconds()
    elapsed = max((now - month_start).total_seconds(), 86400.0)
    projected = spent / min(elapsed / month_seconds, 1.0)
    last_day = (month_end - timedelta(days=1)).astimezone(tz).date()
    has_budget = limit > 0
    percent = spent / limit * 100 if has_budget else 0.0
    return {
        "project": project or ALL_PROJECTS,
        "month": month_start.strftime("%Y-%m"),
        "monthly_limit_usd": limit,
        "alert_threshold_percent": threshold,
        "current_spent_usd": spent,
        "remaining_usd": limit - spent if has_budget else 0.0,
        "percent_used": percent,
        "projected_monthly": projected,
        "days_remaining": (last_day - now.astimezone(tz).date()).days,
        "on_track": projected <= limit if has_budget else True,
        "at_alert_threshold": has_budget and percent >= threshold,
        "over_budget": has_budget and spent > limit,
    }


def initiative_cost(db: sqlite_utils.Database, initiative_id: str, *,
                    project: str | None) -> dict[str, Any] | None:
    """One initiative's spend by task, model and phase; None when it has no cost row."""
    where, params = "initiative_id = :initiative", {"initiative": initiative_id}
    if project:
        where, params["project"] = where + " AND project_id = :project", project
    rows = db.execute(
        "SELECT project_id, task_id, model, phase, cost_nanos, tokens"
        f" FROM rollup_initiative WHERE {where}", params,
    ).fetchall()
    if not rows:
        return None
    tasks: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    models: dict[str, int] = defaultdict(int)
    phases: dict[str, int] = defaultdict(int)
    for project_id, task_id, model, phase, nanos, tokens in rows:
        tasks[(project_id, task_id)][0] += nanos
        tasks[(project_id, task_id)][1] += tokens
        models[model] += nanos
        phases[phase] += nanos
    ranked = sorted(tasks.items(), key=lambda item: (-item[1][0], item[0]))
    return {
        "initiative_id": initiative_id,
        "total_cost_usd": usd(sum(nanos for nanos, _ in tasks.values())),
        "total_tokens": sum(tokens for _, tokens in tasks.values()),
        "by_task": [
            {"task_id": task, "project_id": project_id, "cost": usd(nanos), "tokens": tokens}
            for (project_id, task), (nanos, tokens) in ranked
        ],
        "by_model": {model: usd(nanos) for model, nanos in sorted(models.items())},
        "by_phase": {phase: usd(nanos) for phase, nanos in sorted(phases.items())},
    }
