"""Read latency over real HTTP against `costlog api` on the imported database.

    python -m bench.bench_queries [--quick] [--events N] [--spread task|uniform]
                                  [--rounds 40] [--workdir DIR] [--db PATH]

Reads ``db-<N>-<spread>.db`` left by ``bench.bench_import`` (``--db`` for another one), runs
``costlog migrate`` on it (as an upgrade would), sets a monthly budget, starts ``costlog api``
and sends every query ``--rounds`` times over one keep-alive connection, the queries interleaved
round by round, after one warm-up round. p50/p95 per query; the API's peak RSS (VmHWM) at
the end. The clock of every process is pinned to 2026-11-20 12:00 UTC, the data's "now".
"""

import argparse
import http.client
import json
import signal
import subprocess
import time
from pathlib import Path

from bench.bench_import import DEFAULT_WORKDIR, NO_REDIS, database
from bench.common import (
    COSTLOG,
    VENV_BIN,
    Results,
    env_for,
    heading,
    machine,
    peak_rss_mb,
    percentile,
    start,
    stop,
    wait_until,
)
from costlog.redis_server import free_port

RESULTS = Results()
END = "2026-11-20"


def queries() -> list[str]:
    paths = []
    for by in ("model", "phase", "task", "initiative"):
        for period in ("24h", "7d", "30d", "all"):
            limit = "&limit=100" if by in ("task", "initiative") else ""
            paths.append(f"/api/cost/breakdown?by={by}&period={period}{limit}")
    for granularity, first in (("hour", "2026-11-14"), ("day", "2026-10-22"),
                               ("day", "2025-11-21"), ("week", "2025-11-21"),
                               ("month", "2025-11-21")):
        for tz in ("", "&tz=America/New_York"):
            paths.append(f"/api/cost/timeseries?granularity={granularity}&start={first}"
                         f"&end={END}{tz}")
    paths += [
        "/api/cost/budget",
        "/api/cost/budget?tz=Asia/Kolkata",
        "/api/initiatives/INIT-100/cost",
        # One project's view, as a project's dashboard asks it.
        "/api/cost/breakdown?by=task&project=project-07&period=30d&limit=100",
        "/api/cost/timeseries?granularity=day&start=2025-11-21&end=2026-11-20"
        "&project=project-07&tz=Asia/Kolkata",
    ]
    return paths


def request(conn: http.client.HTTPConnection, method: str, path: str,
            body: bytes | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    response = conn.getresponse()
    return response.status, response.read()


def bench_queries(db: Path, rounds: int, only: str = "", profile: Path | None = None) -> None:
    heading(f"5. query latency over HTTP, {db.name}, {rounds} rounds")
    env = env_for(db, NO_REDIS)
    subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    api = start([COSTLOG, "api", "--port", str(port)], env, db.with_suffix(".api.log"))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def up() -> bool:
            try:
                return request(conn, "GET", "/healthz")[0] in (200, 503)
            except OSError:
                conn.close()
                return False

        wait_until(up, 60, 0.1)
        status, body = request(conn, "PUT", "/api/cost/budget",
                               json.dumps({"monthly_limit_usd": 20_000}).encode())
        assert status == 200, body
        paths = [path for path in queries() if only in path]
        spy = None
        if profile:  # py-spy attached to the API process for the timed rounds
            spy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "-r", "500", "-f", "raw",
                                    "-o", str(profile), "-p", str(api.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        samples: dict[str, list[float]] = {path: [] for path in paths}
        for round_ in range(rounds + 1):
            for path in paths:
                started = time.perf_counter()
                status, body = request(conn, "GET", path)
                elapsed = (time.perf_counter() - started) * 1000
                assert status == 200, (path, status, body[:300])
                if round_:  # round 0 warms the page cache and the API
                    samples[path].append(elapsed)
                else:
                    json.loads(body)
        rss = peak_rss_mb(api.pid)
        if spy:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    finally:
        stop(api)
    worst = 0.0
    for path, times in samples.items():
        p50, p95 = percentile(times, 50), percentile(times, 95)
        worst = max(worst, p95)
        RESULTS.add(path.removeprefix("/api"), f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                    "p95 ≤ 50 ms", p95 <= 50)
    RESULTS.add("worst p95 of all queries", f"{worst:.1f} ms", "≤ 50 ms", worst <= 50)
    RESULTS.add("API peak RSS (VmHWM)", f"{rss:.0f} MB", "≤ 200 MB", rss <= 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the 50,000-event database")
    parser.add_argument("--events", type=int)
    parser.add_argument("--spread", choices=("task", "uniform"), default="task")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--only", default="", help="only the queries containing this text")
    parser.add_argument("--profile", type=Path,
                        help="py-spy raw profile of the API process to this file")
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 1_000_000)
    db = args.db or database(args.workdir, count, args.spread)
    if not db.exists():
        parser.error(f"{db} does not exist: run python -m bench.bench_import first")
    print(machine())
    bench_queries(db, args.rounds or (10 if args.quick else 40), args.only, args.profile)
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
