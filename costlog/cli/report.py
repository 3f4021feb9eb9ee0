"""``costlog report``: the read API's figures as a terminal table (rich) or JSON.

Each report is one call of the read side the API serves (``queries.timeseries`` split by model
for the time reports, ``queries.breakdown`` for the others), so its figures are the API's for
the same range.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
from rich import box
from rich.console import Console
from rich.table import Table

from costlog.domain import buckets, figures
from costlog.domain.blocks import HourUsage, form_blocks
from costlog.store import queries
from costlog.store.rollups import TOKEN_KINDS


@dataclass(frozen=True)
class Report:
    heading: str  # the key column's heading
    granularity: str | None = None  # time reports: the series' buckets
    by: str | None = None  # the others: the breakdown's dimension
    #: Time reports without a window: this many of their buckets, up to today's.
    default_buckets: int = 0
    #: Reports read from the rows themselves (sessions, blocks): the columns they show after
    #: the key, as (field, heading). Their default window is their last default_buckets days.
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def window_grain(self) -> str | None:
        """The buckets of a time report's default window (None: not a time report)."""
        return self.granularity or ("day" if self.columns else None)


REPORTS = {
    "daily": Report("Date", granularity="day", default_buckets=30),
    "weekly": Report("Week", granularity="week", default_buckets=12),
    "monthly": Report("Month", granularity="month", default_buckets=12),
    "sessions": Report("Session", default_buckets=30, columns=(
        ("project", "Project"), ("first_shown", "First"), ("last_shown", "Last"))),
    "blocks": Report("Block start", default_buckets=30, columns=(("end_shown", "End"),)),
    "models": Report("Model", by="model"),
    "model-ids": Report("Model id", by="model_id"),
    "phases": Report("Phase", by="phase"),
    "tasks": Report("Task", by="task"),
    "initiatives": Report("Initiative", by="initiative"),
    "projects": Report("Project", by="project"),
}
#: The reports ``--breakdown`` splits by raw model id, a row per model id under each row.
BREAKDOWN_REPORTS = ("daily", "weekly", "monthly", "sessions", "blocks")
EPOCH = date(1970, 1, 1)
#: The API's periods (``GET /api/cost/breakdown?period=``), as ``--period`` takes them.
PERIODS = (*queries.PERIODS, *queries.CALENDAR_PERIODS)
PERIOD_TITLES = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days",
                 "month": "this month", "last-month": "last month", "all": "all time"}
BUCKET_NAMES = {"day": "days", "week": "weeks", "month": "months"}
SINCE_AFTER_UNTIL = "invalid range: --since is after --until"
WINDOW_CHOICES = "invalid range: use one of --period, --all, or --since/--until"
#: (field, heading, short heading: when the counts are shortened to fit)
COLUMNS = (("input_tokens", "Input", "Input"), ("output_tokens", "Output", "Output"),
           ("cache_creation_tokens", "Cache write", "Cache w"),
           ("cache_read_tokens", "Cache read", "Cache r"),
           ("total_tokens", "Total tokens", "Total"))


@dataclass(frozen=True)
class Window:
    """What a report covers, in the API's words: a ``period`` (rolling 24h/7d/30d, the
    calendar month, all time) or the calendar days ``start`` to ``end`` (YYYY-MM-DD in the
    zone, both whole); ``first``/``until`` are its instants (``until`` excluded; None: no
    bound), ``title`` how the report's heading names it."""
    title: str
    first: datetime | None
    until: datetime | None
    period: str | None = None
    start: str | None = None
    end: str | None = None

    def query(self) -> dict[str, str]:
        """The API's parameters for the same range (``GET /api/cost/breakdown``)."""
        if self.period:
            return {"period": self.period}
        return {key: value for key, value in (("start", self.start), ("end", self.end))
                if value}


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return buckets.parse_instant(day.isoformat(), tz)


