"""The write path in this process, without Redis: the costs the queue benchmarks cannot isolate.

    python -m bench.bench_write [--only single budgets batched parse] [--events N] [--rounds R]

* ``single``  ms per ``ingest.job.record_events`` call of one event (what a one-event job
  costs besides RQ), on a fresh database, events of the last hour.
* ``budgets`` the same with a budget on each of the events' 50 projects and on all projects:
  what the alert decisions add to each write (two budgets apply to every event).
* ``batched`` events/s and µs per event (wall and CPU) of 500-event calls, same events.
* ``parse``   µs per line to read, ``json.loads``, validate and build the row (``costlog
  import``'s parser process), on a year-spread file.

Each section runs ``--rounds`` times and prints every round with the load average, so that
two trees can be compared by running this alternately in each (``PYTHONPATH=TREE``).
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import NOW, events, write_jsonl
from costlog import clock
from costlog.cli.importer import read_lines
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable
from costlog.store.orchestrator import set_budget
from costlog.store.write import event_row
from ingest import job

BATCH = 500


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def live_payloads(count: int) -> list[dict]:
    return [parse_event(e, now=NOW).to_json()
            for e in events(count, id_prefix="w", seed=1, spread="live")]


def timed_calls(payloads: list[dict], per_call: int,
                budgets: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds of ``job.record_events`` over ``payloads`` on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="costlog-bench-write-") as tmp:
        context = job.open_context(Path(tmp) / "write.db", None)
        if budgets:
            for number in range(50):
                set_budget(context.db, f"project-{number:02d}", 1e6, 80, hard_limit=True)
            set_budget(context.db, None, 1e6, 80, hard_limit=True)
        previous = job.set_context(context)
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(payloads), per_call):
                job.record_events(payloads[start:start + per_call])
            return time.perf_counter() - wall, time.process_time() - cpu
        finally:
            job.set_context(previous)
            context.db.close()


def single(count: int) -> str:
    wall, _ = timed_calls(live_payloads(count), 1)
    return f"single: {wall / count * 1000:.3f} ms per one-event call"


def with_budgets(count: int) -> str:
    wall, _ = timed_calls(live_payloads(count), 1, budgets=True)
    return f"budgets: {wall / count * 1000:.3f} ms per one-event call, 51 budgets"


def batched(count: int) -> str:
    wall, cpu = timed_calls(live_payloads(count), BATCH)
    return (f"batched: {count / wall:,.0f} events/s in {BATCH}-event calls"
            f" ({wall / count * 1e6:.1f} µs/event wall, {cpu / count * 1e6:.1f} CPU)")


def parse(count: int) -> str:
    path = Path(tempfile.gettempdir()) / f"costlog-bench-write-{count}.jsonl"
    if not path.exists():
        write_jsonl(path, count)
    prices = PriceTable()
    started = time.perf_counter()
    with path.open(encoding="utf-8") as stream:
        for line in read_lines(stream):
            if line.event is not None:
                event_row(line.event, prices)
    return f"parse: {(time.perf_counter() - started) / count * 1e6:.1f} µs/line"


SECTIONS: dict[str, Callable[[int], str]] = {"single": single, "budgets": with_budgets,
                                             "batched": batched, "parse": parse}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--events", type=int, help="default: 2,000 single, 100,000 batched,"
                        " 50,000 parse")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    clock.set_clock(clock.fixed(NOW))
    counts = {"single": 2_000, "budgets": 2_000, "batched": 100_000, "parse": 50_000}
    for _ in range(args.rounds):
        for name in args.only:
            print(f"  {SECTIONS[name](args.events or counts[name])}  [{load()}]", flush=True)


if __name__ == "__main__":
    main()
