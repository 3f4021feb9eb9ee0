"""Breakdowns: a range's cost and tokens by model, phase, task, initiative, model id,
provider or project, ranked, with the rest as "other"."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import ALL_PROJECTS
from costlog.domain import buckets
from costlog.errors import DATES_OUT_OF_RANGE, INVALID_BY, INVALID_PERIOD, PERIOD_AND_RANGE
from costlog.store import rollups
from costlog.store.connection import is_sqlite
from costlog.store.queries.planner import (
    EACH_PROJECT,
    RAW_VALUES,
    UTC_ZONE,
    VALUE_COLUMNS,
    QueryError,
    Sums,
    add_sums,
    amounts,
    usd,
    values_sql,
)
from costlog.store.queries.series import series_range

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


ZERO: Sums = (0, 0, 0, 0, 0, 0)


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
    #: grouped by key one by one, since a first grouping would sort as many rows as the
    #: second, and a ranked range of them is ranked in two steps (:func:`top_rows`). Its tables
    #: have project_id and task_id.
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
    return (f"SELECT {dim.raw_key} AS k, {values_sql(RAW_VALUES[:width], 'SUM({})')}"
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
    return f"SELECT {dim.key} AS k, {values_sql(VALUE_COLUMNS[:width], 'SUM({})')} FROM"


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
                     f"SELECT {dim.key} AS k, {values_sql(VALUE_COLUMNS[:width])} FROM {rows}")
    if not parts:  # an empty range
        return f"{select} {dim.all_time_table} WHERE 0 GROUP BY 1"
    return " UNION ALL ".join(parts)


#: The most periods a two-step ranking probes each top key's rows in (:func:`top_rows`):
#: beyond, a range of many months, one grouping of every row costs less.
MAX_PROBED_PERIODS = 400


#: A two-step ranking pays when its range holds at least this many rollup rows per primary-key
#: probe: a probe costs SQLite about what leaving five of the six sums out of the grouping of
#: eight rows saves, so below that the one-step grouping is cheaper.
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


def top_rows(db: sqlite_utils.Database, by: str, project: str | None, since: datetime,
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
        # a table of its own first.
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
            ranked = top_rows(db, by, project, since, until, limit)
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
        add_sums(rest, total)
        for _, sums in rows:
            add_sums(rest, sums, -1)
        result["other"] = {**amounts(tuple(rest)),  # type: ignore[arg-type]
                           "percent": _share(rest[0], total[0]), "count": keys - len(rows)}
    return result
