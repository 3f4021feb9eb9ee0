"""The range planner: which rollup rows, at which levels, add up to a range of time.

A range is split into whole periods of the coarsest rollup that fits and finer ones at its
edges (down to quarter hours, or a UTC day for the dimensions keyed by day); only the partial
buckets at the edges read raw cost_log rows. Costs are summed as integer nano-USD.
"""

import bisect
import functools
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise, repeat
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import ALL_PROJECTS, NANOS_PER_USD
from costlog.domain import buckets
from costlog.errors import CostlogError
from costlog.store import rollups

#: The sums every rollup keeps, in this order everywhere below (``Sums``).
VALUE_COLUMNS = ("cost_nanos", "tokens", *rollups.TOKEN_KINDS)


#: The same sums over raw cost_log rows (alias n).
RAW_VALUES = (rollups.COST_NANOS, rollups.TOKENS,
              *(f"COALESCE(n.{kind}, 0)" for kind in rollups.TOKEN_KINDS))


#: (nano-USD, tokens, input, output, cache write, cache read)
Sums = tuple[int, int, int, int, int, int]


UTC_ZONE = ZoneInfo("UTC")


class QueryError(CostlogError, ValueError):
    """A bad request parameter; ``str()`` is the exact message the client gets."""


def usd(nanos: int) -> float:
    return nanos / NANOS_PER_USD


def values_sql(values: Sequence[str], form: str = "{}") -> str:
    """SQL: ``values`` (each put into ``form``) as the columns c0, c1, …"""
    return ", ".join(f"{form.format(value)} AS c{index}" for index, value in enumerate(values))


def token_kinds(sums: Sums) -> dict[str, int]:
    """The four token kinds of ``sums`` by name."""
    return dict(zip(rollups.TOKEN_KINDS, sums[2:], strict=True))


def amounts(sums: Sums) -> dict[str, Any]:
    """``{"cost", "tokens", <the four token kinds>}``: one entry of any breakdown."""
    return {"cost": usd(sums[0]), "tokens": sums[1], **token_kinds(sums)}


def add_sums(into: list[int], sums: Any, sign: int = 1) -> None:
    into[:] = map(operator.add if sign > 0 else operator.sub, into, sums)


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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


QUARTER_LENGTH = timedelta(minutes=15)


_QUARTER_SECONDS = 900


_LAST_QUARTER = (datetime(9999, 12, 31, 23, 45, tzinfo=UTC) - EPOCH) // QUARTER_LENGTH


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


def with_local_days(levels: tuple[Level, ...], offset: int) -> tuple[Level, ...] | None:
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


def offset_runs(edges: list[datetime],
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
    (-1 and the number of buckets are no bucket). See :func:`bucket_sums`."""
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
        # them, which costs more than the additions it saves.
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


def bucket_sums(db: sqlite_utils.Database, edges: list[datetime], *, project: str | None,
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
    """:func:`bucket_sums` with ``offsets`` registered: the sums, the offsets whose local days
    were read, and the offsets registered in the snapshot the statement read."""
    quarters = [(edge - EPOCH) // QUARTER_LENGTH for edge in edges]
    runs = offset_runs(edges, offsets)
    # Each read once per run, numbered: (first bucket, buckets, one value) and the anchors.
    parts, jobs, anchors, used = [], [], [], set()
    for read in reads:
        for first, end, offset in runs:
            local_levels = with_local_days(read.levels, offset) if (
                offset is not None and read.local) else None
            run = replace(read, levels=local_levels) if local_levels else read
            if local_levels:
                used.add(offset)
            coarsest, ranges = _ranges(run.levels, quarters[first:end + 1])
            parts += _read_parts(run, len(jobs), coarsest, ranges, params)
            jobs.append((first, end - first, len(run.columns) == 1))
            # The coarsest level's keys of the anchors: a scanned period's bucket.
            anchors.append([run.levels[0].key(EPOCH + anchor * QUARTER_LENGTH)
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
                    add_costs(result.costs[first + index], *entries, sign, once=once)
                else:
                    _add_entries(result.sums[first + index], entries, sign, skip)
    return result, used, kept


def add_costs(into: dict[Any, int], keys: list[Any], costs: list[int], sign: int, *,
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
            add_sums(known, values, sign)


def parse_bound(text: str | None, name: str, tz: ZoneInfo, *, end: bool) -> datetime | None:
    if text is None:
        return None
    try:
        return buckets.parse_instant(text, tz, end_of_day=end)
    except buckets.InvalidInstant:
        raise QueryError(f"invalid {name} date: use YYYY-MM-DD or RFC3339") from None


def unpriced_models(db: sqlite_utils.Database) -> list[tuple[str, str, int, int]]:
    """The model ids recorded with no price: (model id, provider, events, tokens), the most
    events first."""
    return [tuple(row) for row in db.execute(  # type: ignore[misc]
        f"SELECT COALESCE(n.model_id, ''), {rollups.PROVIDER}, COUNT(*), SUM({rollups.TOKENS})"
        f" FROM cost_log AS n WHERE n.cost_source = 'unpriced' AND {rollups.LIVE} GROUP BY 1, 2"
        " ORDER BY 3 DESC, 1, 2").fetchall()]


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
