"""What pricing costs an import: the same events with and without ``cost_usd``.

    python -m bench.bench_pricing [--quick] [--events N] [--rounds R] [--workdir DIR]

Writes the benchmark's events (``bench.common.events``, task spread) twice: every event with a
reported ``cost_usd``, and every event without one, so that costlog prices each from the
catalogue (a third of them with 1-hour cache writes, some with web searches). Then times
``costlog import`` of each file into a fresh SQLite database, alternating the two files for
``--rounds`` rounds, and reports the fastest round of each and their ratio (goal: the import
without ``cost_usd`` at most 5 % slower). Beside it, in this process: ``event_row`` per event
with and without the cost (what the importer's parser process spends pricing), and a price
lookup.
"""

import argparse
import json
import statistics
import time
from datetime import timedelta
from pathlib import Path

from bench.bench_import import fresh_db, timed_import
from bench.common import NOW, Results, events, heading, machine
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store.write import event_row

RESULTS = Results()
DEFAULT_WORKDIR = Path("/tmp/costlog-bench")
GOAL = 1.05


def pricing_events(count: int, *, reported: bool) -> list[dict]:
    """The benchmark's events, each with a reported cost or none, and the pricing fields."""
    made = []
    for index, event in enumerate(events(count, id_prefix="p")):
        event.pop("cost_usd", None)
        if index % 3 == 0:
            event["cache_creation_1h_tokens"] = event["cache_creation_tokens"] // 2
        if index % 50 == 0:
            event["web_search_requests"] = 1 + index % 4
        if reported:
            event["cost_usd"] = round(0.001 + (index % 3000) / 1000, 6)
        made.append(event)
    return made


def files(workdir: Path, count: int) -> dict[str, Path]:
    found = {}
    for name, reported in (("with cost_usd", True), ("without cost_usd", False)):
        path = workdir / f"pricing-{count}-{'reported' if reported else 'computed'}.jsonl"
        if not path.exists():
            partial = path.with_suffix(".partial")
            with partial.open("w") as out:
                for event in pricing_events(count, reported=reported):
                    out.write(json.dumps(event, separators=(",", ":")) + "\n")
            partial.replace(path)
        found[name] = path
    return found


def bench_rows(count: int) -> None:
    """``event_row`` per event, with and without the cost, in this process."""
    table = PriceTable()
    for name, reported in (("with cost_usd", True), ("without cost_usd", False)):
        parsed = [parse_event(event, now=NOW) for event in pricing_events(count,
                                                                          reported=reported)]
        started = time.perf_counter()
        for event in parsed:
            event_row(event, table)
        micros = (time.perf_counter() - started) / len(parsed) * 1e6
        RESULTS.add(f"event_row, {name}", f"{micros:.2f} µs per event ({count:,} events)")
    lookups = 100_000
    started = time.perf_counter()
    at = NOW - timedelta(days=3)
    for _ in range(lookups):
        table.lookup("claude-sonnet-4-5-20250929", "claude", at=at)
    micros = (time.perf_counter() - started) / lookups * 1e6
    RESULTS.add("price lookup, resolved before", f"{micros:.2f} µs")


def bench_imports(workdir: Path, count: int, rounds: int) -> None:
    heading(f"costlog import of {count:,} events with and without cost_usd, {rounds} rounds")
    sources = files(workdir, count)
    seconds: dict[str, list[float]] = {name: [] for name in sources}
    for round_number in range(rounds):
        # Alternating which goes first: the machine's load drifts, and the page cache warms.
        order = list(sources) if round_number % 2 == 0 else list(reversed(sources))
        for name in order:
            db = workdir / f"pricing-{count}.db"
            elapsed, _, _, summary = timed_import(db, sources[name], env=fresh_db(db))
            seconds[name].append(elapsed)
            print(f"  round {round_number + 1}, {name}: {elapsed:.2f} s"
                  f" ({count / elapsed:,.0f} events/s; {summary})", flush=True)
    # The fastest round of each: the one least slowed by whatever else the machine ran.
    best = {name: min(values) for name, values in seconds.items()}
    for name, fastest in best.items():
        RESULTS.add(f"import {count:,} events {name}",
                    f"{count / fastest:,.0f} events/s (fastest {fastest:.2f} s of {rounds};"
                    f" median {statistics.median(seconds[name]):.2f} s)")
    ratio = best["without cost_usd"] / best["with cost_usd"]
    RESULTS.add("import without cost_usd / with", f"{ratio:.3f}x the time", f"≤ {GOAL:.2f}x",
                ratio <= GOAL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 events, one round")
    parser.add_argument("--events", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 200_000)
    rounds = args.rounds or (1 if args.quick else 4)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(machine())
    bench_rows(min(count, 100_000))
    bench_imports(args.workdir, count, rounds)
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
