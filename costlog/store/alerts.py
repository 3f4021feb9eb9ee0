"""Budget alert decisions and their deliveries, in the database.

:func:`decide` runs inside the write transaction that changed a month's spend (``record_rows``)
or a budget (``set_budget``): a due alert is an ``INSERT … ON CONFLICT DO NOTHING`` into
``cost_alerts``, unique per budget, month and kind, so it fires once whichever of several
writers gets there first, and never again after a restart. The queue side
(``ingest.alerts``) sends what was decided after the commit.
"""

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from costlog.constants import ALL_PROJECTS
from costlog.domain import alerts, buckets
from costlog.store import budgets, queries
from costlog.store.connection import immediate

UTC_ZONE = ZoneInfo("UTC")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class Decision:
    """What one write decided: the alerts it fired and the month spend of every budget it
    touched (for the gate's state in Redis)."""

    fired: tuple[str, ...] = ()
    states: tuple[alerts.BudgetState, ...] = ()


def _budgets(db: sqlite_utils.Database, projects: Iterable[str] | None) -> list[dict[str, Any]]:
    """The budgets with a limit of ``projects`` and of all projects (None: every budget).

    Every write asks, so it is one statement probing the primary key per project, the project
    list one parameter (an import chunk has thousands).
    """
    where, params = "1", []
    if projects is not None:
        where = "project_id IN (SELECT value FROM json_each(?))"
        params = [json.dumps([*set(projects), ALL_PROJECTS])]
    try:
        rows = db.execute(f"SELECT {budgets.BUDGET_COLUMNS} FROM cost_budgets WHERE {where}"
                          " AND monthly_limit_usd > 0 ORDER BY project_id", params).fetchall()
    except sqlite3.OperationalError:
        return []  # a write between migrations, before budgets had zones: no alerts yet
    return [budgets.budget_of(row) for row in rows]


@dataclass(frozen=True)
class MonthWindow:
    """A budget's current month in its zone, and the rollup keys :func:`month_spend` reads."""

    month: str  # YYYY-MM
    keys: dict[str, str]


@functools.lru_cache(maxsize=1024)
def month_window(zone: str, quarter: datetime) -> MonthWindow:
    """The month in ``zone`` holding the UTC quarter hour ``quarter`` (every month edge of
    every zone falls on one, so the window is the same all through it): the whole UTC days
    inside it, and the quarter hours before the first and after the last UTC midnight.
    Cached: every write with a budget asks."""
    start, end = buckets.month_bounds(quarter, ZoneInfo(zone))
    first, last = buckets.ceil_day(start), buckets.ceil_day(end)
    if last > end:
        last -= timedelta(days=1)
    return MonthWindow(start.strftime("%Y-%m"), {
        "d0": buckets.day_key(first), "d1": buckets.day_key(last),
        "q0": buckets.quarter_key(start), "q1": buckets.quarter_key(first),
        "q2": buckets.quarter_key(last), "q3": buckets.quarter_key(end)})


def month_spend(db: sqlite_utils.Database, project: str, window: MonthWindow) -> int:
    """Nano-USD of ``project`` ('*': all) in ``window``: one statement of at most three
    primary-key range scans of the day and quarter-hour rollups."""
    (nanos,) = db.execute(
        "SELECT (SELECT COALESCE(SUM(cost_nanos), 0) FROM rollup_model_d WHERE project_id = :p"
        " AND day >= :d0 AND day < :d1) + (SELECT COALESCE(SUM(cost_nanos), 0)"
        " FROM rollup_model_q WHERE project_id = :p AND ((bucket >= :q0 AND bucket < :q1)"
        " OR (bucket >= :q2 AND bucket < :q3)))", {"p": project, **window.keys},
    ).fetchone()
    return int(nanos)


def _fired(db: sqlite_utils.Database, project: str, month: str) -> set[str]:
    return {kind for (kind,) in db.execute(
        "SELECT type FROM cost_alerts WHERE project_id = ? AND month = ?", [project, month])}


def _month_states(db: sqlite_utils.Database, projects: Iterable[str] | None, now: datetime
                  ) -> Iterator[tuple[dict[str, Any], ZoneInfo, int, alerts.BudgetState]]:
    """Each budget with a limit among ``projects`` and all projects: the budget, its zone, its
    current month's spend in nano-USD, and its state for the gate."""
    utc = now.astimezone(UTC)
    quarter = utc.replace(minute=utc.minute // 15 * 15, second=0, microsecond=0)
    for budget in _budgets(db, projects):
        project = budget["project_id"]
        tz = budgets.budget_zone(budget, UTC_ZONE)
        window = month_window(tz.key, quarter)
        spent = month_spend(db, project, window)
        yield budget, tz, spent, alerts.BudgetState(
            project, window.month, tz.key, queries.usd(spent), budget["monthly_limit_usd"],
            budget["hard_limit"])


def decide(db: sqlite_utils.Database, projects: Iterable[str], now: datetime) -> Decision:
    """Fire the alerts now due for the budgets of ``projects`` and of all projects (inside the
    caller's transaction): each budget's current month, in its zone."""
    fired: list[str] = []
    states: list[alerts.BudgetState] = []
    for budget, tz, spent, state in _month_states(db, projects, now):
        states.append(state)
        due = alerts.due(state.spent_usd, state.limit_usd, budget["alert_threshold_percent"])
        if not due:
            continue
        done = _fired(db, state.project, state.month)
        pending = [kind for kind in due if kind not in done]
        if pending:
            status = budgets.status_of(budget, state.project, spent, tz, now)
            fired.extend(_fire(db, kind, status, now) for kind in pending)
    return Decision(tuple(fired), tuple(states))


def all_states(db: sqlite_utils.Database, now: datetime) -> list[alerts.BudgetState]:
    """The month spend of every budget with a limit (the gate's whole state); decides nothing."""
    return [state for *_, state in _month_states(db, None, now)]


def _fire(db: sqlite_utils.Database, kind: str, status: dict[str, Any], now: datetime) -> str:
    project, month = status["project"], status["month"]
    ident = alerts.alert_id(kind, project, month)
    fired_at = buckets.rfc3339(now)
    body = alerts.encode(alerts.payload(kind, status, fired_at, ident)).decode()
    db.execute(
        "INSERT INTO cost_alerts(id, type, project_id, month, fired_at, percent_used, spent_usd,"
        " limit_usd, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [ident, kind, project, month, fired_at, status["percent_used"],
         status["current_spent_usd"], status["monthly_limit_usd"], body],
    )
    return ident


