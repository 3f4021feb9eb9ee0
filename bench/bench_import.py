"""`costlog import` throughput and peak memory (and the database the query benchmark reads).

    python -m bench.bench_import [--quick] [--events N] [--spread task|uniform] [--workdir DIR]
                                 [--local-days ZONE ...]

Generates the events file once (``bench/generate.py``; kept in the work directory), builds a
fresh database with ``costlog migrate`` (and ``costlog local-days add`` for ``--local-days``:
the import then also writes their local-day rollups), then times ``costlog import FILE`` as a
child process under ``/usr/bin/time -v``. Memory: the import and its parser process together
(their PSS, sampled every 0.1 s, so the pages they share count once), and the peak RSS of the
larger one (from ``time -v``, else from ``getrusage(RUSAGE_CHILDREN)``).
Importing a small file first shows whether memory stays flat as the file grows. The database
is left in the work directory as ``db-<N>-<spread>.db`` for ``bench.bench_queries``.
"""

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import COSTLOG, Results, env_for, heading, machine, write_jsonl

RESULTS = Results()
DEFAULT_WORKDIR = Path("/tmp/costlog-bench")
NO_REDIS = "redis://127.0.0.1:1/0"  # import never talks to Redis


def events_file(workdir: Path, count: int, spread: str) -> Path:
    path = workdir / f"events-{count}-{spread}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        write_jsonl(path, count, spread=spread)
        print(f"  generated {path} in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def database(workdir: Path, count: int, spread: str) -> Path:
    return workdir / f"db-{count}-{spread}.db"


def fresh_db(db: Path, zones: tuple[str, ...] = ()) -> dict[str, str]:
    for path in db.parent.glob(db.name + "*"):
        path.unlink()
    env = env_for(db, NO_REDIS)
    subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
    if zones:
        subprocess.run([COSTLOG, "local-days", "add", *zones], env=env, check=True,
                       capture_output=True)
    return env


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` and its descendants: pages they share counted once."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # it has just ended
        match = re.search(r"^Pss:\s+(\d+)", rollup, re.MULTILINE)
        total += int(match[1]) / 1024 if match else 0.0
        pending += map(int, children)
    return total


def timed_import(db: Path | str, source: Path, *options: str,
                 env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """(seconds, peak RSS of its largest process and peak PSS of all of them in MB, costlog's
    summary line) of one ``costlog import [options] source``: into a fresh SQLite file ``db``,
    or into the migrated database of ``env``."""
    env = env or fresh_db(db)
    time_bin = shutil.which("time") or "/usr/bin/time"
    wrapper = [time_bin, "-v"] if Path(time_bin).exists() else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    combined = 0.0
    with tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen([*wrapper, COSTLOG, "import", *options, str(source)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        while process.poll() is None:
            combined = max(combined, tree_pss_mb(process.pid))
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        stderr.seek(0)
        output = stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"costlog import failed: {output[-2000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", output)
    if match:  # GNU time: the largest process of the tree
        peak = int(match[1]) / 1024
    else:  # RUSAGE_CHILDREN is the largest child so far: only valid when it grew
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    summary = next((line for line in output.splitlines() if line.startswith("imported")), "?")
    return elapsed, peak, combined, summary


def bench_import(workdir: Path, count: int, spread: str, small: int,
                 zones: tuple[str, ...] = ()) -> Path:
    kept = f", local days kept for {', '.join(zones)}" if zones else ""
    heading(f"3. costlog import of {count:,} events ({spread} spread{kept})")
    sizes = [n for n in (small, count) if n <= count]
    db = database(workdir, count, spread)
    for n in dict.fromkeys(sizes):
        source = events_file(workdir, n, spread)
        target = database(workdir, n, spread)
        elapsed, peak, combined, summary = timed_import(target, source,
                                                        env=fresh_db(target, zones))
        rate = n / elapsed
        size = source.stat().st_size / 2**20
        RESULTS.add(f"import {n:,} events ({size:,.0f} MB file{kept}): rate",
                    f"{rate:,.0f} events/s ({elapsed:.1f} s; {summary})", "≥ 20,000/s",
                    rate >= 20_000)
        RESULTS.add(f"import {n:,} events: peak memory", f"{combined:.0f} MB for both processes"
                    f" (PSS; largest process {peak:.0f} MB RSS)", "≤ 200 MB", combined <= 200)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 events: a smoke run")
    parser.add_argument("--events", type=int)
    parser.add_argument("--spread", choices=("task", "uniform"), default="task")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--local-days", nargs="+", default=[], metavar="ZONE",
                        help="keep local days for these zones during the import")
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 1_000_000)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(machine())
    bench_import(args.workdir, count, args.spread, min(count, 50_000), tuple(args.local_days))
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
