"""The read side: breakdowns, time series, projects, budget status, initiative rollups,
single events and the raw rows of an export.

Every figure is read from the rollups; raw cost_log rows are read only for the partial rollup
buckets at the edges of a range (at most one quarter hour, or one UTC day for tasks,
initiatives, model ids and providers, at each edge), so no dashboard request scans cost_log.
Costs are summed as integer nano-USD. A receipt and an export read cost_log itself, by index.
"""

import bisect
import functools
import json
import operator
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise, repeat
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import ALL_PROJECTS, COST_UNPRICED, MAX_SERIES_POINTS, NANOS_PER_USD
from costlog.domain import buckets, export
from costlog.domain.budgets import figures as budget_figures
from costlog.errors import (
    DATES_OUT_OF_RANGE,
    INVALID_BY,
    INVALID_GRANULARITY,
    INVALID_PERIOD,
    INVALID_SERIES_BY,
    PERIOD_AND_RANGE,
    PHASE_WITH_MODEL,
    START_AFTER_END,
    CostlogError,
)
from costlog.store import rollups
from costlog.store.connection import is_sqlite

BREAKDOWN_DIMENSIONS = ("model", "phase", "task", "initiative", "model_id", "provider",
                        "project")
PERIODS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
#: Calendar periods in ``tz``: this month to date, and the whole previous month.
CALENDAR_PERIODS = ("month", "last-month")
SERIES_DIMENSIONS = ("model", "phase", "project")
#: The sums every rollup keeps, in this order everywhere below (``Sums``).
VALUE_COLUMNS = ("cost_nanos", "tokens", *rollups.TOKEN_KINDS)
#: The same sums over raw cost_log rows (alias n).
RAW_VALUES = (rollups.COST_NANOS, rollups.TOKENS,
              *(f"COALESCE(n.{kind}, 0)" for kind in rollups.TOKEN_KINDS))
#: (nano-USD, tokens, input, output, cache write, cache read)
Sums = tuple[int, int, int, int, int, int]
ZERO: Sums = (0, 0, 0, 0, 0, 0)
DEFAULT_SERIES_SPAN = timedelta(days=30)
UTC_ZONE = ZoneInfo("UTC")
DEFAULT_ALERT_THRESHOLD = 80


class QueryError(CostlogError, ValueError):
    """A bad request parameter; ``str()`` is the exact message the client gets."""


def usd(nanos: int) -> float:
    return nanos / NANOS_PER_USD


def _values_sql(values: Sequence[str], form: str = "{}") -> str:
    """SQL: ``values`` (each put into ``form``) as the columns c0, c1, …"""
    return ", ".join(f"{form.format(value)} AS c{index}" for index, value in enumerate(values))


def token_kinds(sums: Sums) -> dict[str, int]:
    """The four token kinds of ``sums`` by name."""
    return dict(zip(rollups.TOKEN_KINDS, sums[2:], strict=True))


def amounts(sums: Sums) -> dict[str, Any]:
    """``{"cost", "tokens", <the four token kinds>}``: one entry of any breakdown."""
    return {"cost": usd(sums[0]), "tokens": sums[1], **token_kinds(sums)}


def _add(into: list[int], sums: Any, sign: int = 1) -> None:
    into[:] = map(operator.add if sign > 0 else operator.sub, into, sums)


@dataclass(frozen=True)
class Grain:
    """A rollup time key: its column, its text for an instant, and its boundaries."""

    column: str
    key: Callable[[datetime], str]  # the key of the period holding an instant
    ceil: Callable[[datetime], datetime]  # the first boundary at or after an instant
    floor: Callable[[datetime], datetime]  # the last boundary at or before an instant


DAY = Grain("day", buckets.day_key, buckets.ceil_day, buckets.floor_day)
MONTH = Grain("month", buckets.month_key, buckets.ceil_month, buckets.floor_month)
QUARTER = Grain("bucket", buckets.quarter_key, buckets.ceil_quarter, buckets.floor_quarter)


