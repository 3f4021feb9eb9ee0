"""``costlog report``: the read API's figures as a terminal table (rich) or JSON.

Each report is one call of the read side the API serves (``queries.timeseries`` split by model
for the time reports, ``queries.breakdown`` for the others), so its figures are the API's for
the same range.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
from rich import box
from rich.console import Console
from rich.table import Table

from costlog.domain import buckets, figures
from costlog.store import queries
from costlog.store.rollups import TOKEN_KINDS


@dataclass(frozen=True)
class Report:
    heading: str  # the key column's heading
    granularity: str | None = None  # time reports: the series' buckets
    by: str | None = None  # the others: the breakdown's dimension
    #: Time reports without a window: this many of their buckets, up to today's.
    default_buckets: int = 0


REPORTS = {
    "daily": Report("Date", granularity="day", default_buckets=30),
    "weekly": Report("Week", granularity="week", default_buckets=12),
    "monthly": Report("Month", granularity="month", default_buckets=12),
    "models": Report("Model", by="model"),
    "phases": Report("Phase", by="phase"),
    "tasks": Report("Task", by="task"),
    "initiatives": Report("Initiative", by="initiative"),
    "projects": Report("Project", by="project"),
}
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
    if period is None and since is None and until is None and not report.granularity:
        period = "all"
    if period is not None:
        period, first, last = queries.breakdown_range(period, None, None, tz, now)
        title = PERIOD_TITLES[period]
        if first is not None:
            shown = first.astimezone(tz)
            title += f" (from {shown:%Y-%m-%d %H:%M})" if period in queries.PERIODS \
                else f" ({shown:%Y-%m})"
        return Window(title, first, last, period=period)
    if report.granularity and since is None:
        # The last default_buckets whole buckets up to the one holding --until (or today).
        last_day = until or now.astimezone(tz).date()
        start = buckets.floor(_midnight(last_day, tz), report.granularity, tz)
        for _ in range(report.default_buckets - 1):
            start = buckets.floor(start - timedelta(days=1), report.granularity, tz)
        since = start.date()
        until = last_day
        count = f"{report.default_buckets} {BUCKET_NAMES[report.granularity]}"
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


def _first_event(db: sqlite_utils.Database, project: str | None, tz: ZoneInfo,
                 now: datetime) -> datetime | None:
    firsts = [entry["first_event"] for entry in
              queries.projects(db, tz=tz, now=now, project=project)["projects"]
              if entry["first_event"]]
    return min((buckets.parse_instant(text, tz) for text in firsts), default=None)


def _time_rows(db: sqlite_utils.Database, report: Report, span: Window, *,
               project: str | None, tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
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
            rows.append(row)
    return rows


def build(db: sqlite_utils.Database, name: str, *, span: Window, project: str | None,
          tz: ZoneInfo, limit: int | None, now: datetime) -> dict[str, Any]:
    """The report over ``span`` as ``{"title", "rows": [...], "total": {...}}``; QueryError
    for a bad range."""
    report = REPORTS[name]
    if report.granularity:
        rows = _time_rows(db, report, span, project=project, tz=tz, now=now)
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


def render(name: str, result: dict[str, Any], console: Console, *, tz: str) -> None:
    """The report as a table with a Total row, fitted to the console's width: counts are
    written out in full where they fit, else shortened (459.4K); no cell wraps: the models
    used become ``opus, sonnet +2`` and a long key is shortened in its middle (``--json``
    has them in full).
    """
    report = REPORTS[name]
    every = [*result["rows"], result["total"]]
    cost = [figures.money(row["cost_usd"]) for row in every]
    full = {kind: [f"{row[kind]:,}" for row in every] for kind, _, _ in COLUMNS}
    keys = [_key_cell(row) for row in every]
    models = [row.get("models", []) for row in every]
    overhead = 3 * (len(COLUMNS) + (3 if report.granularity else 2)) - 1  # padding, rules
    cost_width = _width("Cost", cost)
    full_width = sum(_width(heading, full[kind]) for kind, heading, _ in COLUMNS)
    fits = full_width + cost_width + overhead \
        + KEY_ROOM * (2 if report.granularity else 1) <= console.width
    counts = full if fits else {
        kind: [figures.compact(row[kind]) for row in every] for kind, _, _ in COLUMNS}
    used = sum(_width(heading if fits else short, counts[kind])
               for kind, heading, short in COLUMNS) + cost_width + overhead
    room = max(console.width - used, 8)
    if report.granularity:
        key_width = _width(report.heading, keys)
        models_width = max(room - key_width, len(MODELS))
        model_cells = [figures.fit_names(names, models_width) for names in models]
    else:
        keys = [figures.shorten_middle(key, max(room, len(report.heading))) for key in keys]
    table = Table(title=f"costlog {name} report: {result['title']} ({tz})",
                  caption=_partial_note(result["rows"]), box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(report.heading, no_wrap=True)
    if report.granularity:
        table.add_column(MODELS, no_wrap=True)
    for _, heading, short in COLUMNS:
        table.add_column(heading if fits else short, justify="right", no_wrap=True)
    table.add_column("Cost", justify="right", no_wrap=True, style="green")
    for index in range(len(every)):
        if index == len(result["rows"]):
            table.add_section()
        model_cell = [model_cells[index]] if report.granularity else []
        table.add_row(keys[index], *model_cell, *(counts[kind][index] for kind, _, _ in COLUMNS),
                      cost[index], style="bold" if index == len(result["rows"]) else None)
    console.print(table)
