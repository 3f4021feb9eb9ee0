"""`costlog import` throughput and peak memory, then read latency over real HTTP.

    python -m bench.bench_import [--events 1000000] [--workdir DIR]
"""

import argparse
import http.client
import json
import resource
import subprocess
import time
from pathlib import Path

from bench.common import COSTLOG, env_for, machine, rss_mb, summary, write_jsonl
from costlog.redis_server import free_port

QUERIES = (
    [f"/api/cost/breakdown?by={by}&period={period}" + ("&limit=100" if by in ("task",
     "initiative") else "") for by in ("model", "phase", "task", "initiative")
     for period in ("24h", "7d", "30d", "all")]
    + [f"/api/cost/timeseries?granularity={g}&start={s}&end=2026-11-20{tz}"
       for g, s in (("hour", "2026-11-14"), ("day", "2026-10-22"), ("day", "2025-11-21"),
                    ("week", "2025-11-21"), ("month", "2025-11-21"))
       for tz in ("", "&tz=America/New_York")]
    + ["/api/cost/budget", "/api/cost/budget?tz=Asia/Kolkata", "/api/initiatives/INIT-007/cost",
       "/api/cost/breakdown?by=task&project=project-07&period=30d"]
)


def bench_import(workdir: Path, count: int) -> Path:
    source = workdir / f"events-{count}.jsonl"
    if not source.exists():
        started = time.perf_counter()
        write_jsonl(source, count)
        print(f"generated {count} events in {time.perf_counter() - started:.1f} s")
    db = workdir / f"bench-{count}.db"
    for path in workdir.glob(f"bench-{count}.db*"):
        path.unlink()
    env = env_for(db, "redis://127.0.0.1:1/0")
    subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    result = subprocess.run([COSTLOG, "import", str(source)], env=env, capture_output=True,
                            text=True)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"import: {count} events in {elapsed:.1f} s = {count / elapsed:,.0f} events/s;"
          f" peak RSS {peak:.0f} MB; {result.stderr.strip().splitlines()[-1]}")
    return db


def bench_queries(db: Path, rounds: int) -> None:
    port = free_port()
    env = env_for(db, "redis://127.0.0.1:1/0")
    api = subprocess.Popen([COSTLOG, "api", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = None
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        worst = 0.0
        for path in QUERIES:
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status == 200, (path, body[:200])
            json.loads(body)
            print(f"{path:78s} {summary(samples)}")
            worst = max(worst, sorted(samples)[int(0.95 * (len(samples) - 1))])
        print(f"worst p95 {worst:.1f} ms; API peak RSS {rss_mb(api.pid):.0f} MB")
    finally:
        api.terminate()
        api.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/costlog-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(machine())
    db = bench_import(args.workdir, args.events)
    bench_queries(db, args.rounds)


if __name__ == "__main__":
    main()
