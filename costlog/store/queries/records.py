"""Records: one initiative, every project, one event's receipt, the raw rows of an export
and the stored counters."""

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import COST_UNPRICED
from costlog.domain import buckets, export
from costlog.errors import DATES_OUT_OF_RANGE, START_AFTER_END
from costlog.store import rollups
from costlog.store.queries.breakdowns import breakdown_range
from costlog.store.queries.planner import (
    MODEL_LEVELS,
    PROJECT_LEVELS,
    RAW_VALUES,
    UTC_ZONE,
    VALUE_COLUMNS,
    QueryError,
    add_sums,
    amounts,
    bucket_sums,
    parse_bound,
    token_kinds,
    usd,
    values_sql,
)


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
            f" {values_sql(RAW_VALUES, 'SUM({})')} FROM cost_log AS n"
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
        add_sums(tasks[(project_id, task_id)], sums)
        add_sums(total, sums)
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
    # entries), in the same statement: one round trip, not a statement per project.
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
    month = bucket_sums(db, list(buckets.month_bounds(now, tz)), project=project, model=None,
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
        params["start"] = buckets.storage_text(parse_bound(start, "start", tz, end=False))
    if end is not None:
        where.append("n.timestamp <= :end")
        params["end"] = buckets.storage_text(parse_bound(end, "end", tz, end=True))
    if start is not None and end is not None and params["start"] > params["end"]:
        raise QueryError(START_AFTER_END)
    if project:
        where.append("n.project_id = :project")
        params["project"] = project
    return (f"SELECT {_EVENT_SELECT} FROM cost_log AS n WHERE {' AND '.join(where)}"
            " ORDER BY n.timestamp, n.event_id"), params


def read_counters(db: sqlite_utils.Database) -> dict[str, int]:
    """Monotonic counters for /metrics: events_ingested, duplicates_ignored, events_unpriced."""
    counters = dict.fromkeys(("events_ingested", "duplicates_ignored", "events_unpriced"), 0)
    counters.update(db.execute("SELECT name, value FROM costlog_counters").fetchall())
    return counters