def window(name: str, *, since: date | None, until: date | None, period: str | None,
           all_time: bool, tz: ZoneInfo, now: datetime) -> Window:
    """The report's window from its options: ``--period`` and ``--all`` are the API's
    periods, ``--since``/``--until`` calendar days; without any, a time report covers its last
    ``default_buckets`` buckets (today's included), the others all time."""
    if sum((period is not None, all_time, since is not None or until is not None)) > 1:
        raise queries.QueryError(WINDOW_CHOICES)
    if since is not None and until is not None and since > until:
        raise queries.QueryError(SINCE_AFTER_UNTIL)
    if all_time:
        period = "all"
    report = REPORTS[name]
    if period is None and since is None and until is None and not report.window_grain:
        period = "all"
    if period is not None:
        period, first, last = queries.breakdown_range(period, None, None, tz, now)
        title = PERIOD_TITLES[period]
        if first is not None:
            shown = first.astimezone(tz)
            title += f" (from {shown:%Y-%m-%d %H:%M})" if period in queries.PERIODS \
                else f" ({shown:%Y-%m})"
        return Window(title, first, last, period=period)
    grain = report.window_grain
    if grain and since is None:
        # The last default_buckets whole buckets up to the one holding --until (or today).
        last_day = until or now.astimezone(tz).date()
        start = buckets.floor(_midnight(last_day, tz), grain, tz)
        for _ in range(report.default_buckets - 1):
            start = buckets.floor(start - timedelta(days=1), grain, tz)
        since = start.date()
        until = last_day
        count = f"{report.default_buckets} {BUCKET_NAMES[grain]}"
        title = f"{since} to {until}, the last {count}"
    elif since is not None and until is not None:
        title = f"{since} to {until}"
    elif since is not None:
        title = f"from {since}"
    else:
        assert until is not None
        title = f"up to {until}"
    if until is not None and since is None:
        since = EPOCH  # up to --until: everything before it
    first = None if since is None else _midnight(since, tz)
    after = None if until is None else _midnight(until + timedelta(days=1), tz)
    return Window(title, first, after, start=since and since.isoformat(),
                  end=until and until.isoformat())


def _row(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, **{kind: entry[kind] for kind in TOKEN_KINDS},
            "total_tokens": entry["tokens"], "cost_usd": entry["cost"]}


def _sums_row(key: str, sums: queries.RowSums) -> dict[str, Any]:
    return {"key": key, **{kind: getattr(sums, kind) for kind in TOKEN_KINDS},
            "total_tokens": sums.tokens, "cost_usd": queries.usd(sums.cost_nanos)}


def _by_model_id(parts: dict[str, list[int]]) -> list[dict[str, Any]]:
    """A row's rows by raw model id (``parts``: RowSums as lists), the costliest first."""
    return [_sums_row(key, queries.RowSums(*sums)) for key, sums
            in sorted(parts.items(), key=lambda item: (-item[1][-1], item[0]))]


def _total(parts: Iterable[list[int]]) -> queries.RowSums:
    return queries.RowSums(*(sum(column) for column in zip(*parts, strict=True)))


