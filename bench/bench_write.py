"""The write path in this process, without Redis: the costs the queue benchmarks cannot isolate.

    python -m bench.bench_write [--only single revision moved budgets batched parse] [--events N]
                                [--rounds R] [--quick]

* ``single``  ms per ``ingest.job.record_events`` call of one event (what a one-event job
  costs besides RQ), on a fresh database, events of the last hour.
* ``budgets`` the same with a budget on each of the events' 50 projects and on all projects:
  what the alert decisions add to each write (two budgets apply to every event).
* ``revision`` ms per one-event call whose event is the next revision of a recorded one (its
  old version taken out of every rollup, the new one added), after the same events were
  recorded untimed: a correction's cost beside ``single``'s new event. Its keys stay (more
  tokens: Claude Code's finished copy, a re-pricing); ``moved``: every key moves (another
  task, model, project and time).
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


def timed_calls(payloads: list[dict], per_call: int, budgets: bool = False,
                recorded: list[dict] = ()) -> tuple[float, float]:
    """(wall, CPU) seconds of ``job.record_events`` over ``payloads`` on a fresh database
    (holding ``recorded`` first, written untimed)."""
    with tempfile.TemporaryDirectory(prefix="costlog-bench-write-") as tmp:
        context = job.open_context(Path(tmp) / "write.db", None)
        if budgets:
            for number in range(50):
                set_budget(context.db, f"project-{number:02d}", 1e6, 80, hard_limit=True)
            set_budget(context.db, None, 1e6, 80, hard_limit=True)
        previous = job.set_context(context)
        try:
            for start in range(0, len(recorded), BATCH):
                job.record_events(list(recorded[start:start + BATCH]))
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(payloads), per_call):
                job.record_events(payloads[start:start + per_call])
            return time.perf_counter() - wall, time.process_time() - cpu
        finally:
            job.set_context(previous)
            context.db.close()


def _per_call(wall: float, cpu: float, count: int) -> str:
    # CPU time too: on a machine shared with other work, the wall time also counts the waits.
    return f"{wall / count * 1000:.3f} ms per one-event call ({cpu / count * 1000:.3f} ms CPU)"


def single(count: int) -> str:
    return f"single: {_per_call(*timed_calls(live_payloads(count), 1), count)}"


def revision(count: int) -> str:
    """Revisions on the recorded keys: more tokens (Claude Code's larger copy, a re-pricing)."""
    recorded = live_payloads(count)
    revised = [{**event, "revision": 1, "output_tokens": event["output_tokens"] + 100}
               for event in recorded]
    timed = timed_calls(revised, 1, recorded=recorded)
    return f"revision: {_per_call(*timed, count)}, same keys, more tokens"


def moved(count: int) -> str:
    """Revisions that move every key: another task, model, project and time."""
    recorded = live_payloads(count)
    revised = [{**event, "revision": 1, "task_id": f"{event['task_id']}-moved",
                "project_id": recorded[(index + 1) % count]["project_id"],
                "model": recorded[(index + 7) % count]["model"],
                "output_tokens": event["output_tokens"] + 100,
                "timestamp": recorded[(index + 13) % count]["timestamp"]}
               for index, event in enumerate(recorded)]
    timed = timed_calls(revised, 1, recorded=recorded)
    return f"moved: {_per_call(*timed, count)}, every key moved"


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


SECTIONS: dict[str, Callable[[int], str]] = {"single": single, "revision": revision,
                                             "moved": moved, "budgets": with_budgets,
                                             "batched": batched, "parse": parse}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--events", type=int, help="default: 2,000 single, 100,000 batched,"
                        " 50,000 parse")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the events, one round")
    args = parser.parse_args()
    clock.set_clock(clock.fixed(NOW))
    counts = {"single": 2_000, "revision": 2_000, "moved": 2_000, "budgets": 2_000,
              "batched": 100_000, "parse": 50_000}
    if args.quick:
        counts = {name: count // 10 for name, count in counts.items()}
        args.rounds = 1
    for _ in range(args.rounds):
        for name in args.only:
            print(f"  {SECTIONS[name](args.events or counts[name])}  [{load()}]", flush=True)


if __name__ == "__main__":
    main()
