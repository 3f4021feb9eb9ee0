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

from costlog.store import queries
from costlog.store.rollups import TOKEN_KINDS


@dataclass(frozen=True)
class Report:
    heading: str  # the key column's heading
    granularity: str | None = None  # time reports: the series' buckets
    by: str | None = None  # the others: the breakdown's dimension
    default_days: int = 0  # time reports without --since: this many days up to --until


REPORTS = {
    "daily": Report("Date", granularity="day", default_days=30),
    "weekly": Report("Week", granularity="week", default_days=12 * 7),
    "monthly": Report("Month", granularity="month", default_days=365),
    "models": Report("Model", by="model"),
    "phases": Report("Phase", by="phase"),
    "tasks": Report("Task", by="task"),
    "initiatives": Report("Initiative", by="initiative"),
    "projects": Report("Project", by="project"),
}
EPOCH = date(1970, 1, 1)
#: (field, heading, short heading: when the counts are shortened to fit)
COLUMNS = (("input_tokens", "Input", "Input"), ("output_tokens", "Output", "Output"),
           ("cache_creation_tokens", "Cache write", "Cache w"),
           ("cache_read_tokens", "Cache read", "Cache r"),
           ("total_tokens", "Total tokens", "Total"))


def _row(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, **{kind: entry[kind] for kind in TOKEN_KINDS},
            "total_tokens": entry["tokens"], "cost_usd": entry["cost"]}


def build(db: sqlite_utils.Database, name: str, *, since: date | None, until: date | None,
          project: str | None, tz: ZoneInfo, limit: int | None,
          now: datetime) -> dict[str, Any]:
    """The report as ``{"rows": [...], "total": {...}}`` over the days ``since`` to ``until``
    in ``tz``; QueryError for a bad range."""
    report = REPORTS[name]
    rows: list[dict[str, Any]] = []
    if until is not None and since is None and not report.granularity:
        since = EPOCH  # up to --until: everything before it
    start, end = (None if day is None else day.isoformat() for day in (since, until))
    if report.granularity:
        last = until or now.astimezone(tz).date()
        first = since or last - timedelta(days=report.default_days - 1)
        body = queries.timeseries(db, granularity=report.granularity, start=first.isoformat(),
                                  end=last.isoformat(),
                                  model=None, project=project, tz=tz, now=now, by="model")
        for point in body["series"]:
            if point["cost"] or point["tokens"]:  # a day without events is no row
                rows.append(_row(point["date"], point) | {"models": list(point["breakdown"])})
        total_cost = math.fsum(row["cost_usd"] for row in rows)
    else:
        body = queries.breakdown(db, by=report.by or "", period=None if start or end else "all",
                                 start=start, end=end, project=project, limit=limit, now=now,
                                 tz=tz)
        rows = [_row(key, entry) for key, entry in body["breakdown"].items()]
        if body.get("other", {}).get("count"):
            rows.append(_row(f"({body['other']['count']} more)", body["other"]))
        total_cost = body["total_cost_usd"]
    total = {kind: sum(row[kind] for row in rows) for kind, _, _ in COLUMNS}
    return {"rows": rows, "total": {"key": "Total", **total, "cost_usd": total_cost}}


def _compact(count: int) -> str:
    """A token count in at most 6 characters: 459.4k, 14.0M, 1.2B."""
    for size, unit in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


#: Room the key (and models) column keeps before the counts are shortened to fit.
KEY_ROOM = 12


def render(name: str, result: dict[str, Any], console: Console, *, tz: str) -> None:
    """The report as a table with a Total row, fitted to the console's width: counts are
    written out in full where they fit, else shortened (459.4k); keys wrap, figures never do.
    """
    report = REPORTS[name]
    every = [*result["rows"], result["total"]]
    cost = [f"${row['cost_usd']:,.2f}" for row in every]
    full = {kind: [f"{row[kind]:,}" for row in every] for kind, _, _ in COLUMNS}
    needed = sum(max(map(len, [heading, *full[kind]])) + 2 for kind, heading, _ in COLUMNS) \
        + max(map(len, cost)) + 2 + KEY_ROOM * (2 if report.granularity else 1)
    fits = needed <= console.width
    counts = full if fits else {
        kind: [_compact(row[kind]) for row in every] for kind, _, _ in COLUMNS}
    table = Table(title=f"costlog {name} report ({tz})", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(report.heading, overflow="fold", min_width=4)
    if report.granularity:
        table.add_column("Models", overflow="fold", min_width=5)
    for _, heading, short in COLUMNS:
        table.add_column(heading if fits else short, justify="right", no_wrap=True)
    table.add_column("Cost", justify="right", no_wrap=True, style="green")
    for index, row in enumerate(every):
        if index == len(result["rows"]):
            table.add_section()
        models = [", ".join(row.get("models", []))] if report.granularity else []
        table.add_row(row["key"], *models, *(counts[kind][index] for kind, _, _ in COLUMNS),
                      cost[index], style="bold" if index == len(result["rows"]) else None)
    console.print(table)
