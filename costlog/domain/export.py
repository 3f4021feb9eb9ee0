"""Stored events as export rows (CSV or JSON lines) and receipts. Pure: rows in, text out.

A row is a tuple in :data:`COLUMNS` order, as ``costlog.store.queries`` reads it.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from costlog.constants import COST_COMPUTED
from costlog.domain.rates import PARTS

FORMATS = ("csv", "jsonl")
#: The CSV's columns (its header is fixed: spreadsheets and scripts read it by position).
COLUMNS = (
    "event_id", "timestamp", "project_id", "task_id", "phase", "iteration", "model", "model_id",
    "provider", "initiative_id", "input_tokens", "output_tokens", "cache_creation_tokens",
    "cache_read_tokens", "total_tokens", "cost_usd", "cost_source", "duration_ms",
)
#: What a receipt and a JSON line show besides: the pricing dimensions and the price used.
PRICING_COLUMNS = ("cache_creation_1h_tokens", "web_search_requests", "service_tier",
                   "price_source")
#: The cost_log columns of a computed cost's parts (NULL for a reported or unpriced cost),
#: shown together as ``cost_parts``.
PART_COLUMNS = tuple(f"cost_{part}_usd" for part in PARTS)
#: A stored event's row as read (COLUMNS first, so the CSV takes the row's head).
ROW_COLUMNS = (*COLUMNS, *PRICING_COLUMNS, *PART_COLUMNS)
TEXT_COLUMNS = frozenset(("event_id", "timestamp", "project_id", "task_id", "phase", "model",
                          "model_id", "provider", "initiative_id", "cost_source",
                          "service_tier", "price_source"))
CSV_HEADER = ",".join(COLUMNS)
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
#: A spreadsheet reads a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows per chunk of output: big enough to keep per-chunk overhead low, small enough that a
#: chunk is a few hundred kilobytes whatever the export's size.
CHUNK_ROWS = 1000
_TIMESTAMP = COLUMNS.index("timestamp")
_TEXT_INDEXES = tuple(index for index, column in enumerate(COLUMNS) if column in TEXT_COLUMNS)


def utc_rfc3339(stored: str) -> str:
    """cost_log's ``YYYY-MM-DD HH:MM:SS`` (UTC) as RFC 3339 with ``Z``."""
    return f"{stored.replace(' ', 'T')}Z" if stored else stored


def guard(text: str) -> str:
    """A leading ``'`` on text a spreadsheet would run as a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


_FIELDS = len(COLUMNS) + len(PRICING_COLUMNS)


def event_fields(row: tuple) -> dict[str, Any]:
    """A row (ROW_COLUMNS) as the JSON object of a receipt or a JSON-lines export line, a
    computed cost with its ``cost_parts``."""
    fields = dict(zip(ROW_COLUMNS[:_FIELDS], row[:_FIELDS], strict=True))
    fields["timestamp"] = utc_rfc3339(fields["timestamp"])
    fields["cost_parts"] = _parts(fields["cost_source"], row[_FIELDS:])
    return fields


def _parts(cost_source: str, parts: Sequence[float | None]) -> dict[str, float] | None:
    """A computed cost's parts by name; None for a cost costlog did not compute, or computed
    before it kept the parts."""
    if cost_source != COST_COMPUTED or None in parts:
        return None
    return dict(zip(PARTS, parts, strict=True))  # type: ignore[arg-type]


def superseded_fields(row: dict[str, Any], at: str, by: str) -> dict[str, Any]:
    """A version an event superseded (its cost_log row as stored in cost_log_revisions) as a
    receipt shows it: the export's fields, its revision, and when and by what (``event``,
    ``void``, ``reprice`` or ``import``) it was superseded."""
    fields = {column: row.get(column) for column in ROW_COLUMNS[:_FIELDS]}
    for column in fields:
        if fields[column] is None:
            fields[column] = "" if column in TEXT_COLUMNS else 0
    fields["timestamp"] = utc_rfc3339(fields["timestamp"])
    fields["model"] = fields["model"] or "unknown"  # as every read names a model without one
    fields["cost_parts"] = _parts(fields["cost_source"],
                                  [row.get(column) for column in PART_COLUMNS])
    voided = row.get("voided_at")
    return {**fields, "revision": row.get("revision") or 0,
            "voided": None if voided is None else {"reason": row.get("void_reason"),
                                                   "at": voided},
            "superseded_at": at, "superseded_by": by}


_CSV_CELLS = len(COLUMNS)


def _csv_cells(row: tuple) -> list[Any]:
    cells = list(row[:_CSV_CELLS])
    cells[_TIMESTAMP] = utc_rfc3339(cells[_TIMESTAMP])
    for index in _TEXT_INDEXES:
        cells[index] = guard(cells[index])
    return cells


def chunks(rows: Iterable[tuple], fmt: str) -> Iterator[bytes]:
    """The export of ``rows`` as UTF-8 chunks: the CSV header first, or nothing before the
    first JSON line. Each chunk holds at most CHUNK_ROWS rows, so memory stays flat."""
    buffer = io.StringIO()
    # CRLF (RFC 4180): the writer quotes every cell holding either character.
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        buffer.write(CSV_HEADER + "\r\n")
    count = 0
    for row in rows:
        if fmt == "csv":
            writer.writerow(_csv_cells(row))
        else:
            buffer.write(json.dumps(event_fields(row), ensure_ascii=False,
                                    separators=(",", ":")) + "\n")
        count += 1
        if count == CHUNK_ROWS:
            yield buffer.getvalue().encode("utf-8", "surrogateescape")
            buffer.seek(0)
            buffer.truncate()
            count = 0
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8", "surrogateescape")
