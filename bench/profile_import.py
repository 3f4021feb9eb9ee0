"""Where ``costlog import`` spends its time: each SQL statement of the write path, timed.

    python -m bench.profile_import DB FILE [--chunk N] [--pragma P] [--drop-index I]

Runs what ``costlog import`` runs — the forked parser process
(``costlog.cli.importer.ParserProcess``: windows of rows in timestamp order) feeding
``costlog.store.write.record_rows`` a chunk at a time, the
import's checkpoint interval, a checkpoint at the end — on ``DB`` (migrated first), and times
every statement the write issues, by target table, by wrapping the connection it writes with,
and the time spent waiting for the parser's messages. Run it on a fresh database or a copy of a
large one. Measuring only: nothing in ingest/ is changed.
"""

import argparse
import re
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

from costlog import constants
from costlog.cli.importer import ParserProcess
from costlog.domain.pricing import load_prices
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from costlog.store.write import record_rows

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
    # Forked before the database is opened, as costlog import does.
    with ParserProcess(args.file, load_prices(None)) as rows_from_parser:
        db = connect(args.db)
        migrate(db)
        db.execute(f"PRAGMA wal_autocheckpoint = {constants.IMPORT_WAL_AUTOCHECKPOINT_PAGES}")
        for pragma in args.pragma:
            db.execute(f"PRAGMA {pragma}")
        for index in args.drop_index:
            db.execute(f"DROP INDEX {index}")
        (before,) = db.execute("SELECT COUNT(*) FROM cost_log").fetchone()
        db.conn = TimedConnection(db.conn)
        written = int(re.search(r"write_bytes: (\d+)", Path("/proc/self/io").read_text())[1])
        waited = 0.0
        started = time.perf_counter()
        rows: list[tuple] = []
        count = 0
        messages = iter(rows_from_parser)
        while True:
            t0 = time.perf_counter()
            message = next(messages, None)
            waited += time.perf_counter() - t0
            if message is not None:
                rows += message.rows()
            while rows and (message is None or len(rows) >= args.chunk):
                chunk = rows[:args.chunk]
                record_rows(db, chunk)
                count += len(chunk)
                del rows[:args.chunk]
            if message is None:
                break
        db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        total = time.perf_counter() - started
    print(f"{count:,} events onto {before:,} rows in {total:.1f} s = {count / total:,.0f}/s"
          f" (chunk {args.chunk}; {' '.join(args.pragma)})")
    print(f"  {waited:7.2f} s {waited / total:6.1%}  waiting for the parser process")
    for name, seconds in sorted(TIMES.items(), key=lambda item: -item[1]):
        print(f"  {seconds:7.2f} s {seconds / total:6.1%}  {name}")
    written = int(re.search(r"write_bytes: (\d+)", Path("/proc/self/io").read_text())[1]) - written
    print(f"  written to disk by this process: {written / 2**20:,.0f} MB"
          f" = {written / count / 1024:,.1f} KB per event")
    rest = total - waited - sum(TIMES.values())
    print(f"  {rest:7.2f} s {rest / total:6.1%}  other Python (receiving rows, chunking)")


if __name__ == "__main__":
    main()
