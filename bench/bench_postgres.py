"""The import, read and ingest benchmarks on PostgreSQL, side by side with SQLite's.

    python -m bench.bench_postgres [--quick] [--events N] [--spread task|uniform]
                                   [--rounds 40] [--jobs 3000] [--no-ingest] [--workdir DIR]

Starts a private PostgreSQL server (``initdb`` + ``pg_ctl`` into a temporary directory, C locale,
fsync on: the tests' helper in its durable mode, with the settings docs/postgresql.md recommends,
``SERVER_SETTINGS``), then imports the same events file with ``costlog import`` into a fresh
SQLite file and into a fresh PostgreSQL database, in turn, and times the reads
(``bench.bench_queries``) on both. Last, one event per job (``bench.bench_ingest``'s drain):
round by round RQ's no-op floor, then a drain into a new SQLite file, then one into a new
PostgreSQL database, each back end's figure the median of its rounds' ratios to the floor
(``--no-ingest`` leaves it out: it does not depend on the spread). The servers are stopped at
the end, whatever happens.
"""

import argparse
import logging
import statistics
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
from bench.bench_ingest import Bench, drain_costlog, drain_noop
from bench.common import COSTLOG, NOW, Results, env_for, heading, load, machine
from costlog import clock
from costlog.cli.redis_server import RedisServer
from tests.support.postgres import PostgresServer, PostgresUnavailable

INGEST = Results()
#: The server settings docs/postgresql.md recommends beside the defaults: a write of an import
#: chunk touches more pages than the default 128 MB of shared buffers hold, and with the default
#: max_wal_size a 1M import checkpointed every ~30 s (each page written after one is logged whole).
SERVER_SETTINGS = {"shared_buffers": "2GB", "max_wal_size": "16GB", "checkpoint_timeout": "30min"}


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


def ingest_both(server: PostgresServer, workdir: Path, jobs: int, rounds: int) -> None:
    heading(f"6. one event per job ({rounds} rounds of {jobs} jobs), SQLite and PostgreSQL")
    logging.basicConfig(filename=workdir / "ingest.log", level=logging.INFO)  # as bench_ingest
    clock.set_clock(clock.fixed(NOW))
    redis_server = RedisServer(workdir / "redis", appendonly=True).start()
    try:
        bench = Bench(workdir, redis_server.url)
        ratios: dict[str, list[float]] = {"SQLite": [], "PostgreSQL": []}
        for number in range(1, rounds + 1):
            floor = drain_noop(bench, jobs)
            rates = {"SQLite": drain_costlog(bench, jobs),
                     "PostgreSQL": drain_costlog(bench, jobs, database=server.create_database())}
            for name, rate in rates.items():
                ratios[name].append(rate / floor)
            print(f"  round {number}: no-op {floor:,.0f} jobs/s, "
                  + ", ".join(f"{name} {rate:,.0f} events/s = {rate / floor:.2f} x"
                              for name, rate in rates.items()) + f"  [{load()}]", flush=True)
    finally:
        redis_server.stop()
    for name, measured in ratios.items():
        ratio = statistics.median(measured)
        INGEST.add(f"{name}: one event per job, ratio to RQ's no-op floor",
                   f"median {ratio:.2f} of {rounds} rounds"
                   f" ({', '.join(f'{r:.2f}' for r in sorted(measured))})", "≥ 0.8 x floor",
                   ratio >= 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 events: a smoke run")
    parser.add_argument("--events", type=int)
    parser.add_argument("--spread", choices=("task", "uniform"), default="task")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--jobs", type=int, help="one-event jobs per drain (default 3000)")
    parser.add_argument("--no-ingest", action="store_true",
                        help="import and reads only, no one-event-per-job drains")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 1_000_000)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(machine())
    try:
        server = PostgresServer(durable=True, settings=SERVER_SETTINGS)
    except PostgresUnavailable as error:
        sys.exit(f"skipped: {error}")
    try:
        server.start()
        sqlite, url = import_both(server, args.workdir, count, args.spread)
        print("\n" + RESULTS.table())
        rounds = args.rounds or (10 if args.quick else 40)
        figures = []
        for store in (sqlite, url):
            bench_queries.RESULTS.rows.clear()
            # The uniform spread is the stress case: its target is 200 ms.
            bench_queries.bench_queries(store, rounds, workdir=args.workdir, events=count,
                                        target=200 if args.spread == "uniform" else 50)
            figures.append(list(bench_queries.RESULTS.rows))
        print("\n| figure | SQLite | PostgreSQL |\n|---|---|---|")
        for (figure, on_sqlite, *_), (_, on_postgres, *_) in zip(*figures, strict=True):
            print(f"| {figure} | {on_sqlite} | {on_postgres} |")
        if not args.no_ingest:
            ingest_both(server, args.workdir, args.jobs or (300 if args.quick else 3000),
                        2 if args.quick else 5)
            print("\n" + INGEST.table())
    finally:
        server.stop()


if __name__ == "__main__":
    main()
