"""Time series: a range's cost and tokens per hour, day, week or month in a time zone,
optionally split by model, phase or project."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import MAX_SERIES_POINTS, NANOS_PER_USD
from costlog.domain import buckets
from costlog.errors import (
    DATES_OUT_OF_RANGE,
    INVALID_GRANULARITY,
    INVALID_SERIES_BY,
    PHASE_WITH_MODEL,
    START_AFTER_END,
)
from costlog.store.queries.planner import (
    MODEL_LEVELS,
    PHASE_LEVELS,
    PROJECT_LEVELS,
    VALUE_COLUMNS,
    Level,
    QueryError,
    amounts,
    bucket_sums,
    parse_bound,
)

SERIES_DIMENSIONS = ("model", "phase", "project")


DEFAULT_SERIES_SPAN = timedelta(days=30)


def levels_for(granularity: str, levels: tuple[Level, ...]) -> tuple[Level, ...]:
    """Hour buckets gain nothing from day rows: each would need hours on both sides."""
    return tuple(level for level in levels if granularity != "hour" or level.quarters <= 4)


def series_range(start: str | None, end: str | None, tz: ZoneInfo,
                 now: datetime) -> tuple[datetime, datetime]:
    """The requested range; defaults to the 30 days ending now (or ending at ``end``)."""
    first = parse_bound(start, "start", tz, end=False)
    last = parse_bound(end, "end", tz, end=True)
    if last is None:
        last = now.astimezone(tz)
    if first is None:
        first = last - DEFAULT_SERIES_SPAN
    if first > last:
        raise QueryError(START_AFTER_END)
    return first, last


def _points(first: datetime, last: datetime, granularity: str,
            tz: ZoneInfo) -> list[buckets.Bucket]:
    """The buckets of ``[first, last]``, refused beyond MAX_SERIES_POINTS."""
    try:
        return buckets.buckets(first, last, granularity, tz, MAX_SERIES_POINTS)
    except buckets.TooManyBuckets:
        raise QueryError(f"invalid range: more than {MAX_SERIES_POINTS} points") from None


def timeseries(db: sqlite_utils.Database, *, granularity: str, start: str | None,
               end: str | None, model: str | None, project: str | None, tz: ZoneInfo,
               now: datetime, by: str | None = None) -> dict[str, Any]:
    """Gap-filled cost and tokens per bucket in ``tz``; with ``by``, each point's cost split by
    model family, phase or project."""
    if granularity not in buckets.GRANULARITIES:
        raise QueryError(INVALID_GRANULARITY)
    if by is not None and by not in SERIES_DIMENSIONS:
        raise QueryError(INVALID_SERIES_BY)
    if by == "phase" and model:
        raise QueryError(PHASE_WITH_MODEL)
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
    if by == "phase":
        levels = PHASE_LEVELS
    elif by == "project" and not project and not model:
        levels = PROJECT_LEVELS  # no model column there
    else:
        levels = MODEL_LEVELS
    family = model.lower() if model else None
    found = bucket_sums(db, [point.start for point in points] + [points[-1].end],
                         project=project, model=family, levels=levels_for(granularity, levels),
                         key={"model": "model", "phase": "phase", "project": "project_id"}.get(
                             by or ""))
    series = []
    for index, point in enumerate(points):
        by_key = found.sums[index]
        if by == "project" and not project:
            # Split by every project, the totals come under the key None (see bucket_sums);
            # a bucket may hold projects' sums that cancel out and no totals.
            total = by_key.pop(None, None) or [0] * len(VALUE_COLUMNS)
        else:
            total = [sum(column) for column in zip(*by_key.values(), strict=True)] or (
                [0] * len(VALUE_COLUMNS))
        entry: dict[str, Any] = {"date": point.label, "start": buckets.rfc3339(point.start),
                                 **amounts(tuple(total))}  # type: ignore[arg-type]
        if model:
            entry["model"] = family
        if by:
            # usd() inline: a year of days by 50 projects divides ~18,000 costs.
            entry["breakdown"] = {key: cost / NANOS_PER_USD for key, cost
                                  in sorted(found.cost(index).items()) if cost}
        series.append(entry)
    return {"start": buckets.rfc3339(first), "end": buckets.rfc3339(last),
            "granularity": granularity, "series": series}