def _local(stored: str, tz: ZoneInfo) -> datetime:
    """A cost_log timestamp (UTC text) in ``tz``."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).astimezone(tz)


def _shown(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _session_rows(db: sqlite_utils.Database, span: Window, *, project: str | None,
                  tz: ZoneInfo, breakdown: bool) -> list[dict[str, Any]]:
    """One row per task with events in the window, the newest last activity first."""
    tasks: dict[tuple[str, str], dict[str, Any]] = {}
    for project_id, task, model_id, first, last, sums in queries.session_usage(
            db, start=span.first, end=span.until, project=project):
        entry = tasks.setdefault((project_id, task), {"first": first, "last": last,
                                                      "models": {}})
        entry["first"], entry["last"] = min(entry["first"], first), max(entry["last"], last)
        entry["models"][model_id] = list(sums)
    rows = []
    for (project_id, task), entry in sorted(tasks.items(), key=lambda item: item[1]["last"],
                                            reverse=True):
        first, last = _local(entry["first"], tz), _local(entry["last"], tz)
        row = _sums_row(task, _total(entry["models"].values())) | {
            "project": project_id, "first_activity": buckets.rfc3339(first),
            "last_activity": buckets.rfc3339(last), "first_shown": _shown(first),
            "last_shown": _shown(last), "models": sorted(entry["models"])}
        if breakdown:
            row["breakdown"] = _by_model_id(entry["models"])
        rows.append(row)
    return rows


def _block_rows(db: sqlite_utils.Database, span: Window, *, project: str | None,
                tz: ZoneInfo, now: datetime, breakdown: bool) -> list[dict[str, Any]]:
    """The 5-hour blocks the window's events (of ``project``) form, oldest first; the active
    one with its minutes left, burn rate and projected cost."""
    hours = [HourUsage(hour=datetime.fromisoformat(f"{hour}:00:00").replace(tzinfo=UTC),
                       first=_local(first, UTC), model_id=model_id, sums=list(sums))
             for hour, first, model_id, sums in queries.hourly_usage(
                 db, start=span.first, end=span.until, project=project)]
    rows = []
    for block in form_blocks(hours):
        start, end = block.start.astimezone(tz), block.end.astimezone(tz)
        row = _sums_row(_shown(start), queries.RowSums(*block.sums)) | {
            "start": buckets.rfc3339(start), "end": buckets.rfc3339(end),
            "active": block.active(now), "end_shown": _shown(end),
            "models": sorted(block.by_model_id)}
        if block.active(now):
            row |= {"minutes_left": block.minutes_left(now),
                    "burn_rate_usd_per_hour": queries.usd(block.burn_rate_nanos(now)),
                    "projected_cost_usd": queries.usd(block.projected_nanos(now))}
            row["end_shown"] = f"active, {row['minutes_left']} min left"
        if breakdown:
            row["breakdown"] = _by_model_id(block.by_model_id)
        rows.append(row)
    return rows


def _first_event(db: sqlite_utils.Database, project: str | None, tz: ZoneInfo,
                 now: datetime) -> datetime | None:
    firsts = [entry["first_event"] for entry in
              queries.projects(db, tz=tz, now=now, project=project)["projects"]
              if entry["first_event"]]
    return min((buckets.parse_instant(text, tz) for text in firsts), default=None)


def _time_rows(db: sqlite_utils.Database, report: Report, span: Window, *,
               project: str | None, tz: ZoneInfo, now: datetime,
               breakdown: bool) -> list[dict[str, Any]]:
    """One row per bucket with events; a bucket the window cuts (a rolling window's first,
    a week or month cut by --since/--until) holds only the part inside the window, from the
    breakdown over that part, and says so (``partial``: the part's first and last second)."""
    assert report.granularity
    first = span.first or _first_event(db, project, tz, now)
    if first is None:
        return []
    last = now.astimezone(tz) if span.until is None else span.until - timedelta(seconds=1)
    if last < first:
        return []
    body = queries.timeseries(db, granularity=report.granularity, start=buckets.rfc3339(first),
                              end=buckets.rfc3339(last), model=None, project=project, tz=tz,
                              now=now, by="model")
    rows = []
    for point in body["series"]:
        start = datetime.fromisoformat(point["start"])
        end = buckets.following(start, report.granularity, tz)
        part = max(start, first), min(end, span.until or end)
        if part != (start, end):
            cut = queries.breakdown(db, by="model", period=None, project=project, limit=None,
                                    now=now, start=buckets.rfc3339(part[0]),
                                    end=buckets.rfc3339(part[1] - timedelta(seconds=1)), tz=tz)
            entries = cut["breakdown"].values()
            point = {"date": point["date"], "cost": cut["total_cost_usd"],
                     **{kind: sum(entry[kind] for entry in entries)
                        for kind in ("tokens", *TOKEN_KINDS)},
                     "breakdown": {key: entry["cost"] for key, entry
                                   in sorted(cut["breakdown"].items()) if entry["cost"]},
                     "partial": [buckets.rfc3339(part[0].astimezone(tz)),
                                 buckets.rfc3339((part[1] - timedelta(seconds=1))
                                                 .astimezone(tz))]}
        if point["cost"] or point["tokens"]:  # a bucket without events is no row
            row = _row(point["date"], point) | {"models": list(point["breakdown"])}
            if "partial" in point:
                row["partial"] = point["partial"]
            if breakdown:
                row["breakdown"] = [_sums_row(key, sums) for key, sums in queries.model_id_usage(
                    db, start=part[0], end=part[1], project=project)]
            rows.append(row)
    return rows


def build(db: sqlite_utils.Database, name: str, *, span: Window, project: str | None,
          tz: ZoneInfo, limit: int | None, now: datetime,
          breakdown: bool = False) -> dict[str, Any]:
    """The report over ``span`` as ``{"title", "rows": [...], "total": {...}}``; QueryError
    for a bad range. With ``breakdown`` (BREAKDOWN_REPORTS), each row holds its rows by raw
    model id as ``breakdown``."""
    report = REPORTS[name]
    if report.columns:
        rows = _session_rows(db, span, project=project, tz=tz, breakdown=breakdown) \
            if name == "sessions" else \
            _block_rows(db, span, project=project, tz=tz, now=now, breakdown=breakdown)
        total_cost = math.fsum(row["cost_usd"] for row in rows)
    elif report.granularity:
        rows = _time_rows(db, report, span, project=project, tz=tz, now=now,
                          breakdown=breakdown)
        total_cost = math.fsum(row["cost_usd"] for row in rows)
    else:
        body = queries.breakdown(db, by=report.by or "", period=span.period, start=span.start,
                                 end=span.end, project=project, limit=limit, now=now, tz=tz)
        rows = [_row(key, entry) for key, entry in body["breakdown"].items()]
        if body.get("other", {}).get("count"):
            rows.append(_row(f"({body['other']['count']} more)", body["other"]))
        total_cost = body["total_cost_usd"]
    total = {kind: sum(row[kind] for row in rows) for kind, _, _ in COLUMNS}
    return {"title": span.title, "rows": rows,
            "total": {"key": "Total", **total, "cost_usd": total_cost}}


#: Room the key (and models) column keeps before the counts are shortened to fit.
KEY_ROOM = 12
MODELS = "Models"


def _width(heading: str, cells: list[str]) -> int:
    return max(map(len, [heading, *cells]))


def _key_cell(row: dict[str, Any]) -> str:
    return f"{row['key']}*" if "partial" in row else row["key"]


def _partial_note(rows: list[dict[str, Any]]) -> str | None:
    """The caption saying which part of a cut bucket its row holds."""
    notes = [f"{row['key']}* holds {datetime.fromisoformat(first):%Y-%m-%d %H:%M} to"
             f" {datetime.fromisoformat(last):%Y-%m-%d %H:%M:%S} only"
             for row in rows if "partial" in row for first, last in [row["partial"]]]
    return "; ".join(notes) or None


def _lines(result: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """The table's lines: each row, then its rows by model id (``--breakdown``; flagged
    True), then the Total."""
    lines = []
    for row in result["rows"]:
        lines.append((row, False))
        lines += [(part, True) for part in row.get("breakdown", [])]
    return [*lines, (result["total"], False)]


#: What a report of many columns (sessions, blocks) leaves out first when the terminal is too
#: narrow for all, one by one: the token kinds (the total stays), then the first activity.
DROPPED_FIRST = ("cache_read_tokens", "cache_creation_tokens", "input_tokens",
                 "output_tokens", "first_shown")
#: Room a shortened column (key, project, models) keeps at least.
NAME_ROOM = 8


def render(name: str, result: dict[str, Any], console: Console, *, tz: str) -> None:
    """The report as a table with a Total row, fitted to the console's width: counts are
    written out in full where they fit, else shortened (459.4K); no cell wraps: the models
    used become ``opus, sonnet +2`` and a long key is shortened in its middle (``--json``
    has them in full). ``--breakdown``'s rows by model id follow their row, the model id in
    the models column. Sessions and blocks, too wide for a narrow terminal, leave out the
    token kinds (the total stays) and then the first activity.
    """
    report = REPORTS[name]
    lines = _lines(result)
    every = [row for row, _ in lines]
    timed = report.window_grain is not None
    cost = [figures.money(row["cost_usd"]) for row in every]
    full = {kind: [f"{row[kind]:,}" for row in every] for kind, _, _ in COLUMNS}
    short = {kind: [figures.compact(row[kind]) for row in every] for kind, _, _ in COLUMNS}
    keys = ["" if part else _key_cell(row) for row, part in lines]
    extra = {field: ["" if part else str(row.get(field, "")) for row, part in lines]
             for field, _ in report.columns}
    models = [[f"└ {row['key']}"] if part else row.get("models", []) for row, part in lines]
    kinds = list(COLUMNS)
    fixed = [field for field, _ in report.columns if field != "project"]
    names = 1 + timed + ("project" in extra)  # the shortened columns: key, models, project

    def needed(counts: dict[str, list[str]], *, full_names: bool) -> int:
        width = sum(_width(heading if counts is full else brief, counts[kind])
                    for kind, heading, brief in kinds) \
            + sum(_width(heading, extra[field]) for field, heading in report.columns
                  if field in fixed) + _width("Cost", cost)
        padding = 3 * (len(kinds) + len(fixed) + names + 1) - 1
        return width + padding + KEY_ROOM * names * full_names

    fits = needed(full, full_names=True) <= console.width
    counts = full if fits else short
    if report.columns:
        for dropped in DROPPED_FIRST:
            if needed(counts, full_names=False) + NAME_ROOM * names <= console.width:
                break
            kinds = [column for column in kinds if column[0] != dropped]
            fixed = [field for field in fixed if field != dropped]
    room = max(console.width - needed(counts, full_names=False), NAME_ROOM * names)
    if "project" in extra:  # a third of the room, the rest the key's and the models'
        width = max(room // 3, NAME_ROOM)
        extra["project"] = [figures.shorten_middle(text, width) for text in extra["project"]]
        room = max(room - _width("Project", extra["project"]), NAME_ROOM * 2)
    if timed:
        key_width = _width(report.heading, keys)
        if "project" in extra:  # a session id, shortened; a date or time never is
            key_width = min(key_width, max(room // 2, len(report.heading)))
            keys = [figures.shorten_middle(key, key_width) for key in keys]
        models_width = max(room - key_width, len(MODELS))
        model_cells = [figures.fit_names(names, models_width) if len(names) != 1
                       else figures.shorten_middle(names[0], models_width) for names in models]
    else:
        keys = [figures.shorten_middle(key, max(room, len(report.heading))) for key in keys]
    shown = [(field, heading) for field, heading in report.columns
             if field in fixed or field == "project"]
    table = Table(title=f"costlog {name} report: {result['title']} ({tz})",
                  caption=_partial_note(result["rows"]), box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(report.heading, no_wrap=True)
    for _, heading in shown:
        table.add_column(heading, no_wrap=True)
    if timed:
        table.add_column(MODELS, no_wrap=True)
    for _, heading, brief in kinds:
        table.add_column(heading if fits else brief, justify="right", no_wrap=True)
    table.add_column("Cost", justify="right", no_wrap=True, style="green")
    last = len(lines) - 1
    for index, (_, part) in enumerate(lines):
        if index == last:
            table.add_section()
        model_cell = [model_cells[index]] if timed else []
        table.add_row(keys[index], *(extra[field][index] for field, _ in shown),
                      *model_cell, *(counts[kind][index] for kind, _, _ in kinds),
                      cost[index],
                      style="bold" if index == last else "dim" if part else None)
    console.print(table)
    for row in result["rows"]:
        if row.get("active"):  # the block holding now: how fast it spends
            console.print(f"active block: {figures.money(row['burn_rate_usd_per_hour'])}/h so"
                          f" far, projected {figures.money(row['projected_cost_usd'])} at its"
                          f" end ({row['minutes_left']} min left)")
