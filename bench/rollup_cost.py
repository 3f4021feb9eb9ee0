"""What the rollups cost a write: the import and one event per job, with fewer rollups.

    python -m bench.rollup_cost [--events N] [--jobs N] [--rounds N] [--variants all contract none]
                                [--backends SQLite PostgreSQL] [--workdir DIR]

Runs the write path with every rollup (``all``), with only those the write needs whatever the
reads do (``contract``: the orchestrator's ``cost_aggregates`` with the task keys behind its
``task_count``, and the totals of the exact-sum guard) and with none (``none``: cost_log alone),
on SQLite and on a private PostgreSQL (the server settings of ``bench.bench_postgres``), round
by round in turn: an import of ``--events`` realistic events into a fresh database (in this
process, as ``costlog import`` runs it), then a drain of ``--jobs`` one-event jobs against RQ's
no-op floor measured in each round; a variant's ratio is its median rate over the median floor
(one slow drain of the floor, which this VM has now and then, would skew a whole round's
ratios). Measuring only: with fewer rollups the reads have nothing to read, so the databases
are thrown away.
"""

import argparse
import logging
import statistics
import time
from collections import defaultdict
from pathlib import Path

from bench.bench_import import DEFAULT_WORKDIR, NO_REDIS, events_file
from bench.bench_ingest import Bench, drain_costlog, drain_noop
from bench.bench_postgres import SERVER_SETTINGS
from bench.common import NOW, Results, heading, load, machine
from costlog import clock
from costlog.cli import main as costlog
from costlog.cli.redis_server import RedisServer
from costlog.store import postgres, rollups
from tests.support.postgres import PostgresServer

EVERY_ROLLUP = rollups.ROLLUPS
#: The rollup tables each variant keeps (None: all of them).
VARIANTS: dict[str, frozenset[str] | None] = {
    "all": None,
    "contract": frozenset({"cost_aggregates", "cost_aggregates_tasks", "costlog_totals"}),
    "none": frozenset(),
}
BACKENDS = ("SQLite", "PostgreSQL")
RESULTS = Results()


def use(variant: str) -> None:
    """Make every write of this process add its rows into the variant's rollups only."""
    tables = VARIANTS[variant]
    rollups.ROLLUPS = tuple(r for r in EVERY_ROLLUP if tables is None or r.table in tables)
    rollups.ADD_STATEMENTS = tuple(statement for rollup in rollups.ROLLUPS
                                   for statement in rollup.add_statements(rows=rollups.STAGED_ROWS))
    postgres._statements.cache_clear()  # PostgreSQL's forms of the statements, kept per process
    postgres.translate.cache_clear()


def import_rate(target: str, source: Path, count: int) -> float:
    """Events/s of ``costlog import source`` (``count`` events) into the fresh database
    ``target``."""
    costlog(["--db", target, "--redis-url", NO_REDIS, "migrate"], standalone_mode=False)
    started = time.perf_counter()
    costlog(["--db", target, "--redis-url", NO_REDIS, "import", str(source)],
            standalone_mode=False)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    workdir = args.workdir / "rollup-cost"
    workdir.mkdir(parents=True, exist_ok=True)
    print(machine(), flush=True)
    logging.basicConfig(filename=workdir / "worker.log", level=logging.INFO)
    clock.set_clock(clock.fixed(NOW))
    source = events_file(args.workdir, args.events, "task")
    imports: dict[str, list[float]] = defaultdict(list)
    drains: dict[str, list[float]] = defaultdict(list)
    floors: list[float] = []
    server = PostgresServer(durable=True, settings=SERVER_SETTINGS).start()
    redis_server = RedisServer(workdir / "redis", appendonly=True).start()
    try:
        bench = Bench(workdir, redis_server.url)
        for number in range(1, args.rounds + 1):
            heading(f"round {number}")
            floor = drain_noop(bench, args.jobs)
            floors.append(floor)
            for variant in args.variants:
                use(variant)
                for backend in args.backends:
                    key = f"{backend}, {variant}"
                    if backend == "SQLite":
                        target = str(workdir / f"import-{variant}.db")
                        for stale in workdir.glob(f"import-{variant}.db*"):
                            stale.unlink()
                        drained = drain_costlog(bench, args.jobs)
                    else:
                        target = server.create_database()
                        drained = drain_costlog(bench, args.jobs,
                                                database=server.create_database())
                    imports[key].append(import_rate(target, source, args.events))
                    drains[key].append(drained)
                    print(f"  {key}: import {imports[key][-1]:,.0f} events/s; one event per job"
                          f" {drained:,.0f}/s against a floor of {floor:,.0f} jobs/s"
                          f" ({drained / floor:.2f})  [{load()}]", flush=True)
    finally:
        use("all")
        redis_server.stop()
        server.stop()
    heading("medians")
    for key in imports:
        RESULTS.add(f"{key}: import of {args.events:,} events",
                    f"median {statistics.median(imports[key]):,.0f} events/s"
                    f" ({', '.join(f'{r:,.0f}' for r in sorted(imports[key]))})",
                    "≥ 20,000/s", statistics.median(imports[key]) >= 20_000)
        ratio = statistics.median(drains[key]) / statistics.median(floors)
        RESULTS.add(f"{key}: one event per job, ratio to the floor",
                    f"{ratio:.2f} ({', '.join(f'{r:,.0f}' for r in sorted(drains[key]))} events/s;"
                    f" floor {', '.join(f'{f:,.0f}' for f in sorted(floors))} jobs/s)",
                    "≥ 0.8", ratio >= 0.8)
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