# -- deliveries ----------------------------------------------------------------------------------


def payload(db: sqlite_utils.Database, alert_id: str) -> str | None:
    row = db.execute("SELECT payload FROM cost_alerts WHERE id = ?", [alert_id]).fetchone()
    return None if row is None else row[0]


def unqueued(db: sqlite_utils.Database, fired_before: datetime) -> list[str]:
    """Alerts fired before ``fired_before`` whose deliveries were never put on the queue."""
    return [ident for (ident,) in db.execute(
        "SELECT id FROM cost_alerts WHERE enqueued_at IS NULL AND fired_at < ? ORDER BY fired_at",
        [buckets.rfc3339(fired_before)])]


def mark_enqueued(db: sqlite_utils.Database, alert_id: str, urls: Iterable[str],
                  now: datetime) -> None:
    """Record that ``alert_id``'s deliveries to ``urls`` are on the queue (pending)."""
    with immediate(db):
        db.conn.executemany(
            "INSERT INTO cost_alert_deliveries(alert_id, url_key, url) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(alert_id, alerts.url_key(url), alerts.redact_url(url)) for url in urls])
        db.execute("UPDATE cost_alerts SET enqueued_at = ? WHERE id = ?",
                   [buckets.rfc3339(now), alert_id])


def delivery_status(db: sqlite_utils.Database, alert_id: str, key: str) -> str | None:
    row = db.execute("SELECT status FROM cost_alert_deliveries WHERE alert_id = ? AND url_key = ?",
                     [alert_id, key]).fetchone()
    return None if row is None else row[0]


def record_attempt(db: sqlite_utils.Database, alert_id: str, url: str, *, error: str | None,
                   final: bool, now: datetime) -> None:
    """One delivery attempt: delivered (``error`` None), still pending, or failed (``final``)."""
    status = DELIVERED if error is None else FAILED if final else PENDING
    with immediate(db):
        db.execute(
            "INSERT INTO cost_alert_deliveries(alert_id, url_key, url, status, attempts,"
            " last_error, delivered_at) VALUES (:id, :key, :url, :status, 1, :error, :at)"
            " ON CONFLICT DO UPDATE SET status = :status, attempts = attempts + 1,"
            " last_error = :error, delivered_at = :at",
            {"id": alert_id, "key": alerts.url_key(url), "url": alerts.redact_url(url),
             "status": status, "error": error or "",
             "at": buckets.rfc3339(now) if error is None else None},
        )


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Alerts fired, deliveries pending and failed, alerts not yet on the queue."""
    result = {"fired": 0, PENDING: 0, FAILED: 0, "unqueued": 0}
    (result["fired"], result["unqueued"]) = db.execute(
        "SELECT COUNT(*), COUNT(*) - COUNT(enqueued_at) FROM cost_alerts").fetchone()
    result.update(db.execute(
        "SELECT status, COUNT(*) FROM cost_alert_deliveries WHERE status IN (?, ?)"
        " GROUP BY status", [PENDING, FAILED]).fetchall())
    return result


def list_alerts(db: sqlite_utils.Database, *, project: str | None,
                month: str | None) -> list[dict[str, Any]]:
    """Alerts newest first, each with its deliveries (GET /api/cost/alerts)."""
    where, params = ["1"], []
    for clause, value in (("project_id = ?", project), ("month = ?", month)):
        if value is not None:
            where.append(clause)
            params.append(value)
    rows = db.execute(
        "SELECT id, type, project_id, month, fired_at, percent_used, spent_usd, limit_usd"
        f" FROM cost_alerts WHERE {' AND '.join(where)} ORDER BY fired_at DESC, rowid DESC",
        params).fetchall()
    deliveries: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in rows}
    if rows:
        for alert_id, url, status, attempts, error, delivered_at in db.execute(
            "SELECT alert_id, url, status, attempts, last_error, delivered_at"
            " FROM cost_alert_deliveries WHERE alert_id IN"
            f" ({', '.join('?' for _ in rows)}) ORDER BY url", [row[0] for row in rows]):
            deliveries[alert_id].append({"url": url, "status": status, "attempts": attempts,
                                         "last_error": error or None,
                                         "delivered_at": delivered_at})
    return [{"id": ident, "type": kind, "project": project_id, "month": month_text,
             "fired_at": fired_at, "percent_used": percent, "spent_usd": spent,
             "limit_usd": limit, "deliveries": deliveries[ident]}
            for ident, kind, project_id, month_text, fired_at, percent, spent, limit in rows]

