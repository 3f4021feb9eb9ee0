"""Sums never overflow: the all-time totals (``costlog_totals``) stay within 64-bit integers.

SQLite turns an integer sum that overflows into an inexact REAL without a word (an upsert's
``+``) or fails the query (``SUM``). Every rollup value, and every sum a read adds up, is a part
of the all-time totals of magnitudes, so keeping those within range keeps every sum exact. A
write checks its new rows first: one float total over them for the common case, far from the
limit; only near it, row by row in exact integers, refusing each row that would pass it.
"""

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from costlog.constants import NANOS_PER_USD
from costlog.store import rollups

#: The largest value an SQLite INTEGER holds.
LIMIT = 2**63 - 1
#: The float quick check keeps this much headroom: its rounding errors are far smaller.
FLOAT_MARGIN = 2**40
TOTALS = "costlog_totals"
REFUSED = "cost_log_refused"
_COLUMNS = rollups.GUARDED_COLUMNS
#: The event field(s) a refusal names, per guarded column.
FIELDS = {
    "cost_nanos": "cost_usd",
    "tokens": "total_tokens",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_tokens": "cache_creation_tokens + cache_read_tokens",
}
LIMIT_USD = f"{LIMIT // NANOS_PER_USD}.{LIMIT % NANOS_PER_USD:09d}"


@dataclass(frozen=True)
class Refusal:
    """A row that no exact sum could hold, and why (the reason names the event's field)."""

    row_id: int
    event_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"event {self.event_id}: {self.reason}"


def _reason(running: list[int], cost_usd: Any, values: list[Any]) -> str | None:
    """Why adding this row to the ``running`` totals would make a sum inexact; None if it fits."""
    if abs(cost_usd) * NANOS_PER_USD >= 2**63:  # its own nano-USD are past the range
        return f"cost_usd: {cost_usd} USD is more than an exact sum holds ({LIMIT_USD} USD)"
    for column, total, value in zip(_COLUMNS, running, values, strict=True):
        if total + abs(value) > LIMIT:
            bound = f"{LIMIT_USD} USD" if column == "cost_nanos" else f"{LIMIT} tokens"
            return (f"{FIELDS[column]}: refused: the stored sums would pass {bound},"
                    " the most they hold exactly")
    return None


def totals(db: sqlite_utils.Database) -> list[int]:
    """The all-time totals of the guarded columns (zeros before the first write)."""
    row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TOTALS} WHERE scope = '*'").fetchone()
    return list(row) if row else [0] * len(_COLUMNS)


def unfit_rows(db: sqlite_utils.Database, rows: str, params: dict[str, Any],
               start: list[int]) -> list[tuple[int, str]]:
    """``(row_id, reason)`` of the ``rows`` (ROW_COLUMNS, see rollups) that, added in id order
    to the totals ``start``, would take one past LIMIT; the others fit together."""
    quick = db.execute(
        f"SELECT {', '.join(f'TOTAL(ABS(r.{c} * 1.0))' for c in _COLUMNS)},"
        f" MAX(ABS(r.cost_usd * 1.0)) FROM {rows} AS r", params,
    ).fetchone()
    *sums, largest_cost = quick
    if largest_cost is None:  # no rows
        return []
    if largest_cost * NANOS_PER_USD < LIMIT - FLOAT_MARGIN and all(
        total + added <= LIMIT - FLOAT_MARGIN for total, added in zip(start, sums, strict=True)
    ):
        return []
    running = list(start)
    unfit: list[tuple[int, str]] = []
    for row_id, cost_usd, *values in db.execute(
        f"SELECT r.row_id, r.cost_usd, {', '.join(f'r.{c}' for c in _COLUMNS)}"
        f" FROM {rows} AS r ORDER BY r.row_id", params,
    ):
        reason = _reason(running, cost_usd, values)
        if reason is None:
            running = [total + abs(value) for total, value in zip(running, values, strict=True)]
        else:
            unfit.append((row_id, reason))
    return unfit


def refuse_staged(db: sqlite_utils.Database) -> list[Refusal]:
    """Take the staged rows of a write that would pass the limit out of cost_log (inside the
    write's transaction, before the rollups are added to)."""
    refused = []
    for row_id, reason in unfit_rows(db, rollups.STAGED_ROWS, {}, totals(db)):
        (event_id,) = db.execute("DELETE FROM cost_log WHERE id = ? RETURNING event_id",
                                 [row_id]).fetchone()
        db.execute(f"DELETE FROM {rollups.STAGED_ROWS} WHERE row_id = ?", [row_id])
        refused.append(Refusal(row_id, event_id, reason))
    return refused


def find_unfit(db: sqlite_utils.Database) -> list[Refusal]:
    """The rows of cost_log that cannot all be summed exactly (stored before the totals
    existed): the ones that, in id order, would take a total past the limit."""
    (hi,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM cost_log").fetchone()
    unfit = unfit_rows(db, rollups.live_rows(db), {"lo": 0, "hi": hi}, [0] * len(_COLUMNS))
    return [Refusal(row_id, db.execute("SELECT event_id FROM cost_log WHERE id = ?",
                                       [row_id]).fetchone()[0], reason)
            for row_id, reason in unfit]


def set_aside_unfit(db: sqlite_utils.Database) -> list[Refusal]:
    """Move the rows :func:`find_unfit` names from cost_log to cost_log_refused (the row as
    JSON, with the reason), inside the caller's transaction, so the rollups can be rebuilt."""
    if not db[REFUSED].exists():
        return []  # before the migration that adds it: nothing has been guarded yet
    unfit = find_unfit(db)
    if unfit:
        # Identifiers from the database's own schema, never from input.
        names = [row[1] for row in db.execute("PRAGMA table_info(cost_log)").fetchall()]
        as_json = ", ".join(f"'{name}', \"{name}\"" for name in names)
        for refusal in unfit:
            db.execute(
                f"INSERT INTO {REFUSED}(refused_at, reason, row)"
                f" SELECT datetime('now'), ?, json_object({as_json}) FROM cost_log WHERE id = ?",
                [refusal.reason, refusal.row_id],
            )
            db.execute("DELETE FROM cost_log WHERE id = ?", [refusal.row_id])
    return unfit
