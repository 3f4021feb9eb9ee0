"""The export streams in flat memory: the API's peak RSS while it sends every row.

    python -m bench.bench_export [--quick] [--events N] [--spread task|uniform] [--db PATH]

Reads ``db-<N>-<spread>.db`` left by ``bench.bench_import``, starts ``costlog api`` on it and
reads ``GET /api/cost/export`` (CSV, then JSON lines) to the end in 64 KiB reads, counting
rows and bytes. The API's peak RSS (VmHWM) is read after a warm-up request and again after
each export: flat memory means the export adds little, whatever the number of rows. Then
``costlog export`` to /dev/null, its peak RSS from ``getrusage(RUSAGE_CHILDREN)``.
"""

import argparse
import resource
import sqlite3
import subprocess
import time
from pathlib import Path

from bench.bench_import import DEFAULT_WORKDIR, NO_REDIS, database
from bench.bench_queries import _api, request
from bench.common import COSTLOG, Results, env_for, heading, load, machine, peak_rss_mb, stop

RESULTS = Results()
#: The API's peak while exporting, at most this far above its peak after a warm-up request.
GROWTH_LIMIT_MB = 50


def bench_export(db: Path) -> None:
    heading(f"6. export memory, {db.name}")
    env = env_for(db, NO_REDIS)
    subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
    with sqlite3.connect(db) as counter:
        (rows,) = counter.execute("SELECT COUNT(*) FROM cost_log").fetchone()
    api, conn = _api(env, db.with_suffix(".api-export.log"))
    try:
        assert request(conn, "GET", "/api/cost/breakdown?by=task&period=30d&limit=100")[0] == 200
        warm = peak_rss_mb(api.pid)
        RESULTS.add("API peak RSS after a warm-up request", f"{warm:.0f} MB")
        for fmt in ("csv", "jsonl"):
            started = time.perf_counter()
            conn.request("GET", f"/api/cost/export?format={fmt}")
            response = conn.getresponse()
            assert response.status == 200, response.status
            size = lines = 0
            while chunk := response.read(65536):
                size += len(chunk)
                lines += chunk.count(b"\n")
            elapsed = time.perf_counter() - started
            peak = peak_rss_mb(api.pid)
            expected = rows + (fmt == "csv")
            RESULTS.add(f"GET /api/cost/export?format={fmt}: {lines - (fmt == 'csv'):,} rows",
                        f"{size / 2**20:,.0f} MB in {elapsed:.1f} s"
                        f" ({rows / elapsed:,.0f} rows/s)", f"{expected:,} lines",
                        lines == expected)
            RESULTS.add(f"API peak RSS after the {fmt} export", f"{peak:.0f} MB"
                        f" (+{peak - warm:.0f} MB)", f"≤ +{GROWTH_LIMIT_MB} MB and ≤ 200 MB",
                        peak - warm <= GROWTH_LIMIT_MB and peak <= 200)
    finally:
        stop(api)
        conn.close()
    started = time.perf_counter()
    subprocess.run([COSTLOG, "export", "-o", "/dev/null"], env=env, check=True)
    elapsed = time.perf_counter() - started
    cli_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    RESULTS.add("costlog export (CSV) to /dev/null", f"{elapsed:.1f} s; peak RSS of the"
                f" largest child so far {cli_peak:.0f} MB", "≤ 200 MB", cli_peak <= 200)
    RESULTS.add("load average at the end", load())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the 50,000-event database")
    parser.add_argument("--events", type=int)
    parser.add_argument("--spread", choices=("task", "uniform"), default="task")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 1_000_000)
    db = args.db or database(args.workdir, count, args.spread)
    if not db.exists():
        parser.error(f"{db} does not exist: run python -m bench.bench_import first")
    print(machine())
    bench_export(db)
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