@dataclass(frozen=True)
class Level:
    """A model rollup by time, its periods counted in UTC quarter hours since the epoch."""

    table: str
    column: str
    quarters: int  # length of one period; each level's is a multiple of the next one's
    #: The key of the period holding an instant (``buckets.day_key``/``hour_key``/…), and
    #: strftime() of the same text for the period starting at a Unix time.
    key: Callable[[datetime], str]
    key_format: str
    #: Keyed by (period, project), not (project, period, …).
    period_first: bool = False
    #: A local-day rollup's offset (minutes east of UTC): its days start at that offset's
    #: midnights, and its rows of other offsets are no part of it.
    offset: int | None = None

    @property
    def shift(self) -> int:
        """Where the periods start: the quarter index of the first boundary after the epoch,
        modulo the period's length."""
        return -(self.offset or 0) // 15 % self.quarters

    @property
    def rows(self) -> str:
        """SQL condition on a row ``r``: one of this level's (all rows, but for local days)."""
        return "" if self.offset is None else f" AND r.utc_offset = {self.offset}"

    def anchor(self, index: int) -> int:
        """The period boundary nearest to quarter ``index``; the one below when the one above
        is past the end of year 9999."""
        shift = self.shift
        nearest = (index - shift + self.quarters // 2) // self.quarters * self.quarters + shift
        return nearest if nearest <= _LAST_QUARTER else nearest - self.quarters


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUARTER = timedelta(minutes=15)
_QUARTER_SECONDS = 900
_LAST_QUARTER = (datetime(9999, 12, 31, 23, 45, tzinfo=UTC) - _EPOCH) // _QUARTER
#: The key of the period holding an instant, and its strftime() format, by period length.
PERIOD_KEYS: dict[int, tuple[Callable[[datetime], str], str]] = {
    rollups.DAY_QUARTERS: (buckets.day_key, "%Y-%m-%d"),
    rollups.SIX_HOURS_QUARTERS: (buckets.six_hours_key, "%Y-%m-%d %H"),
    rollups.HOUR_QUARTERS: (buckets.hour_key, "%Y-%m-%d %H"),
    rollups.QUARTER_QUARTERS: (buckets.quarter_key, "%Y-%m-%d %H:%M"),
}


def _levels_of(dimension: str) -> tuple[Level, ...]:
    """The rollups by time of ``dimension`` (their ``TimeLevel``s), coarsest first."""
    found = sorted(((rollup, rollup.level) for rollup in rollups.ROLLUPS
                    if rollup.level is not None and rollup.level.of == dimension),
                   key=lambda pair: -pair[1].quarters)
    return tuple(Level(rollup.table, rollup.time_column, level.quarters,
                       *PERIOD_KEYS[level.quarters], period_first=rollup.period_first)
                 for rollup, level in found)


MODEL_LEVELS = _levels_of("model")
PHASE_LEVELS = _levels_of("phase")
#: A series split by every project: the project rollups by day, six hours and hour (period
#: first: one range scan reads every project's rows of a period), then the model rollup by
#: quarter hour, summed over models.
PROJECT_LEVELS = (*_levels_of("project"), MODEL_LEVELS[-1])
#: The local-day rollup of each UTC day rollup that has one.
LOCAL_DAY_TABLES = {rollup.table: rollup.level.local_days for rollup in rollups.ROLLUPS
                    if rollup.level is not None and rollup.level.local_days}


@functools.cache
def _local_day(table: str, offset: int, *, period_first: bool) -> Level:
    """The days of ``table`` (a local-day rollup) at ``offset`` minutes east of UTC."""
    shift = timedelta(minutes=offset)
    return Level(table, "day", 96, lambda instant: buckets.day_key(instant + shift), "%Y-%m-%d",
                 period_first=period_first, offset=offset)


def _local_levels(levels: tuple[Level, ...], offset: int) -> tuple[Level, ...] | None:
    """``levels`` with local days at ``offset`` in place of UTC days, followed by the finer
    levels whose periods start at that offset's midnights too; None if ``levels`` start
    with no UTC day rollup that has local days."""
    table = LOCAL_DAY_TABLES.get(levels[0].table)
    if table is None:
        return None
    local = _local_day(table, offset, period_first=levels[0].period_first)
    return (local, *(level for level in levels[1:] if local.shift % level.quarters == 0))


#: Every project with a row (the all-time rollup by project): a by-project read scans each
#: project's own primary-key range instead of every project's rows.
EACH_PROJECT = "project_id IN (SELECT project_id FROM rollup_project)"


@dataclass(frozen=True)
class _Read:
    """One set of rollup rows a series adds up: which levels, which rows, keyed and summed how
    (``key`` is SQL over a rollup row ``r``)."""

    levels: tuple[Level, ...]
    where: str
    key: str
    columns: tuple[str, ...] = VALUE_COLUMNS
    #: The local-day rollups hold all of its rows (they keep no one project's models or
    #: phases).
    local: bool = False
    #: Every project's own rows (not the all-projects ones).
    each_project: bool = False

    def condition(self, level: Level) -> str:
        """SQL over a row ``r`` of ``level``: one of this read's."""
        # A rollup keyed by period first holds each project's own rows only.
        each = f"r.{EACH_PROJECT} AND " if self.each_project and not level.period_first else ""
        return f"{each}{self.where}{level.rows}"


def _runs(edges: list[datetime],
          offsets: dict[int, int]) -> list[tuple[int, int, int | None]]:
    """The buckets ``[edges[i], edges[i + 1])`` in runs (first, end, offset): each run's
    buckets start at the midnights of the same registered offset (``offsets``: by their value
    modulo a day), or of none (None)."""
    starts = [offsets.get(buckets.edge_offset(edge)) for edge in edges[:-1]]
    runs, first = [], 0
    for index in range(1, len(starts) + 1):
        if index == len(starts) or starts[index] != starts[first]:
            runs.append((first, index, starts[first]))
            first = index
    return runs


def _registered_offsets(db: sqlite_utils.Database) -> dict[int, int]:
    """The offsets of ``costlog local-days``, by their value modulo a day."""
    return {offset % (24 * 60): offset for (offset,) in
            db.execute(f"SELECT utc_offset FROM {rollups.LOCAL_DAY_OFFSETS}")}


def _ranges(levels: tuple[Level, ...],
            quarters: list[int]) -> tuple[list[int], list[list[tuple[int, int, int, int]]]]:
    """The anchors of the edges (quarter indexes) on the coarsest level, and per level the
    ranges to read as (lo, hi, i, j): the range's sums go into bucket i and out of bucket j
    (-1 and the number of buckets are no bucket). See :func:`_bucket_sums`."""
    ranges: list[list[tuple[int, int, int, int]]] = [[] for _ in levels]
    above = coarsest = [levels[0].anchor(quarter) for quarter in quarters]
    ranges[0] = [(lo, hi, index, -1) for index, (lo, hi) in enumerate(pairwise(above))
                 if lo < hi]
    for number, level in enumerate(levels[1:], 1):
        here = [level.anchor(quarter) for quarter in quarters]
        # Edge i's [coarser anchor, anchor) belongs to bucket i - 1 and not to bucket i.
        ranges[number] = [(lo, hi, index - 1, index) if lo < hi else (hi, lo, index, index - 1)
                          for index, (lo, hi) in enumerate(zip(above, here, strict=True))
                          if lo != hi]
        above = here
    return coarsest, ranges


def _period_key(level: Level, value: str) -> str:
    """SQL: the key of ``level``'s period starting at quarter index ``value``."""
    local = f" + {level.offset * 60}" if level.offset else ""
    return f"strftime('{level.key_format}', {value} * :q{local}, 'unixepoch')"


def _read_parts(read: _Read, number: int, coarsest: list[int],
                ranges: list[list[tuple[int, int, int, int]]],
                params: dict[str, Any]) -> list[str]:
    """The SELECTs of ``read`` (the ``number``-th of a statement): each yields rows
    (number, i, j, JSON array of [key, sums…]) as :func:`_ranges` says, except that a scan of
    the coarsest level yields (number, -2, -2, JSON array of [period, key, sums…]) per
    period. A one-value read's JSON is [[key, …], [value, …]] instead, after the period."""
    first = read.levels[0]
    names = ", ".join(f"c{index}" for index in range(len(read.columns)))

    def values(level: Level) -> str:
        # A period-first rollup holds one row per period and project: its rows are read as
        # they are (the periods of a range are added up in Python), with no sorter to group
        # them (a year of days across 50 projects: 8 ms, where grouping took 27).
        form = "r.{}" if level.period_first else "SUM(r.{})"
        return ", ".join(f"{form.format(column)} AS c{index}"
                         for index, column in enumerate(read.columns))

    def group(level: Level, columns: str) -> str:
        return "" if level.period_first else f" GROUP BY {columns}"

    def entries(period: str = "") -> str:
        # One value: [period…, [key, …], [value, …]], which Python adds up without a loop of
        # its own; else [[period…, key, value…], …].
        if len(read.columns) == 1:
            return f"json_array({period}json_group_array(k), json_group_array(c0))"
        return f"json_group_array(json_array({period}k, {names}))"

    parts = []
    # The coarsest ranges follow each other: one scan of them all, grouped by period, costs
    # less than a scan per range unless it returns many more rows (a week of hours from
    # quarter-hour rows, a year of weeks from day rows).
    scan = 0 < (coarsest[-1] - coarsest[0]) // first.quarters <= 2 * len(ranges[0])
    if scan:
        params |= {f"lo{number}": coarsest[0], f"hi{number}": coarsest[-1]}
        # A row per period (its keys in one JSON array), not one array of every period:
        # decoding a large array holds the GIL for milliseconds at a stretch, which starves
        # the API's event loop (/healthz) while heavy reads run. Grouped in the primary key's
        # order (project, period, key): no sorter.
        parts.append(
            f"SELECT {number}, -2, -2, {entries('t, ')} FROM"
            f" (SELECT r.{first.column} AS t, {read.key} AS k, {values(first)}"
            f" FROM {first.table} AS r WHERE {read.condition(first)}"
            f" AND r.{first.column} >= {_period_key(first, f':lo{number}')}"
            f" AND r.{first.column} < {_period_key(first, f':hi{number}')}"
            f"{group(first, '2, 1' if read.key == 'r.project_id' else '1, 2')}) AS sums"
            " GROUP BY t")
    for index, level in enumerate(read.levels):
        if not ranges[index] or (index == 0 and scan):
            continue
        name = f"r{number}_{index}"
        params[name] = json.dumps(ranges[index], separators=(",", ":"))
        # json_extract, not ->> (SQLite 3.38+): JSON1 alone is enough.
        bounds = [_period_key(level, f"json_extract(p.value, '$[{i}]')") for i in (0, 1)]
        # One primary-key range scan per range (and project), as a correlated subquery: the
        # range's sums by key come back as one JSON array. Without a key there is no GROUP
        # BY, so no sorter over every rollup row read.
        parts.append(
            f"SELECT {number}, json_extract(p.value, '$[2]'), json_extract(p.value, '$[3]'),"
            f" (SELECT {entries()} FROM"
            f" (SELECT {read.key} AS k, {values(level)} FROM {level.table} AS r"
            f" WHERE {read.condition(level)}"
            f" AND r.{level.column} >= {bounds[0]} AND r.{level.column} < {bounds[1]}"
            f"{group(level, '1') if read.key.startswith('r.') else ''}) AS sums"
            " WHERE c0 IS NOT NULL)"
            f" FROM json_each(:{name}) AS p")
    return parts


class Buckets(NamedTuple):
    """Per bucket: its sums by key (``Sums``, as lists), and by key the cost alone that a read
    of costs only found (a series split by every project: each project's)."""

    sums: list[dict[Any, list[int]]]
    costs: list[dict[Any, int]]

    def cost(self, index: int) -> dict[Any, int]:
        """Bucket ``index``'s cost by key, whichever way it was read."""
        return self.costs[index] or {key: values[0] for key, values in self.sums[index].items()}


def _bucket_sums(db: sqlite_utils.Database, edges: list[datetime], *, project: str | None,
                 model: str | None, levels: tuple[Level, ...] = MODEL_LEVELS,
                 key: str | None = None) -> Buckets:
    """The sums of each ``[edges[i], edges[i + 1])`` by ``key`` (a column of the rollups in
    ``levels``; without one, all under the key ''), summed in SQL.

    Each edge gets an anchor on every level: the nearest period boundary of that level (the
    finest level's anchor is the edge itself). Then, exactly, in signed interval sums:

        [e_i, e_i+1) = [A_i, A_i+1) on the coarsest level
                       + per finer level: [a_i+1, b_i+1) - [a_i, b_i)

    where a, b are an edge's anchors on the coarser level and on this level. So a year of New
    York days reads 365 day rows and one ≤ 12-hour range per edge instead of 8,760 hours.
    Each range is read by its own primary-key range scan (per project), except that the
    coarsest ranges, which follow each other, are read as one scan grouped by period when
    that returns at most twice as many rows (a daily year: one scan, not 365): each period
    then goes to the bucket whose anchor is the last at or before it. An edge off the
    quarter-hour grid counts from its own quarter, as its rollup key does. One statement: a
    single read snapshot, so the levels always agree with each other.

    Buckets that start at the midnights of a registered local-day offset (``costlog
    local-days``) are read in runs, each with that offset's local days as its coarsest level:
    a year of New York days then reads one row per day and key, and hours only at the two
    edges where the offset changes.

    ``key='project_id'`` without a ``project`` reads every project's rows (not the
    all-projects ones), their cost only (``Buckets.costs``), from ``levels``, and each
    bucket's totals, under the key None, from the '*' rows of the model rollups of the same
    grains: per-project rows are many (a year of New York days at 1M events: ~55,000), and
    each value summed over them costs as much again.
    """
    params: dict[str, Any] = {"q": _QUARTER_SECONDS}
    model_filter = ""
    if model:
        model_filter, params["model"] = " AND r.model = :model", model
    if key == "project_id" and not project:
        totals = tuple(level for level in MODEL_LEVELS if level.quarters <= levels[0].quarters)
        # Local days by model hold all projects' sums only; by project, each project's.
        reads = [_Read(levels, f"1{model_filter}", "r.project_id", ("cost_nanos",),
                       local=levels[0] == PROJECT_LEVELS[0], each_project=True),
                 _Read(totals, f"r.project_id = '{ALL_PROJECTS}'{model_filter}",
                       "CAST(NULL AS TEXT)", local=True)]
    else:
        params["project"] = project or ALL_PROJECTS
        reads = [_Read(levels, f"r.project_id = :project{model_filter}",
                       f"r.{key}" if key else "''", local=not project)]
    local = any(read.local and read.levels[0].table in LOCAL_DAY_TABLES for read in reads)
    offsets = _registered_offsets(db) if local else {}
    while True:
        sums, used, kept = _sum_runs(db, reads, edges, offsets, params)
        if used <= kept:
            return sums
        # Zones removed since the offsets were read: the statement's snapshot no longer held
        # those local days. Read again with the offsets it held.
        offsets = {offset % (24 * 60): offset for offset in kept}


#: The number of a statement's rows that are the registered offsets, not sums.
_OFFSETS_ROW = -1


def _sum_runs(db: sqlite_utils.Database, reads: list[_Read], edges: list[datetime],
              offsets: dict[int, int], params: dict[str, Any],
              ) -> tuple[Buckets, set[int], set[int]]:
    """:func:`_bucket_sums` with ``offsets`` registered: the sums, the offsets whose local days
    were read, and the offsets registered in the snapshot the statement read."""
    quarters = [(edge - _EPOCH) // _QUARTER for edge in edges]
    runs = _runs(edges, offsets)
    # Each read once per run, numbered: (first bucket, buckets, one value) and the anchors.
    parts, jobs, anchors, used = [], [], [], set()
    for read in reads:
        for first, end, offset in runs:
            local_levels = _local_levels(read.levels, offset) if (
                offset is not None and read.local) else None
            run = replace(read, levels=local_levels) if local_levels else read
            if local_levels:
                used.add(offset)
            coarsest, ranges = _ranges(run.levels, quarters[first:end + 1])
            parts += _read_parts(run, len(jobs), coarsest, ranges, params)
            jobs.append((first, end - first, len(run.columns) == 1))
            # The coarsest level's keys of the anchors: a scanned period's bucket.
            anchors.append([run.levels[0].key(_EPOCH + anchor * _QUARTER)
                            for anchor in coarsest])
    if used:
        parts.append(f"SELECT {_OFFSETS_ROW}, utc_offset, 0, '[]'"
                     f" FROM {rollups.LOCAL_DAY_OFFSETS}")
    top = len(edges) - 1
    # A one-value read (the cost of every project) is summed as ints, not one-item lists: a
    # year of New York days by project adds ~100,000 of them.
    result = Buckets([{} for _ in range(top)], [{} for _ in range(top)])
    kept: set[int] = set()
    if not parts:
        return result, used, kept
    for number, into, out, found in db.execute(" UNION ALL ".join(parts), params):
        if number == _OFFSETS_ROW:
            kept.add(into)
            continue
        (first, count, one_value), entries, skip = jobs[number], json.loads(found), 0
        # A scanned period holds each key once; a range of several periods may not.
        once = into == -2
        if once:  # a period of the read's coarsest level, first in each entry
            if one_value:
                period, *entries = entries
            else:
                period, skip = entries[0][0], 1
            into, out = bisect.bisect_right(anchors[number], period) - 1, -1
        # Bucket -1 and the run's last one are no bucket: what goes there is dropped.
        for index, sign in ((into, 1), (out, -1)):
            if 0 <= index < count:
                if one_value:
                    _add_costs(result.costs[first + index], *entries, sign, once=once)
                else:
                    _add_entries(result.sums[first + index], entries, sign, skip)
    return result, used, kept


def _add_costs(into: dict[Any, int], keys: list[Any], costs: list[int], sign: int, *,
               once: bool = False) -> None:
    """Add (``sign`` 1) or subtract (-1) each key's cost into ``into``, with no Python loop:
    ``update`` takes each key's new sum before it reads the next one's, so a key that comes
    twice adds up. ``once``: no key comes twice."""
    if once and sign > 0 and not into:  # a bucket's first period: its costs as they are
        into.update(zip(keys, costs, strict=True))
        return
    into.update(zip(keys, map(operator.add if sign > 0 else operator.sub,
                              map(into.get, keys, repeat(0)), costs), strict=True))


def _add_entries(into: dict[Any, list[int]], entries: list[list[Any]], sign: int,
                 skip: int) -> None:
    """Add (``sign`` 1) or subtract (-1) each entry's sums, after ``skip`` columns and its key,
    into ``into``."""
    get = into.get
    for entry in entries:
        name, values = entry[skip], entry[skip + 1:]
        known = get(name)
        if known is None:  # most often: a key's first sums in the bucket are taken as they are
            into[name] = values if sign > 0 else [-value for value in values]
        else:
            _add(known, values, sign)


def _levels_for(granularity: str, levels: tuple[Level, ...]) -> tuple[Level, ...]:
    """Hour buckets gain nothing from day rows: each would need hours on both sides."""
    return tuple(level for level in levels if granularity != "hour" or level.quarters <= 4)


@dataclass(frozen=True)
class Dimension:
    """Where one breakdown dimension is read from."""

    levels: tuple[tuple[str, Grain], ...]  # (rollup table, grain), coarsest first
    key: str  # key expression over the rollup tables
    raw_key: str  # the same key over raw cost_log rows (alias n)
    group: str  # GROUP BY of the all-time table: its key columns, so no sort is needed
    all_time_table: str
    #: Which rows of the tables to read without a project: "all" ('*' totals), "each" (every
    #: project's own rows, by project) or "any" (no '*' rows: every row).
    projects: str
    raw_where: str = "1"
    #: The all-time table holds one row per key: ``period=all`` ranks its rows directly.
    one_row_per_key: bool = False
    #: SQL over the all-time table, > 0 when two of its rows may still share a key.
    shared_keys: str = "0"
    #: Nearly every rollup row is a key of its own (tasks). The parts of a range are then not
    #: grouped by key one by one, since a first grouping sorted as many rows as the second
    #: (uniform spread, 30 d: 240-270 ms with it, 120-130 without), and a ranked range of
    #: them is ranked in two steps (:func:`_top_rows`). Its tables have project_id and task_id.
    sparse_keys: bool = False


def _dimension(by: str, project: str | None) -> Dimension:
    if by in ("model", "phase"):
        return Dimension(((f"rollup_{by}_d", DAY), (f"rollup_{by}_q", QUARTER)), by,
                         rollups.MODEL if by == "model" else rollups.PHASE, by,
                         f"rollup_{by}_d", "all")
    if by == "task":
        # Task ids repeat between projects: across all projects the key names both.
        if project:
            return Dimension((("rollup_task_d", DAY),), "task_id", rollups.TASK, "task_id",
                             "rollup_task", "any", one_row_per_key=True, sparse_keys=True)
        # 'p/q' + '/' + 't' = 'p' + '/' + 'q/t': only a task id holding '/' can share a key.
        # Whole UTC months come from the monthly rollup (keyed by month first: one range scan
        # for every project at once), so a range reads task-days only at its edges.
        return Dimension((("rollup_task_m", MONTH), ("rollup_task_d", DAY)),
                         "project_id || '/' || task_id",
                         f"{rollups.PROJECT} || '/' || {rollups.TASK}", "project_id, task_id",
                         "rollup_task", "any", one_row_per_key=True,
                         shared_keys="MAX(instr(task_id, '/'))", sparse_keys=True)
    if by in ("model_id", "provider"):
        return Dimension((("rollup_model_id_d", DAY),), by,
                         rollups.MODEL_ID if by == "model_id" else rollups.PROVIDER, by,
                         "rollup_model_id_d", "all")
    if by == "project":
        # The model rollups hold every project's rows beside the '*' totals.
        return Dimension((("rollup_model_d", DAY), ("rollup_model_q", QUARTER)), "project_id",
                         rollups.PROJECT, "project_id", "rollup_project", "each",
                         one_row_per_key=True)
    return Dimension((("rollup_initiative_d", DAY),), "initiative_id", rollups.INITIATIVE,
                     "initiative_id", "rollup_initiative_d", "all",
                     raw_where=f"{rollups.INITIATIVE} <> ''")


def _project_filter(project: str | None, dim: Dimension, *,
                    all_time: bool = False) -> tuple[str, dict[str, str]]:
    if project:
        return "project_id = :project", {"project": project}
    if dim.projects == "all":
        return "project_id = :project", {"project": ALL_PROJECTS}
    if dim.projects == "each" and not all_time:
        return EACH_PROJECT, {}
    return "1", {}


#: (key, ``Sums``) rows in rank order, the ``Sums`` of all, and the number of keys.
Ranked = tuple[list[tuple[str, Sums]], Sums, int]


#: A piece of a range: (level, first instant, instant after the last or None for no bound), the
#: level an index into ``Dimension.levels``, or ``len(levels)`` for raw cost_log rows.
Piece = tuple[int, datetime, datetime | None]


def _cover(dim: Dimension, since: datetime, until: datetime | None) -> list[Piece]:
    """The pieces that read ``[since, until)``: whole periods of the coarsest rollup inside it,
    finer rollups for the partial periods at its edges, and raw rows only for what is left: at
    most a quarter hour (or a day, for rollups by day) at each edge."""
    pieces: list[Piece] = []

    def cover(lo: datetime, hi: datetime | None, level: int) -> None:
        if hi is not None and lo >= hi:
            return
        if level == len(dim.levels):
            pieces.append((level, lo, hi))
            return
        grain = dim.levels[level][1]
        try:
            first = grain.ceil(lo)
        except OverflowError:  # no period of this level starts before the end of year 9999
            first = None
        last = None if hi is None else grain.floor(hi)
        if first is None or (last is not None and first >= last):
            cover(lo, hi, level + 1)  # no whole period of this level inside
            return
        pieces.append((level, first, last))
        cover(lo, first, level + 1)
        if last is not None:
            cover(last, hi, level + 1)

    cover(since, until, 0)
    return pieces


def _raw_part(dim: Dimension, project: str | None, lo: datetime, hi: datetime | None,
              name: str, params: dict[str, Any], width: int = len(VALUE_COLUMNS)) -> str:
    """SQL: (key, the first ``width`` of the ``Sums``) of the cost_log rows in ``[lo, hi)``, by
    key."""
    below = ""
    if hi is not None:
        below, params[f"{name}hi"] = f" AND n.timestamp < :{name}hi", buckets.storage_text(hi)
    params[f"{name}lo"] = buckets.storage_text(lo)
    raw_project = "n.project_id = :project" if project else "1"
    return (f"SELECT {dim.raw_key} AS k, {_values_sql(RAW_VALUES[:width], 'SUM({})')}"
            f" FROM cost_log AS n WHERE n.timestamp >= :{name}lo{below}"
            f" AND {raw_project} AND ({dim.raw_where}) AND {rollups.LIVE}")


def _parts(by: str, project: str | None, since: datetime | None,
           until: datetime | None = None, *, prefix: str = "p",
           width: int = len(VALUE_COLUMNS)) -> tuple[str, dict[str, Any]]:
    """SQL yielding (k, c0…c5) = (key, ``Sums``) rows (so named), a key's on any number of
    them, whose sums by key are those of the rows in ``[since, until)`` (all rows when ``since``
    is None; no upper bound when ``until`` is None), and its parameters (named after
    ``prefix``), read as :func:`_cover` says. With ``width``, only the first ``width`` sums (1:
    the cost)."""
    dim = _dimension(by, project)
    where, params = _project_filter(project, dim, all_time=since is None)
    if since is None:
        return (f"{_select(dim, width)} {dim.all_time_table} WHERE {where}"
                f" GROUP BY {dim.group}", params)
    pieces = _cover(dim, since, until)
    return _pieces_sql(dim, project, pieces, params, prefix=prefix, width=width), params


def _select(dim: Dimension, width: int) -> str:
    return f"SELECT {dim.key} AS k, {_values_sql(VALUE_COLUMNS[:width], 'SUM({})')} FROM"


def _pieces_sql(dim: Dimension, project: str | None, pieces: list[Piece],
                params: dict[str, Any], *, prefix: str = "p",
                width: int = len(VALUE_COLUMNS)) -> str:
    """:func:`_parts` of a range's ``pieces``; their parameters go into ``params``."""
    where = _project_filter(project, dim)[0]
    select = _select(dim, width)
    parts: list[str] = []
    for level, lo, hi in pieces:
        name = f"{prefix}{len(parts)}"
        if level == len(dim.levels):
            parts.append(f"{_raw_part(dim, project, lo, hi, name, params, width)} GROUP BY 1")
            continue
        table, grain = dim.levels[level]
        params[f"{name}lo"] = grain.key(lo)
        below = ""
        if hi is not None:
            params[f"{name}hi"] = grain.key(hi)
            below = f" AND {grain.column} < :{name}hi"
        rows = f"{table} WHERE {where} AND {grain.column} >= :{name}lo{below}"
        parts.append(f"{select} {rows} GROUP BY 1" if not dim.sparse_keys else
                     f"SELECT {dim.key} AS k, {_values_sql(VALUE_COLUMNS[:width])} FROM {rows}")
    if not parts:  # an empty range
        return f"{select} {dim.all_time_table} WHERE 0 GROUP BY 1"
    return " UNION ALL ".join(parts)


#: The most periods a two-step ranking probes each top key's rows in (:func:`_top_rows`):
#: beyond, a range of many months, one grouping of every row costs less.
MAX_PROBED_PERIODS = 400
#: A two-step ranking pays when its range holds at least this many rollup rows per primary-key
#: probe: a probe costs SQLite about what leaving five of the six sums out of the grouping of
#: eight rows saves (1M events: 80 days of the uniform spread, ~90,000 rows for 2,000 probes,
#: 141 → 104 ms; of the realistic spread, ~9,000 rows, 25 → 28 ms).
ROWS_PER_PROBE = 8


def _periods(grain: Grain, first: datetime, last: datetime) -> list[str] | None:
    """The keys of ``grain``'s periods from ``first`` to before ``last`` (both boundaries);
    None when there are more than :data:`MAX_PROBED_PERIODS`."""
    keys: list[str] = []
    while first < last:
        if len(keys) == MAX_PROBED_PERIODS:
            return None
        keys.append(grain.key(first))
        first = grain.ceil(first + timedelta(microseconds=1))
    return keys


def _top_rows(db: sqlite_utils.Database, by: str, project: str | None, since: datetime,
              until: datetime, limit: int) -> Ranked | None:
    """The top ``limit`` keys of a dimension whose rollup rows are nearly all keys of their own
    (tasks), ranked in two steps within one statement (after a count of the range's rollup
    rows, which chooses it): every key of the range by its cost alone, then the ``Sums`` of
    the top keys only, from their own rows (primary-key probes, period by period), and the
    totals from the model rollups of the same range.

    SQLite groups by sorting: grouping every row (~90,000 over 80 days of the uniform stress
    spread) by key with all six sums sorted all of them with their sums, where the cost alone
    is the ranking's whole need. None when the probes would cost more than they save
    (:data:`ROWS_PER_PROBE`, :data:`MAX_PROBED_PERIODS`), and on PostgreSQL, which groups by
    hashing: there the sums cost little, and two steps took longer (same range, 1M uniform
    events: 76 ms in one step, 99 in two).
    """
    if not is_sqlite(db):
        return None
    dim = _dimension(by, project)
    where, params = _project_filter(project, dim)
    pieces = _cover(dim, since, until)
    periods: dict[int, list[str]] = {}
    counts, count_params = [], dict(params)
    for number, (level, lo, hi) in enumerate(pieces):
        if level == len(dim.levels):
            continue
        assert hi is not None  # the range has an end
        table, grain = dim.levels[level]
        keys = _periods(grain, lo, hi)
        if keys is None:
            return None
        periods[number] = keys
        count_params |= {f"n{number}lo": keys[0], f"n{number}hi": grain.key(hi)}
        counts.append(f"(SELECT COUNT(*) FROM {table} WHERE {where}"
                      f" AND {grain.column} >= :n{number}lo AND {grain.column} < :n{number}hi)")
    probes = limit * sum(map(len, periods.values()))
    if not probes or db.execute(f"SELECT {' + '.join(counts)}", count_params).fetchone()[0] < (
            ROWS_PER_PROBE * probes):
        return None
    ranked_parts = _pieces_sql(dim, project, pieces, params, width=1)
    # Every row is one model's: the model rollups' sums of the range are the totals.
    totals, totals_params = _parts("model", project, since, until, prefix="m")
    found: list[str] = []
    for number, (level, lo, hi) in enumerate(pieces):
        name = f"f{number}"
        if level == len(dim.levels):
            found.append(f"{_raw_part(dim, project, lo, hi, name, params)}"
                         f" AND {dim.raw_key} IN (SELECT k FROM top) GROUP BY 1")
            continue
        table, grain = dim.levels[level]
        params[name] = json.dumps(periods[number])
        # CROSS JOIN: the pairs first (SQLite keeps that order), each probing the rollup's
        # primary key once per period, rather than every row of each period read for the pairs.
        values = ", ".join(f"r.{column}" for column in VALUE_COLUMNS)
        found.append(f"SELECT x.k, {values} FROM top_pairs AS x CROSS JOIN {table} AS r"
                     " WHERE r.project_id = x.pair_project AND r.task_id = x.pair_task"
                     f" AND r.{grain.column} IN (SELECT value FROM json_each(:{name}))")
    # The (project, task) pairs a top key may be: across projects, each project's id with '/'
    # that starts the key, and the rest of the key as the task id (a key is two pairs' when a
    # task id holds '/'); the rollups' primary keys take the pair.
    pairs = ("SELECT :project AS pair_project, k AS pair_task, k FROM top" if project else
             "SELECT p.project_id AS pair_project,"
             " substr(top.k, length(p.project_id) + 2) AS pair_task, top.k"
             " FROM top CROSS JOIN rollup_project AS p"
             " WHERE substr(top.k, 1, length(p.project_id) + 1) = p.project_id || '/'")
    names = [f"c{index}" for index in range(len(VALUE_COLUMNS))]
    sums = ", ".join(f"COALESCE(SUM({name}), 0)" for name in names)
    rows = db.execute(
        # The costs grouped straight from the parts: a CTE of the parts would be copied into
        # a table of its own first (~10 ms of 100, uniform spread).
        f"WITH costs AS (SELECT k, SUM(c0) AS c0 FROM ({ranked_parts}) AS ranked GROUP BY k),"
        " top AS (SELECT k, COUNT(*) OVER () AS keys FROM costs ORDER BY c0 DESC, k"
        f" LIMIT :limit), top_pairs AS ({pairs}),"
        f" found(k, {', '.join(names)}) AS ({' UNION ALL '.join(found)}),"
        f" totals(k, {', '.join(names)}) AS ({totals})"
        f" SELECT 0, k, {sums} FROM found GROUP BY k"
        # The count goes in the key column: as text, which PostgreSQL's UNION requires.
        " UNION ALL SELECT 1, CAST((SELECT COALESCE(MAX(keys), 0) FROM top) AS TEXT),"
        f" {sums} FROM totals",
        params | totals_params | {"limit": limit},
    ).fetchall()
    counted = next(row for row in rows if row[0])
    ranked = sorted(((row[1], tuple(row[2:])) for row in rows if not row[0]),
                    key=lambda row: (-row[1][0], row[0]))
    return ranked, tuple(counted[2:]), int(counted[1])  # type: ignore[return-value]


def _share(nanos: int, total: int) -> float:
    return nanos / total * 100 if total else 0.0


def _ranked_rows(db: sqlite_utils.Database, dim: Dimension, project: str | None,
                 limit: int | None) -> Ranked | None:
    """The top ``limit`` keys of an all-time table with one row per key, and the totals.

    ORDER BY … LIMIT over the table's rows runs SQLite's bounded sorter (it keeps only
    ``limit`` rows), where grouping by key and window functions would sort every task. One
    statement, so the top rows and the totals come from one snapshot. None when two rows may
    share a key: those must be grouped first.
    """
    where, params = _project_filter(project, dim, all_time=True)
    rows = db.execute(
        f"SELECT * FROM (SELECT 0, {dim.key} AS k, {', '.join(VALUE_COLUMNS)}, 0"
        f" FROM {dim.all_time_table} WHERE {where} ORDER BY cost_nanos DESC, k LIMIT :limit)"
        # The count goes in the key column: as text, which PostgreSQL's UNION requires.
        " AS top UNION ALL SELECT 1, CAST(COUNT(*) AS TEXT), "
        + ", ".join(f"COALESCE(SUM({column}), 0)" for column in VALUE_COLUMNS)
        + f", COALESCE({dim.shared_keys}, 0) FROM {dim.all_time_table} WHERE {where}",
        params | {"limit": -1 if limit is None else limit},
    ).fetchall()
    totals = next(row for row in rows if row[0])
    if totals[-1]:
        return None
    # UNION ALL promises no order: sort the (at most ``limit``) rows again as SQL did. Python
    # compares str by code point, which is SQLite's byte order on UTF-8 text.
    ranked = sorted(((row[1], tuple(row[2:-1])) for row in rows if not row[0]),
                    key=lambda row: (-row[1][0], row[0]))
    return ranked, tuple(totals[2:-1]), int(totals[1])  # type: ignore[return-value]


def _grouped_rows(db: sqlite_utils.Database, parts: str, params: dict[str, Any],
                  limit: int | None) -> Ranked:
    """Keys spread over several rows (parts of a range, days, projects): grouped, then ranked
    with the totals alongside (window functions)."""
    sums = ", ".join(f"SUM(c{index}) AS c{index}" for index in range(len(VALUE_COLUMNS)))
    totals = ", ".join(f"SUM(c{index}) OVER ()" for index in range(len(VALUE_COLUMNS)))
    names = ", ".join(f"c{index}" for index in range(len(VALUE_COLUMNS)))
    result_rows = db.execute(
        f"WITH parts({', '.join(['k', *names.split(', ')])}) AS ({parts}),"
        f" keyed AS (SELECT k, {sums} FROM parts GROUP BY k)"
        f" SELECT k, {names}, {totals}, COUNT(*) OVER () FROM keyed ORDER BY c0 DESC, k"
        " LIMIT :limit",
        params | {"limit": -1 if limit is None else limit},
    ).fetchall()
    width = len(VALUE_COLUMNS)
    if not result_rows:
        return [], ZERO, 0
    first = result_rows[0]
    rows = [(row[0], tuple(row[1:1 + width])) for row in result_rows]
    return rows, tuple(first[1 + width:1 + 2 * width]), first[-1]  # type: ignore[return-value]


def breakdown_range(period: str | None, start: str | None, end: str | None, tz: ZoneInfo,
                    now: datetime) -> tuple[str, datetime | None, datetime | None]:
    """(period, first instant, instant after the last) of a breakdown's parameters; the first
    is None for all time, the second None for no upper bound (the rolling windows)."""
    if start is not None or end is not None:
        if period is not None:
            raise QueryError(PERIOD_AND_RANGE)
        first, last = series_range(start, end, tz, now)
        # end is inclusive to the second (a date-only end is its day's last second).
        return "custom", first, last.replace(microsecond=0) + timedelta(seconds=1)
    period = "all" if period is None else period
    if period in CALENDAR_PERIODS:
        month_start, month_end = buckets.month_bounds(now, tz)
        if period == "month":
            return period, month_start, month_end
        return period, buckets.month_bounds(month_start - timedelta(days=1), tz)[0], month_start
    if period not in PERIODS:
        raise QueryError(INVALID_PERIOD)
    span = PERIODS[period]
    return period, None if span is None else now - span, None


def breakdown(db: sqlite_utils.Database, *, by: str, period: str | None, project: str | None,
              limit: int | None, now: datetime, start: str | None = None,
              end: str | None = None, tz: ZoneInfo = UTC_ZONE) -> dict[str, Any]:
    """Cost and tokens per key of ``by`` over a rolling window, a calendar month in ``tz`` or
    ``[start, end]``.

    Ranking and the totals happen in SQL, so only the top ``limit`` keys reach Python however
    many tasks there are.
    """
    if by not in BREAKDOWN_DIMENSIONS:
        raise QueryError(INVALID_BY)
    try:
        period, since, until = breakdown_range(period, start, end, tz, now)
        dim = _dimension(by, project)
        ranked = _ranked_rows(db, dim, project, limit) \
            if since is None and dim.one_row_per_key else None
        if ranked is None and dim.sparse_keys and since is not None and until is not None \
                and limit is not None:
            ranked = _top_rows(db, by, project, since, until, limit)
        if ranked is None:
            parts, params = _parts(by, project, since, until)
            ranked = _grouped_rows(db, parts, params, limit)
    except QueryError:
        raise
    except (OverflowError, ValueError):
        raise QueryError(DATES_OUT_OF_RANGE) from None
    rows, total, keys = ranked
    result: dict[str, Any] = {"period": period}
    if since is not None:  # every range but all time says which (end inclusive; rolling: now)
        last = now if until is None else until - timedelta(seconds=1)
        result |= {"start": buckets.rfc3339(since.astimezone(tz)),
                   "end": buckets.rfc3339(last.astimezone(tz))}
    result |= {
        "total_cost_usd": usd(total[0]),
        "breakdown": {key: {**amounts(sums), "percent": _share(sums[0], total[0])}
                      for key, sums in rows},
    }
    if limit is not None:
        rest = [0] * len(VALUE_COLUMNS)
        _add(rest, total)
        for _, sums in rows:
            _add(rest, sums, -1)
        result["other"] = {**amounts(tuple(rest)),  # type: ignore[arg-type]
                           "percent": _share(rest[0], total[0]), "count": keys - len(rows)}
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
    found = _bucket_sums(db, [point.start for point in points] + [points[-1].end],
                         project=project, model=family, levels=_levels_for(granularity, levels),
                         key={"model": "model", "phase": "phase", "project": "project_id"}.get(
                             by or ""))
    series = []
    for index, point in enumerate(points):
        by_key = found.sums[index]
        if by == "project" and not project:
            # Split by every project, the totals come under the key None (see _bucket_sums);
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


def spent_between(db: sqlite_utils.Database, project: str | None, start: datetime,
                  end: datetime) -> int:
    """Nano-USD of every row timestamped in ``[start, end)`` (both on quarter-hour edges)."""
    return sum(_bucket_sums(db, [start, end], project=project, model=None).cost(0).values())


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


def initiative_cost(db: sqlite_utils.Database, initiative_id: str, *,
                    project: str | None, period: str | None = None, start: str | None = None,
                    end: str | None = None, tz: ZoneInfo = UTC_ZONE,
                    now: datetime | None = None) -> dict[str, Any] | None:
    """One initiative's spend by task, model and phase over a period or ``[start, end]`` (as
    the breakdown reads them; default all time); None when it has no cost row at all."""
    since = until = None
    if period is not None or start is not None or end is not None:
        if now is None:
            raise TypeError("initiative_cost over a period needs now")
        try:
            period, since, until = breakdown_range(period, start, end, tz, now)
        except QueryError:
            raise
        except (OverflowError, ValueError):
            raise QueryError(DATES_OUT_OF_RANGE) from None
    where, params = "initiative_id = :initiative", {"initiative": initiative_id}
    if project:
        where, params["project"] = where + " AND project_id = :project", project
    rows = db.execute(
        f"SELECT project_id, task_id, model, phase, {', '.join(VALUE_COLUMNS)}"
        f" FROM rollup_initiative WHERE {where}", params,
    ).fetchall()
    if not rows:
        return None
    ranged: dict[str, Any] = {}
    if since is not None:
        # The rollup keeps no time: a window reads the initiative's own cost_log rows.
        params["lo"] = buckets.storage_text(since)
        below = ""
        if until is not None:
            below, params["hi"] = " AND n.timestamp < :hi", buckets.storage_text(until)
        rows = db.execute(
            f"SELECT n.project_id, {rollups.TASK}, {rollups.MODEL}, {rollups.PHASE},"
            f" {_values_sql(RAW_VALUES, 'SUM({})')} FROM cost_log AS n"
            f" WHERE n.initiative_id = :initiative AND n.timestamp >= :lo{below}"
            f" AND {rollups.LIVE}"
            f"{' AND n.project_id = :project' if project else ''}"
            " GROUP BY 1, 2, 3, 4", params).fetchall()
        last = now if until is None else until - timedelta(seconds=1)
        ranged = {"start": buckets.rfc3339(since.astimezone(tz)),
                  "end": buckets.rfc3339(last.astimezone(tz))}
    tasks: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(VALUE_COLUMNS))
    total = [0] * len(VALUE_COLUMNS)
    models: dict[str, int] = defaultdict(int)
    phases: dict[str, int] = defaultdict(int)
    for project_id, task_id, model, phase, *sums in rows:
        _add(tasks[(project_id, task_id)], sums)
        _add(total, sums)
        models[model] += sums[0]
        phases[phase] += sums[0]
    ranked = sorted(tasks.items(), key=lambda item: (-item[1][0], item[0]))
    return {
        "initiative_id": initiative_id,
        **({"period": period, **ranged} if period is not None else {}),
        "total_cost_usd": usd(total[0]),
        "total_tokens": total[1],
        **token_kinds(tuple(total)),  # type: ignore[arg-type]
        "by_task": [
            {"task_id": task, "project_id": project_id,
             **amounts(tuple(sums))}  # type: ignore[arg-type]
            for (project_id, task), sums in ranked
        ],
        "by_model": {model: usd(nanos) for model, nanos in sorted(models.items())},
        "by_phase": {phase: usd(nanos) for phase, nanos in sorted(phases.items())},
    }


def _local_rfc3339(stored: str, tz: ZoneInfo) -> str:
    """cost_log's UTC timestamp text as RFC 3339 in ``tz``."""
    instant = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return buckets.rfc3339(instant.astimezone(tz))


def local_day_zones(db: sqlite_utils.Database) -> list[str]:
    """The zones whose local days the rollups keep (``costlog local-days``), by name."""
    return [zone for (zone,) in
            db.execute(f"SELECT zone FROM {rollups.LOCAL_DAY_ZONES} ORDER BY zone")]


def projects(db: sqlite_utils.Database, *, tz: ZoneInfo, now: datetime,
             project: str | None = None) -> dict[str, Any]:
    """Every project (or just ``project``) with its all-time totals, first and last event, and
    month-to-date spend (the calendar month in ``tz``), by total cost descending."""
    # (project_id, timestamp) is indexed: first and last event are two probes per project, one
    # per subquery (a MIN and a MAX in one subquery would scan all of the project's index
    # entries), in the same statement: one round trip, where a statement per project took
    # PostgreSQL ~25 ms for 50 projects.
    first_last = ", ".join(
        f"(SELECT {bound}(n.timestamp) FROM cost_log AS n WHERE n.project_id = p.project_id"
        f" AND {rollups.LIVE})"
        for bound in ("MIN", "MAX"))
    # The live rows stored unpriced: read from their own partial index (migration 021).
    unpriced = ("(SELECT COUNT(*) FROM cost_log AS n WHERE n.project_id = p.project_id"
                f" AND n.cost_source = '{COST_UNPRICED}' AND {rollups.LIVE})")
    rows = db.execute(
        f"SELECT p.project_id, {', '.join(f'p.{c}' for c in VALUE_COLUMNS)}, p.events,"
        f" {first_last}, {unpriced} FROM rollup_project AS p"
        f" WHERE {'p.project_id = :project' if project else '1'}"
        " ORDER BY p.cost_nanos DESC, p.project_id", {"project": project}).fetchall()
    month = _bucket_sums(db, list(buckets.month_bounds(now, tz)), project=project, model=None,
                         levels=MODEL_LEVELS if project else PROJECT_LEVELS,
                         key="project_id").cost(0)
    listed = []
    for project_id, *sums, events, first, last, unpriced_events in rows:
        listed.append({
            "project_id": project_id, "total_cost_usd": usd(sums[0]), "total_tokens": sums[1],
            **token_kinds(tuple(sums)),  # type: ignore[arg-type]
            "events": events,
            "first_event": None if first is None else _local_rfc3339(first, tz),
            "last_event": None if last is None else _local_rfc3339(last, tz),
            "month_to_date_usd": usd(month.get(project_id, 0)),
            "unpriced_events": unpriced_events,
        })
    return {"projects": listed}




def _stored(column: str) -> str:
    """A column as stored, without NULLs (rows from before costlog lack costlog's columns);
    model as the family, as every other read names it."""
    if column == "model":
        return rollups.MODEL
    if column in export.PART_COLUMNS:
        return f"n.{column}"  # NULL: no parts kept
    return f"COALESCE(n.{column}, {repr('') if column in export.TEXT_COLUMNS else 0})"


_EVENT_SELECT = ", ".join(_stored(column) for column in export.ROW_COLUMNS)


def event(db: sqlite_utils.Database, event_id: str) -> dict[str, Any] | None:
    """One stored event by id (its receipt): its fields, its ``revision``, ``voided`` (None or
    the reason and when) and ``revisions``, the versions it superseded, newest first; None when
    there is none."""
    row = db.execute(
        f"SELECT {_EVENT_SELECT}, COALESCE(n.revision, 0), n.voided_at, n.void_reason"
        " FROM cost_log AS n WHERE n.event_id = ?", [event_id]).fetchone()
    if row is None:
        return None
    *fields, revision, voided_at, reason = row
    older = db.execute(
        "SELECT revision, superseded_at, superseded_by, row FROM cost_log_revisions"
        " WHERE event_id = ? ORDER BY revision DESC, id DESC", [event_id]).fetchall()
    return {**export.event_fields(tuple(fields)), "revision": revision,
            "voided": None if voided_at is None else {"reason": reason, "at": voided_at},
            "revisions": [export.superseded_fields(json.loads(old), at, by)
                          for _, at, by, old in older]}


def export_query(*, start: str | None, end: str | None, project: str | None,
                 tz: ZoneInfo) -> tuple[str, dict[str, str]]:
    """SQL and parameters of the stored rows in ``[start, end]`` (default: all time), ordered
    by timestamp then event_id. Run it and iterate the cursor: rows arrive one at a time (the
    timestamp index gives the order), so memory stays flat at any size. Checked eagerly, so a
    bad parameter is a 400 before any row is sent."""
    where, params = [rollups.LIVE], {}
    if start is not None:
        where.append("n.timestamp >= :start")
        params["start"] = buckets.storage_text(_parse_bound(start, "start", tz, end=False))
    if end is not None:
        where.append("n.timestamp <= :end")
        params["end"] = buckets.storage_text(_parse_bound(end, "end", tz, end=True))
    if start is not None and end is not None and params["start"] > params["end"]:
        raise QueryError(START_AFTER_END)
    if project:
        where.append("n.project_id = :project")
        params["project"] = project
    return (f"SELECT {_EVENT_SELECT} FROM cost_log AS n WHERE {' AND '.join(where)}"
            " ORDER BY n.timestamp, n.event_id"), params


def unpriced_models(db: sqlite_utils.Database) -> list[tuple[str, str, int, int]]:
    """The model ids recorded with no price: (model id, provider, events, tokens), the most
    events first."""
    return [tuple(row) for row in db.execute(  # type: ignore[misc]
        f"SELECT COALESCE(n.model_id, ''), {rollups.PROVIDER}, COUNT(*), SUM({rollups.TOKENS})"
        f" FROM cost_log AS n WHERE n.cost_source = 'unpriced' AND {rollups.LIVE} GROUP BY 1, 2"
        " ORDER BY 3 DESC, 1, 2").fetchall()]


def read_counters(db: sqlite_utils.Database) -> dict[str, int]:
    """Monotonic counters for /metrics: events_ingested, duplicates_ignored, events_unpriced."""
    counters = dict.fromkeys(("events_ingested", "duplicates_ignored", "events_unpriced"), 0)
    counters.update(db.execute("SELECT name, value FROM costlog_counters").fetchall())
    return counters


# --- reports over the rows themselves: sessions, 5-hour blocks, model ids ------------------

#: A row's sums, over cost_log rows ``n``: the four token kinds, total tokens, nano-USD.
_ROW_SUMS = (
    "SUM(COALESCE(n.input_tokens, 0)), SUM(COALESCE(n.output_tokens, 0)),"
    " SUM(COALESCE(n.cache_creation_tokens, 0)), SUM(COALESCE(n.cache_read_tokens, 0)),"
    f" SUM({rollups.TOKENS}), SUM({rollups.COST_NANOS})"
)


class RowSums(NamedTuple):
    """The sums of some rows: the four token kinds, total tokens and nano-USD."""

    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    tokens: int
    cost_nanos: int


def _rows_between(start: datetime | None, end: datetime | None,
                  project: str | None) -> tuple[str, dict[str, Any]]:
    """The WHERE clause of the rows timestamped in ``[start, end)`` (None: unbounded) of
    ``project`` (None: all)."""
    where, params = [rollups.LIVE], {}
    if start is not None:
        where.append("n.timestamp >= :start")
        params["start"] = buckets.storage_text(start)
    if end is not None:
        where.append("n.timestamp < :end")
        params["end"] = buckets.storage_text(end)
    if project is not None:
        where.append("n.project_id = :project")
        params["project"] = project
    return " AND ".join(where), params


def session_usage(db: sqlite_utils.Database, *, start: datetime | None, end: datetime | None,
                  project: str | None) -> list[tuple[str, str, str, str, str, RowSums]]:
    """Per task and raw model id, over the rows in ``[start, end)``: (project, task, model id,
    first and last timestamp as stored, sums)."""
    where, params = _rows_between(start, end, project)
    rows = db.execute(
        f"SELECT COALESCE(n.project_id, ''), COALESCE(n.task_id, ''), {rollups.MODEL_ID},"
        f" MIN(n.timestamp), MAX(n.timestamp), {_ROW_SUMS} FROM cost_log AS n WHERE {where}"
        " GROUP BY 1, 2, 3", params).fetchall()
    return [(*row[:5], RowSums(*row[5:])) for row in rows]


def hourly_usage(db: sqlite_utils.Database, *, start: datetime | None, end: datetime | None,
                 project: str | None) -> list[tuple[str, str, str, RowSums]]:
    """Per UTC hour and raw model id, in order of hour, over the rows in ``[start, end)``:
    (hour as stored ``YYYY-MM-DD HH``, first timestamp as stored, model id, sums)."""
    where, params = _rows_between(start, end, project)
    rows = db.execute(
        f"SELECT substr(n.timestamp, 1, 13), MIN(n.timestamp), {rollups.MODEL_ID}, {_ROW_SUMS}"
        f" FROM cost_log AS n WHERE {where} GROUP BY 1, 3 ORDER BY 1, 3", params).fetchall()
    return [(*row[:3], RowSums(*row[3:])) for row in rows]


def model_id_usage(db: sqlite_utils.Database, *, start: datetime | None, end: datetime | None,
                   project: str | None) -> list[tuple[str, RowSums]]:
    """Per raw model id over the rows in ``[start, end)``, by cost (highest first)."""
    where, params = _rows_between(start, end, project)
    rows = db.execute(
        f"SELECT {rollups.MODEL_ID}, {_ROW_SUMS} FROM cost_log AS n WHERE {where}"
        " GROUP BY 1 ORDER BY 7 DESC, 1", params).fetchall()
    return [(row[0], RowSums(*row[1:])) for row in rows]


def recorded_versions(db: sqlite_utils.Database,
                      event_ids: Sequence[str]) -> dict[str, tuple[str, int, bool]]:
    """The recorded (phase, revision, voided) of those of ``event_ids`` that are recorded."""
    rows = db.execute(
        "SELECT n.event_id, COALESCE(n.phase, ''), COALESCE(n.revision, 0),"
        " n.voided_at IS NOT NULL FROM cost_log AS n"
        " WHERE n.event_id IN (SELECT value FROM json_each(:ids))",
        {"ids": json.dumps(list(event_ids))}).fetchall()
    return {event_id: (phase, revision, bool(voided)) for event_id, phase, revision, voided
            in rows}
