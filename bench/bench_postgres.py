"""The import and read benchmarks on PostgreSQL, side by side with SQLite's.

    python -m bench.bench_postgres [--quick] [--events N] [--spread task|uniform]
                                   [--rounds 40] [--workdir DIR]

Starts a private PostgreSQL server (``initdb`` + ``pg_ctl`` into a temporary directory, C locale,
fsync on: the tests' helper in its durable mode), then for each size imports the same events
file with ``costlog import`` into a fresh SQLite file and into a fresh PostgreSQL database, in
turn, and times the reads (``bench.bench_queries``) on both databases of the largest size. The
server is stopped at the end, whatever happens.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from bench import bench_queries
from bench.bench_import import (
    DEFAULT_WORKDIR,
    NO_REDIS,
    RESULTS,
    database,
    events_file,
    timed_import,
)
from bench.common import COSTLOG, env_for, heading, machine
from tests.support.postgres import PostgresServer, PostgresUnavailable


def import_both(server: PostgresServer, workdir: Path, count: int,
                spread: str) -> tuple[Path, str]:
    heading(f"3. costlog import of {count:,} events ({spread} spread), SQLite and PostgreSQL")
    source = events_file(workdir, count, spread)
    sqlite = database(workdir, count, spread)
    url = server.create_database()
    env = env_for(url, NO_REDIS)
    subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
    for name, target, target_env in (("SQLite", sqlite, None), ("PostgreSQL", url, env)):
        elapsed, _, combined, summary = timed_import(target, source, env=target_env)
        rate = count / elapsed
        RESULTS.add(f"{name}: import {count:,} events", f"{rate:,.0f} events/s"
                    f" ({elapsed:.1f} s; {summary}; {combined:.0f} MB PSS)", "≥ 20,000/s",
                    rate >= 20_000)
    return sqlite, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 events: a smoke run")
    parser.add_argument("--events", type=int)
    parser.add_argument("--spread", choices=("task", "uniform"), default="task")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 1_000_000)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(machine())
    try:
        server = PostgresServer(durable=True)
    except PostgresUnavailable as error:
        sys.exit(f"skipped: {error}")
    try:
        server.start()
        sqlite, url = import_both(server, args.workdir, count, args.spread)
        print("\n" + RESULTS.table())
        rounds = args.rounds or (10 if args.quick else 40)
        figures = []
        for target in (sqlite, url):
            bench_queries.RESULTS.rows.clear()
            bench_queries.bench_queries(target, rounds, workdir=args.workdir)
            figures.append(list(bench_queries.RESULTS.rows))
        print("\n| figure | SQLite | PostgreSQL |\n|---|---|---|")
        for (figure, on_sqlite, *_), (_, on_postgres, *_) in zip(*figures, strict=True):
            print(f"| {figure} | {on_sqlite} | {on_postgres} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
