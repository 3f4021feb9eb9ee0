"""Run every benchmark in turn: ``python -m bench [--quick]`` (what ``make bench`` runs).

Each part can also run alone: ``python -m bench.bench_ingest``, ``bench.bench_import``,
``bench.bench_queries``, ``bench.bench_claude_code``, ``bench.bench_otlp``,
``bench.bench_pricing`` (``--help`` on each). Figures are printed, not asserted: these are
benchmarks, not tests, and CI does not run them. Results: docs/benchmarks.md.
"""

import argparse
import subprocess
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small counts (50,000-event import): a smoke run of a minute or two")
    args = parser.parse_args()
    quick = ["--quick"] if args.quick else []
    failed = 0
    # Reads on both spreads: the realistic one (p95 ≤ 50 ms) and the uniform stress one
    # (≤ 200 ms); then the export's memory on the realistic one.
    runs = [("bench.bench_ingest",), ("bench.bench_import", "--spread", "task"),
            ("bench.bench_import", "--spread", "uniform"),
            ("bench.bench_queries", "--spread", "both"), ("bench.bench_export",),
            ("bench.bench_claude_code",), ("bench.bench_otlp",),
            # What pricing costs an import: the same events with and without cost_usd.
            ("bench.bench_pricing",),
            # A new event's write and a revision's, alternating rounds (one-event calls).
            ("bench.bench_write", "--only", "single", "revision", "moved", "--rounds", "5"),
            # Import, reads and one-event ingest on PostgreSQL beside SQLite (a private server,
            # started here); then import and reads of the uniform spread on both.
            ("bench.bench_postgres",),
            ("bench.bench_postgres", "--spread", "uniform", "--no-ingest")]
    for module, *args in runs:
        print(f"\n#### python -m {module} {' '.join([*args, *quick])}", flush=True)
        failed |= subprocess.run([sys.executable, "-m", module, *args, *quick]).returncode
    sys.exit(failed)


if __name__ == "__main__":
    main()
