"""Write the benchmark's cost events as JSON lines (the input of ``costlog import``).

    python -m bench.generate OUT.jsonl [--events 1000000] [--spread task|uniform|live] [--seed 7]

One year before the benchmarks' NOW (2026-11-20 12:00 UTC), 50 projects, 20,000 tasks,
200 initiatives, every model family and phase; see :func:`bench.common.events`.
"""

import argparse
import time
from pathlib import Path

from bench.common import write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--spread", choices=("task", "uniform", "live"), default="task")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--id-prefix", default="b")
    args = parser.parse_args()
    started = time.perf_counter()
    write_jsonl(args.out, args.events, seed=args.seed, spread=args.spread,
                id_prefix=args.id_prefix)
    print(f"wrote {args.events:,} events to {args.out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
