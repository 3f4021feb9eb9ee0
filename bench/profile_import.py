"""Where ``costlog import`` spends its time: each SQL statement of the write path, timed.

    python -m bench.profile_import DB FILE [--chunk N]

Runs the import's parsing and write path (``costlog.jsonl.read_lines`` →
``ingest.store.record_events``) on ``DB`` (migrated first), in one process and in file order,
and times every statement the write issues, by target table, by wrapping the connection it
writes with. ``costlog import`` itself parses in a second process and writes each window of
rows in timestamp order: give a file sorted by timestamp to see its write path. Run it on a
copy of a large database to see the write path at scale. Measuring only: nothing in ingest/ is
changed.
"""

import argparse
import re
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

from costlog.jsonl import read_lines
from ingest import constants
from ingest.database import connect
from ingest.migrations import migrate
from ingest.pricing import load_prices
from ingest.store import record_events

TIMES: dict[str, float] = defaultdict(float)
TARGET = re.compile(r"^\s*(INSERT INTO|SELECT .*? FROM|BEGIN|COMMIT|ROLLBACK)\s*(\w+)?", re.S)


def label(sql: str) -> str:
    head = sql[:300]
    if head.startswith("INSERT INTO cost_log"):
        return "insert cost_log (executemany)"
    match = re.match(r"INSERT INTO (\w+)", head)
    if match:
        star = " ('*' rows)" if "'*'" in sql else ""
        return f"rollup {match[1]}{star}"
    return " ".join(head.split()[:6])


class TimedConnection:
    """Delegates to a sqlite3 connection, timing execute/executemany by statement."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str):
        return getattr(self._conn, name)

    def execute(self, sql: str, *args):
        started = time.perf_counter()
        try:
            return self._conn.execute(sql, *args)
        finally:
            TIMES[label(sql)] += time.perf_counter() - started

    def executemany(self, sql: str, *args):
        started = time.perf_counter()
        try:
            return self._conn.executemany(sql, *args)
        finally:
            TIMES[label(sql)] += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path)
    parser.add_argument("file", type=Path)
    parser.add_argument("--chunk", type=int, default=constants.IMPORT_CHUNK)
    parser.add_argument("--pragma", action="append", default=[],
                        help="experiment: a PRAGMA for the import's connection, e.g."
                        " cache_size=-200000 (repeatable)")
    parser.add_argument("--drop-index", action="append", default=[],
                        help="experiment: drop this index first (repeatable)")
    args = parser.parse_args()
    db = connect(args.db)
    migrate(db)
    for pragma in args.pragma:
        db.execute(f"PRAGMA {pragma}")
    for index in args.drop_index:
        db.execute(f"DROP INDEX {index}")
    wal = Path(f"{args.db}-wal")
    (before,) = db.execute("SELECT COUNT(*) FROM cost_log").fetchone()
    db.conn = TimedConnection(db.conn)
    counters = Path("/proc/self/io").read_text()
    written = int(re.search(r"write_bytes: (\d+)", counters)[1])
    prices = load_prices(None)
    parse = 0.0
    started = time.perf_counter()
    batch = []
    count = 0
    with args.file.open() as stream:
        lines = read_lines(stream)
        while True:
            t0 = time.perf_counter()
            line = next(lines, None)
            parse += time.perf_counter() - t0
            if line is not None and line.event is not None:
                batch.append(line.event)
            if batch and (line is None or len(batch) >= args.chunk):
                record_events(db, batch, prices)
                count += len(batch)
                batch = []
            if line is None:
                break
    total = time.perf_counter() - started
    print(f"{count:,} events onto {before:,} rows in {total:.1f} s = {count / total:,.0f}/s"
          f" (chunk {args.chunk}; WAL file {wal.stat().st_size / 2**20 if wal.exists() else 0:,.0f}"
          f" MB; {' '.join(args.pragma)})")
    print(f"  {parse:7.2f} s {parse / total:6.1%}  read + json.loads + parse_event")
    for name, seconds in sorted(TIMES.items(), key=lambda item: -item[1]):
        print(f"  {seconds:7.2f} s {seconds / total:6.1%}  {name}")
    written = int(re.search(r"write_bytes: (\d+)", Path("/proc/self/io").read_text())[1]) - written
    print(f"  written to disk by this process: {written / 2**20:,.0f} MB"
          f" = {written / count / 1024:,.1f} KB per event")
    rest = total - parse - sum(TIMES.values())
    print(f"  {rest:7.2f} s {rest / total:6.1%}  other Python (pricing, row tuples, ...)")


if __name__ == "__main__":
    main()
