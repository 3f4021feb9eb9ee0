"""The read side: breakdowns, time series, budget status and initiative rollups.

Every query reads the rollups; raw cost_log rows are read only for the partial rollup bucket at
the leading edge of a rolling window (at most one quarter hour, or one UTC day for tasks and
initiatives), so no dashboard request scans cost_log. Costs are summed as integer nano-USD.
"""

import json
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import ALL_PROJECTS, MAX_SERIES_POINTS, NANOS_PER_USD
from costlog.domain import buckets
from costlog.store import rollups

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
class Grain:
    """A rollup time key: its column, its text for an instant, and its boundaries."""

    column: str
    key: Callable[[datetime], str]  # the key of the period holding an instant
    ceil: Callable[[datetime], datetime]  # the first boundary at or after an instant


DAY = Grain("day", buckets.day_key, buckets.ceil_day)
HOUR = Grain("hour", buckets.hour_key, buckets.ceil_hour)
QUARTER = Grain("bucket", buckets.quarter_key, buckets.ceil_quarter)


@dataclass(frozen=True)
class Level:
    """A model rollup by time, its periods counted in UTC quarter hours since the epoch."""

    table: str
    column: str
    quarters: int  # length of one period; each level's is a multiple of the next one's
    #: strftime() of the key of the period starting at a Unix time: the text of
    #: ``buckets.day_key``/``hour_key``/``quarter_key``.
    key_format: str

    def anchor(self, index: int) -> int:
        """The period boundary nearest to quarter ``index``; the one below when the one above
        is past the end of year 9999."""
        nearest = (index + self.quarters // 2) // self.quarters * self.quarters
        return nearest if nearest <= _LAST_QUARTER else nearest - self.quarters


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUARTER = timedelta(minutes=15)
_QUARTER_SECONDS = 900
_LAST_QUARTER = (datetime(9999, 12, 31, 23, 45, tzinfo=UTC) - _EPOCH) // _QUARTER
#: The model rollups by time, coarsest first.
MODEL_LEVELS = (Level("rollup_model_d", "day", 96, "%Y-%m-%d"),
                Level("rollup_model_h", "hour", 4, "%Y-%m-%d %H"),
                Level("rollup_model_q", "bucket", 1, "%Y-%m-%d %H:%M"))


def _bucket_sums(db: sqlite_utils.Database, edges: list[datetime], *, project: str | None,
                 model: str | None, coarsest: int) -> list[tuple[int, int]]:
    """(nano-USD, tokens) of each ``[edges[i], edges[i + 1])``, summed in SQL.

    Each edge gets an anchor on every level from ``MODEL_LEVELS[coarsest]`` down: the nearest
    period boundary of that level (the finest level's anchor is the edge itself). Then, exactly,
    in signed interval sums:

        [e_i, e_i+1) = [A_i, A_i+1) on the coarsest level
                       + per finer level: [a_i+1, b_i+1) - [a_i, b_i)

    where a, b are an edge's anchors on the coarser level and on this level. So a year of New
    York days reads 365 day ranges and one ≤ 12-hour range per edge instead of 8,760 hours, and
    one row per range comes back. An edge off the quarter-hour grid counts from its own
    quarter, as its rollup key does. One statement: a single read snapshot, so the levels
    always agree with each other.
    """
    levels = MODEL_LEVELS[coarsest:]
    quarters = [(edge - _EPOCH) // _QUARTER for edge in edges]
    # Per level, the ranges to read as [lo, hi, i, j] (quarter indexes; buckets): the range's
    # sums go into bucket i and out of bucket j; -1 and len(edges) - 1 are no bucket.
    ranges: list[list[tuple[int, int, int, int]]] = [[] for _ in levels]
    above = [levels[0].anchor(quarter) for quarter in quarters]
    ranges[0] = [(lo, hi, index, -1) for index, (lo, hi) in enumerate(pairwise(above))
                 if lo < hi]
    for number, level in enumerate(levels[1:], 1):
        here = [level.anchor(quarter) for quarter in quarters]
        # Edge i's [coarser anchor, anchor) belongs to bucket i - 1 and not to bucket i.
        ranges[number] = [(lo, hi, index - 1, index) if lo < hi else (hi, lo, index, index - 1)
                          for index, (lo, hi) in enumerate(zip(above, here, strict=True))
                          if lo != hi]
        above = here
    params: dict[str, Any] = {"project": project or ALL_PROJECTS, "q": _QUARTER_SECONDS}
    model_filter = ""
    if model:
        model_filter, params["model"] = " AND r.model = :model", model
    parts = []
    for number, level in enumerate(levels):
        if not ranges[number]:
            continue
        params[f"r{number}"] = json.dumps(ranges[number], separators=(",", ":"))
        # json_extract, not ->> (SQLite 3.38+): JSON1 alone is enough.
        bounds = [f"strftime('{level.key_format}', json_extract(p.value, '$[{i}]') * :q,"
                  " 'unixepoch')" for i in (0, 1)]
        # One primary-key range scan per range, as a correlated subquery: no GROUP BY, so no
        # sorter over every rollup row read. Both sums come back as one 'nanos tokens' text.
        parts.append(
            "SELECT json_extract(p.value, '$[2]'), json_extract(p.value, '$[3]'),"
            " (SELECT SUM(r.cost_nanos) || ' ' || SUM(r.tokens)"
            f" FROM {level.table} AS r WHERE r.project_id = :project"
            f" AND r.{level.column} >= {bounds[0]} AND r.{level.column} < {bounds[1]}"
            f"{model_filter}) FROM json_each(:r{number}) AS p")
    # Slot 0 and the last slot take the sums that belong to no bucket.
    sums = [[0, 0] for _ in range(len(edges) + 1)]
    if parts:
        for into, out, both in db.execute(" UNION ALL ".join(parts), params):
            if both is None:  # no rollup row in the range
                continue
            nanos, tokens = map(int, both.split())
            sums[into + 1][0] += nanos
            sums[into + 1][1] += tokens
            sums[out + 1][0] -= nanos
            sums[out + 1][1] -= tokens
    return [(nanos, tokens) for nanos, tokens in sums[1:-1]]


@dataclass(frozen=True)
class Dimension:
    """Where one breakdown dimension is read from."""

    levels: tuple[tuple[str, Grain], ...]  # (rollup table, grain), coarsest first
    key: str  # key expression over the rollup tables
    raw_key: str  # the same key over raw cost_log rows (alias n)
    group: str  # GROUP BY of the all-time table: its key columns, so no sort is needed
    all_time_table: str
    has_all_projects_rows: bool  # the tables carry project_id '*' totals
    raw_where: str = "1"
    #: The all-time table holds one row per key: ``period=all`` ranks its rows directly.
    one_row_per_key: bool = False
    #: SQL over the all-time table, > 0 when two of its rows may still share a key.
    shared_keys: str = "0"


def _dimension(by: str, project: str | None) -> Dimension:
    if by in ("model", "phase"):
        return Dimension(((f"rollup_{by}_d", DAY), (f"rollup_{by}_q", QUARTER)), by,
                         rollups.MODEL if by == "model" else rollups.PHASE, by,
                         f"rollup_{by}_d", True)
    if by == "task":
        # Task ids repeat between projects: across all projects the key names both.
        if project:
            return Dimension((("rollup_task_d", DAY),), "task_id", rollups.TASK, "task_id",
                             "rollup_task", False, one_row_per_key=True)
        # 'p/q' + '/' + 't' = 'p' + '/' + 'q/t': only a task id holding '/' can share a key.
        return Dimension((("rollup_task_d", DAY),), "project_id || '/' || task_id",
                         f"{rollups.PROJECT} || '/' || {rollups.TASK}", "project_id, task_id",
                         "rollup_task", False, one_row_per_key=True,
                         shared_keys="MAX(instr(task_id, '/'))")
    return Dimension((("rollup_initiative_d", DAY),), "initiative_id", rollups.INITIATIVE,
                     "initiative_id", "rollup_initiative_d", True,
                     raw_where=f"{rollups.INITIATIVE} <> ''")


def _project_filter(project: str | None, has_all_rows: bool) -> tuple[str, dict[str, str]]:
    if project:
        return "project_id = :project", {"project": project}
    if has_all_rows:
        return "project_id = :project", {"project": ALL_PROJECTS}
    return "1", {}


def _parts(by: str, project: str | None,
           since: datetime | None) -> tuple[str, dict[str, Any]]:
    """SQL yielding (k, c, t) = (key, cost_nanos, tokens) parts for rows at or after ``since``
    (all rows when None), and its parameters.

    A window reads whole periods of the coarsest rollup, finer rollups for the partial period at
    its leading edge, and raw rows only for the last partial quarter hour (or day).
    """
    dim = _dimension(by, project)
    where, params = _project_filter(project, dim.has_all_projects_rows)
    select = f"SELECT {dim.key} AS k, SUM(cost_nanos) AS c, SUM(tokens) AS t FROM"
    if since is None:
        return f"{select} {dim.all_time_table} WHERE {where} GROUP BY {dim.group}", params
    parts, upper = [], None
    for index, (table, grain) in enumerate(dim.levels):
        edge = grain.ceil(since)
        params[f"lo{index}"] = grain.key(edge)
        below = ""
        if upper is not None:
            params[f"hi{index}"] = grain.key(upper)
            below = f" AND {grain.column} < :hi{index}"
        parts.append(f"{select} {table} WHERE {where} AND {grain.column} >= :lo{index}{below}"
                     " GROUP BY 1")
        upper = edge
    raw_project = "n.project_id = :project" if project else "1"
    parts.append(
        f"SELECT {dim.raw_key}, SUM({rollups.COST_NANOS}), SUM({rollups.TOKENS})"
        f" FROM cost_log AS n WHERE n.timestamp >= :since AND n.timestamp < :edge"
        f" AND {raw_project} AND ({dim.raw_where}) GROUP BY 1")
    params |= {"since": buckets.storage_text(since), "edge": buckets.storage_text(upper)}
    return " UNION ALL ".join(parts), params


def _share(nanos: int, total: int) -> float:
    return nanos / total * 100 if total else 0.0


#: (key, nano-USD, tokens) rows in rank order, and (nano-USD, tokens, number of keys) of all.
Ranked = tuple[list[tuple[str, int, int]], tuple[int, int, int]]


def _ranked_rows(db: sqlite_utils.Database, dim: Dimension, project: str | None,
                 limit: int | None) -> Ranked | None:
    """The top ``limit`` keys of an all-time table with one row per key, and the totals.

    ORDER BY … LIMIT over the table's rows runs SQLite's bounded sorter (it keeps only
    ``limit`` rows), where grouping by key and window functions would sort every task. One
    statement, so the top rows and the totals come from one snapshot. None when two rows may
    share a key: those must be grouped first.
    """
    where, params = _project_filter(project, dim.has_all_projects_rows)
    rows = db.execute(
        f"SELECT * FROM (SELECT 0, {dim.key} AS k, cost_nanos AS c, tokens, 0"
        f" FROM {dim.all_time_table} WHERE {where} ORDER BY c DESC, k LIMIT :limit)"
        f" UNION ALL SELECT 1, COUNT(*), COALESCE(SUM(cost_nanos), 0),"
        f" COALESCE(SUM(tokens), 0), COALESCE({dim.shared_keys}, 0)"
        f" FROM {dim.all_time_table} WHERE {where}",
        params | {"limit": -1 if limit is None else limit},
    ).fetchall()
    _, keys, total, total_tokens, shared = next(row for row in rows if row[0])
    if shared:
        return None
    # UNION ALL promises no order: sort the (at most ``limit``) rows again as SQL did. Python
    # compares str by code point, which is SQLite's byte order on UTF-8 text.
    ranked = sorted(((key, nanos, tokens) for top, key, nanos, tokens, _ in rows if not top),
                    key=lambda row: (-row[1], row[0]))
    return ranked, (total, total_tokens, keys)


def breakdown(db: sqlite_utils.Database, *, by: str, period: str, project: str | None,
              limit: int | None, now: datetime) -> dict[str, Any]:
    """Cost and tokens per model/phase/task/initiative over a rolling window.

    Ranking and the totals happen in SQL, so only the top ``limit`` keys reach Python however
    many tasks there are.
    """
    if by not in BREAKDOWN_DIMENSIONS:
        raise QueryError("invalid 'by' parameter: use model, phase, task, or initiative")
    if period not in PERIODS:
        raise QueryError("invalid 'period' parameter: use 24h, 7d, 30d, or all")
    span = PERIODS[period]
    dim = _dimension(by, project)
    ranked = _ranked_rows(db, dim, project, limit) if span is None and dim.one_row_per_key \
        else None
    if ranked is not None:
        rows, (total, total_tokens, keys) = ranked
    else:
        # Keys spread over several rows (parts of a window, days, projects): group them, then
        # rank with the totals alongside (window functions).
        parts, params = _parts(by, project, None if span is None else now - span)
        result_rows = db.execute(
            f"WITH parts AS ({parts}), keyed AS (SELECT k, SUM(c) AS c, SUM(t) AS t FROM parts"
            " GROUP BY k) SELECT k, c, t, SUM(c) OVER (), SUM(t) OVER (), COUNT(*) OVER ()"
            " FROM keyed ORDER BY c DESC, k LIMIT :limit",
            params | {"limit": -1 if limit is None else limit},
        ).fetchall()
        total, total_tokens, keys = result_rows[0][3:] if result_rows else (0, 0, 0)
        rows = [(key, nanos, tokens) for key, nanos, tokens, *_ in result_rows]
    result: dict[str, Any] = {
        "period": period,
        "total_cost_usd": usd(total),
        "breakdown": {
            key: {"cost": usd(nanos), "tokens": tokens, "percent": _share(nanos, total)}
            for key, nanos, tokens in rows
        },
    }
    if limit is not None:
        rest_nanos = total - sum(row[1] for row in rows)
        result["other"] = {
            "cost": usd(rest_nanos),
            "tokens": total_tokens - sum(row[2] for row in rows),
            "percent": _share(rest_nanos, total),
            "count": keys - len(rows),
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


def _points(first: datetime, last: datetime, granularity: str,
            tz: ZoneInfo) -> list[buckets.Bucket]:
    """The buckets of ``[first, last]``, refused beyond MAX_SERIES_POINTS.

    One pass: the same floor/following steps as ``buckets.count_buckets`` followed by
    ``buckets.buckets``, stopping as soon as the count is over the limit.
    """
    points: list[buckets.Bucket] = []
    current = buckets.floor(first, granularity, tz)
    while current <= last:
        following = buckets.following(current, granularity, tz)
        if len(points) == MAX_SERIES_POINTS:
            raise QueryError(f"invalid range: more than {MAX_SERIES_POINTS} points")
        points.append(buckets.Bucket(current, following, buckets.label(current, granularity)))
        current = following
    return points


def timeseries(db: sqlite_utils.Database, *, granularity: str, start: str | None,
               end: str | None, model: str | None, project: str | None, tz: ZoneInfo,
               now: datetime) -> dict[str, Any]:
    """Gap-filled cost and tokens per bucket in ``tz``."""
    if granularity not in buckets.GRANULARITIES:
        raise QueryError("invalid granularity: use hour, day, week, or month")
    try:
        first, last = series_range(start, end, tz, now)
        points = _points(first, last, granularity, tz)
        # East of UTC, year 1's first local midnight is still year 0 in UTC.
        points[0].start.astimezone(UTC)
    except QueryError:
        raise
    except (OverflowError, ValueError):
        # A bucket edge beyond year 1 or 9999: still the client's input, never a 500.
        raise QueryError(DATES_OUT_OF_RANGE) from None
    # Hour points gain nothing from day rows: each would need hours on both sides.
    sums = _bucket_sums(db, [point.start for point in points] + [points[-1].end],
                        project=project, model=model.lower() if model else None,
                        coarsest=1 if granularity == "hour" else 0)
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
    return _bucket_sums(db, [start, end], project=project, model=None, coarsest=0)[0][0]


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
    month_seconds = (month_end - month_start).total_seconds()
    elapsed = max((now - month_start).total_seconds(), 86400.0)
    projected = spent / min(elapsed / month_seconds, 1.0)
    last_day = (month_end - timedelta(days=1)).astimezone(tz).date()
    has_budget = limit > 0
    # A limit below a nano-USD (the API refuses it; an old row may hold one) must not
    # overflow to Infinity, which JSON cannot carry.
    percent = min(spent / limit * 100, sys.float_info.max) if has_budget else 0.0
    return {
        "project": project or ALL_PROJECTS,
        "month": month_start.strftime("%Y-%m"),
        "monthly_limit_usd": limit,
        "alert_threshold_percent": threshold,
        "timezone": str(budget.get("timezone") or tz),
        "hard_limit": bool(budget.get("hard_limit", False)),
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


def read_counters(db: sqlite_utils.Database) -> dict[str, int]:
    """Monotonic counters for /metrics: events_ingested, duplicates_ignored, events_unpriced."""
    counters = dict.fromkeys(("events_ingested", "duplicates_ignored", "events_unpriced"), 0)
    counters.update(db.execute("SELECT name, value FROM costlog_counters").fetchall())
    return counters
