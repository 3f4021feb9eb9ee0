"""Re-pricing: every live computed or unpriced row priced again with today's price sources.

A dry run changes nothing and sums, per raw model id and UTC month, what the rows cost now and
what they would cost; ``apply`` records each row whose cost (or source) changes as its next
revision, superseded by ``reprice``, through the one write path, a chunk at a time. A reported
cost is never touched. The revision makes it exactly once: a second run finds every row already
at today's price, and a row revised meanwhile by its producer is left to the producer (the
re-priced copy's revision is then not higher than the recorded one).
"""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlite_utils

from costlog.constants import (
    COST_COMPUTED,
    COST_UNPRICED,
    MAX_REVISION,
    NANOS_PER_USD,
    SUPERSEDED_BY_REPRICE,
)
from costlog.domain.event import CostEvent
from costlog.domain.pricing import PriceTable
from costlog.store import rollups
from costlog.store.write import COLUMNS, event_row, record_rows

#: Rows read, priced and (with apply) written per transaction.
CHUNK_ROWS = 5_000
_COST = COLUMNS.index("cost_usd")
#: What says how a cost was priced: a change of any is a change of the row.
_HOW = tuple(COLUMNS.index(name) for name in ("cost_source", "price_source"))


@dataclass
class Line:
    """One model id and month of the plan."""

    model_id: str
    month: str  # YYYY-MM, UTC
    rows: int = 0
    changed: int = 0
    nanos_now: int = 0
    nanos_repriced: int = 0

    def as_json(self) -> dict[str, object]:
        return {"model_id": self.model_id, "month": self.month, "rows": self.rows,
                "changed": self.changed, "cost_now_usd": self.nanos_now / NANOS_PER_USD,
                "cost_repriced_usd": self.nanos_repriced / NANOS_PER_USD,
                "difference_usd": (self.nanos_repriced - self.nanos_now) / NANOS_PER_USD}


@dataclass
class Plan:
    lines: dict[tuple[str, str], Line] = field(default_factory=dict)
    #: Rows recorded as a new revision (``apply`` only).
    applied: int = 0

    def total(self) -> Line:
        total = Line("Total", "")
        for line in self.lines.values():
            total.rows += line.rows
            total.changed += line.changed
            total.nanos_now += line.nanos_now
            total.nanos_repriced += line.nanos_repriced
        return total

    def sorted_lines(self) -> list[Line]:
        return [self.lines[key] for key in sorted(self.lines)]


def _nanos(cost: float) -> int:
    return round((cost or 0) * NANOS_PER_USD)


def _event(row: dict, revision: int) -> CostEvent:
    """The stored row as the event that would record it at ``revision``, its cost left to the
    price sources (the stored ``model`` is the family; the event's is the raw id). A column an
    older row lacks (NULL) is the field's default."""
    values = {}
    for field_ in dataclasses.fields(CostEvent):
        value = row.get(field_.name)
        if value is None:
            value = (field_.default if field_.default is not dataclasses.MISSING
                     else "" if field_.type is str else 0)
        values[field_.name] = value
    values.update(
        model=row.get("model_id") or "", cost_usd=None, revision=revision,
        timestamp=datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC))
    return CostEvent(**values)


def _chunks(db: sqlite_utils.Database, *, since: str | None, until: str | None,
            project: str | None) -> Iterator[list[dict]]:
    """The live computed and unpriced rows in ``[since, until]`` (UTC dates), of ``project``,
    that existed when the run began, ``CHUNK_ROWS`` at a time in id order."""
    (last,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()
    where = [rollups.LIVE, "n.cost_source IN (:computed, :unpriced)", "n.id > :after",
             "n.id <= :last", "n.event_id IS NOT NULL"]
    params: dict[str, object] = {"computed": COST_COMPUTED, "unpriced": COST_UNPRICED,
                                 "last": last, "limit": CHUNK_ROWS}
    if since is not None:
        where.append("n.timestamp >= :since")
        params["since"] = since
    if until is not None:
        where.append("n.timestamp < :until")
        params["until"] = f"{until}~"  # the whole of that day
    if project is not None:
        where.append("n.project_id = :project")
        params["project"] = project
    after = 0
    while True:
        rows = list(db.query(f"SELECT * FROM cost_log AS n WHERE {' AND '.join(where)}"
                             " ORDER BY n.id LIMIT :limit", {**params, "after": after}))
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


def reprice(db: sqlite_utils.Database, prices: PriceTable, *, since: str | None = None,
            until: str | None = None, project: str | None = None,
            apply: bool = False) -> Plan:
    """Price every live computed or unpriced row again with ``prices`` (``since``/``until``:
    UTC dates, inclusive); with ``apply``, record each row whose cost or source changes as its
    next revision."""
    plan = Plan()
    for chunk in _chunks(db, since=since, until=until, project=project):
        changed = []
        for row in chunk:
            revision = row.get("revision") or 0
            new = event_row(_event(row, min(revision + 1, MAX_REVISION)), prices)
            key = (row.get("model_id") or "unknown", row["timestamp"][:7])
            line = plan.lines.setdefault(key, Line(*key))
            line.rows += 1
            line.nanos_now += _nanos(row["cost_usd"])
            line.nanos_repriced += _nanos(new[_COST])
            now_how = tuple(row.get(COLUMNS[index]) for index in _HOW)
            if (_nanos(new[_COST]), *(new[index] for index in _HOW)) != (
                    _nanos(row["cost_usd"]), *now_how) and revision < MAX_REVISION:
                line.changed += 1
                changed.append(new)
        if apply and changed:
            plan.applied += record_rows(db, changed, source=SUPERSEDED_BY_REPRICE).revised
    return plan
