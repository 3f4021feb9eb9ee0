"""Read latency over real HTTP against `costlog api` on the imported database.

    python -m bench.bench_queries [--quick] [--events N] [--spread task|uniform|both]
                                  [--rounds 40] [--workdir DIR] [--db PATH|URL] [--only TEXT]
                                  [--profile OUT] [--baseline DIR] [--utc-days-only]

Reads ``db-<N>-<spread>.db`` left by ``bench.bench_import`` (``--db`` for another one), runs
``costlog migrate`` on it (as an upgrade would), keeps local days for the zones the queries
report in (``costlog local-days add``, as a team reporting in them would; ``--utc-days-only``
leaves them out), sets a monthly budget, starts ``costlog api``
and sends every query ``--rounds`` times over one keep-alive connection, the queries interleaved
round by round, after one warm-up round. p50/p95 per query; the API's peak RSS (VmHWM) at
the end. The clock of every process is pinned to 2026-11-20 12:00 UTC, the data's "now".

``--baseline DIR`` compares two versions of the code under the same load: a second API runs
the packages copied into DIR (first on its PYTHONPATH) on the same database, every request
goes to both APIs in turn (which one first alternates by query and by round), and their
warm-up responses must be byte-identical.
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
    load,
    machine,
    peak_rss_mb,
    percentile,
    start,
    stop,
    wait_until,
)
from costlog.cli.redis_server import free_port
from costlog.settings import database as database_target
from costlog.settings import database_label as label

RESULTS = Results()
END = "2026-11-20"


#: The zones the queries below report in.
LOCAL_DAY_ZONES = ("America/New_York", "Asia/Kolkata")


def queries(events: int = 1_000_000) -> list[str]:
    """Every query timed, for a database of ``events`` events (ids b-0 … b-<events - 1>)."""
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
    # Dimensions and ranges beyond the rolling windows, and the series split.
    for by in ("model_id", "provider", "project"):
        for period in ("24h", "7d", "30d", "all"):
            paths.append(f"/api/cost/breakdown?by={by}&period={period}")
    for by in ("model", "phase", "task", "initiative", "model_id", "project"):
        limit = "&limit=100" if by in ("task", "initiative") else ""
        paths += [f"/api/cost/breakdown?by={by}&period=month&tz=America/New_York{limit}",
                  f"/api/cost/breakdown?by={by}&period=last-month{limit}",
                  f"/api/cost/breakdown?by={by}&start=2026-08-14T09:10:00Z"
                  f"&end=2026-11-02T17:20:00Z{limit}"]
    for by in ("model", "phase", "project"):
        paths += [f"/api/cost/timeseries?granularity=day&start=2025-11-21&end={END}&by={by}"
                  "&tz=America/New_York",
                  f"/api/cost/timeseries?granularity=hour&start=2026-11-14&end={END}&by={by}"]
    paths += [
        "/api/cost/projects",
        "/api/cost/projects?tz=Asia/Kolkata",
        f"/api/cost/events/b-{events // 2 - 1}",  # a receipt from the middle of the file
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


def _api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, http.client.HTTPConnection]:
    """A `costlog api` process on a free port and a keep-alive connection to it, once up."""
    port = free_port()
    api = start([COSTLOG, "api", "--port", str(port)], env, log)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def up() -> bool:
        try:
            return request(conn, "GET", "/healthz")[0] in (200, 503)
        except OSError:
            conn.close()
            return False

    wait_until(up, 60, 0.1)
    return api, conn


def bench_queries(db: Path | str, rounds: int, only: str = "", profile: Path | None = None,
                  baseline: Path | None = None, target: float = 50,
                  workdir: Path = DEFAULT_WORKDIR, events: int = 1_000_000,
                  local_days: bool = True) -> None:
    heading(f"5. query latency over HTTP, {label(db)}, {rounds} rounds")
    env = env_for(db, NO_REDIS)
    subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([COSTLOG, "local-days", *(["add", *LOCAL_DAY_ZONES] if local_days else
                                             ["remove", *LOCAL_DAY_ZONES])],
                   env=env, check=True, capture_output=True)
    # With a baseline, a second API runs the code under ``baseline`` (first on PYTHONPATH) on
    # the same database; each request goes to both, in turn, so both see the same load.
    sides = {"": env}
    if baseline:
        sides[" [baseline]"] = env | {"PYTHONPATH": str(baseline)}
    apis: dict[str, tuple[subprocess.Popen, http.client.HTTPConnection]] = {}
    try:
        for side, side_env in sides.items():
            apis[side] = _api(side_env, workdir / f"api{'-baseline' if side else ''}.log")
        _, conn = apis[""]
        status, body = request(conn, "PUT", "/api/cost/budget",
                               json.dumps({"monthly_limit_usd": 20_000}).encode())
        assert status == 200, body
        paths = [path for path in queries(events) if only in path]
        spy = None
        if profile:  # py-spy attached to the API process for the timed rounds
            spy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "-r", "500", "-f", "raw",
                                    "-o", str(profile), "-p", str(apis[""][0].pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        samples: dict[tuple[str, str], list[float]] = {
            (side, path): [] for path in paths for side in sides}
        for round_ in range(rounds + 1):
            for index, path in enumerate(paths):
                bodies = {}
                # Which side goes first alternates by query and by round: each side follows
                # the other equally often (a slow request of one side also slows the next).
                order = list(sides) if (round_ + index) % 2 == 0 else list(sides)[::-1]
                for side in order:
                    started = time.perf_counter()
                    status, body = request(apis[side][1], "GET", path)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert status == 200, (side, path, status, body[:300])
                    bodies[side] = body
                    if round_:  # round 0 warms the page cache and the API
                        samples[(side, path)].append(elapsed)
                    else:
                        json.loads(body)
                if round_ == 0 and baseline:
                    assert len(set(bodies.values())) == 1, f"responses differ: {path}"
        rss = {side: peak_rss_mb(api.pid) for side, (api, _) in apis.items()}
        if spy:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    finally:
        for api, _ in apis.values():
            stop(api)
    if baseline:
        RESULTS.add("responses identical to the baseline's", f"{len(paths)} queries")
    name = db.stem if isinstance(db, Path) else db.rsplit("/", 1)[-1]  # a file, or a database
    for side in sides:
        worst = 0.0
        for path in paths:
            times = samples[(side, path)]
            p50, p95 = percentile(times, 50), percentile(times, 95)
            worst = max(worst, p95)
            RESULTS.add(f"{name}: {path.removeprefix('/api')}{side}",
                        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", f"p95 ≤ {target:.0f} ms",
                        p95 <= target)
        RESULTS.add(f"{name}: worst p95 of all queries{side}", f"{worst:.1f} ms",
                    f"≤ {target:.0f} ms", worst <= target)
        RESULTS.add(f"{name}: API peak RSS (VmHWM){side}", f"{rss[side]:.0f} MB", "≤ 200 MB",
                    rss[side] <= 200)
    RESULTS.add("load average at the end", load())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the 50,000-event database")
    parser.add_argument("--events", type=int)
    parser.add_argument("--spread", choices=("task", "uniform", "both"), default="task",
                        help="the realistic spread (task: target p95 ≤ 50 ms), the uniform"
                        " stress spread (≤ 200 ms), or both in turn")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where the databases are read and the API logs written")
    parser.add_argument("--db", type=database_target, help="a SQLite file or a postgresql:// URL")
    parser.add_argument("--only", default="", help="only the queries containing this text")
    parser.add_argument("--profile", type=Path,
                        help="py-spy raw profile of the API process to this file")
    parser.add_argument("--baseline", type=Path,
                        help="also run a second API on the code in this directory (a copy of "
                        "the packages, put first on PYTHONPATH) and time both, interleaved")
    parser.add_argument("--utc-days-only", action="store_true",
                        help="keep no local days (remove them from the database if kept)")
    args = parser.parse_args()
    count = args.events or (50_000 if args.quick else 1_000_000)
    spreads = ("task", "uniform") if args.spread == "both" else (args.spread,)
    dbs = [args.db] if args.db else [database(args.workdir, count, spread) for spread in spreads]
    for db in dbs:
        if isinstance(db, Path) and not db.exists():
            parser.error(f"{db} does not exist: run python -m bench.bench_import first")
    args.workdir.mkdir(parents=True, exist_ok=True)  # the API's log goes there
    print(machine())
    for db in dbs:
        # The uniform spread is the stress case: its target is 200 ms.
        bench_queries(db, args.rounds or (10 if args.quick else 40), args.only, args.profile,
                      args.baseline, target=200 if "uniform" in str(db) else 50,
                      workdir=args.workdir, events=count, local_days=not args.utc_days_only)
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
