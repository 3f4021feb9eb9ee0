"""Ingest through the real queue: RQ's floor, one event per job, batches, publish latency, scaling.

    python -m bench.bench_ingest [--quick] [--workdir DIR] [--only SECTION ...]

Sections (all against a private redis-server on loopback, AOF on as in `costlog up`):

* ``single``  one event per job. *Drain*: N jobs queued first, then one worker works them in
  this process (``run_worker(burst=True)``, costlog's own ``CostlogWorker``); the floor is the
  same worker class, tuning and job options running a no-op job (``bench/noop.py``) on the same
  payloads; five rounds of a no-op drain then a costlog drain, the median of their ratios.
  Also RQ's forking ``Worker`` on the no-op job and on costlog's job (``rq worker`` with
  costlog's job class). *Live*: a ``costlog worker`` process while this process publishes
  one event at a time; events/s from the first publish to the last committed row.
* ``batched`` ``publish_many`` and ``POST /api/cost/events`` (``costlog api``), 500 events per
  call, one ``costlog worker`` process; events/s from the first call to the last committed row.
* ``latency`` ``publish()`` latency with Redis up, refusing connections, and not answering.
* ``scaling`` 1, 2 and 4 ``costlog worker`` processes on one database, then
  ``costlog aggregates check``.
* ``alerts``  one event per job again, drained without budgets and with a budget on every
  project and on all projects (each write then decides alerts and updates the gate's state in
  Redis), rounds alternating; then ``budget_allows`` latency against that state.
"""

import argparse
import http.client
import json
import logging
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from rq import Queue, Worker
from rq.suspension import resume, suspend

from bench.common import (
    COSTLOG,
    NOW,
    VENV_BIN,
    Results,
    env_for,
    events,
    heading,
    ingested,
    load,
    machine,
    percentile,
    start,
    stop,
    summary,
    wait_until,
)
from bench.noop import enqueue_noop, noop_queue, noop_worker
from costlog import clock
from costlog.cli.redis_server import RedisServer, free_port
from costlog.domain.event import parse_event
from costlog.settings import Settings
from costlog.store.connection import connect as connect_db
from costlog.store.orchestrator import set_budget
from ingest.client import Publisher
from ingest.gate import Gate
from ingest.spool import Spool
from ingest.worker import run_worker

RESULTS = Results()
BATCH = 500
#: Event timestamps (bench.common.events): "live", phases completing in the last hour, as an
#: executor publishes them; --spread year: spread over the year (a back-fill through the queue).
SPREAD = "live"


class Bench:
    def __init__(self, workdir: Path, url: str) -> None:
        self.workdir = workdir
        self.url = url
        self.redis = redis.Redis.from_url(url)
        self.runs = 0

    def fresh(self, name: str) -> tuple[str, Path]:
        """A new queue name and an empty database path for one measurement.

        What an earlier run left under the same name in a kept ``--workdir`` is removed: its
        events (the same ids) would all be duplicates, which cost less than new ones.
        """
        self.runs += 1
        queue = f"{name}-{self.runs}"
        for stale in self.workdir.glob(f"{queue}.db*"):
            stale.unlink()
        shutil.rmtree(self.workdir / f"spool-{queue}", ignore_errors=True)
        return queue, self.workdir / f"{queue}.db"

    def wire(self, count: int, prefix: str) -> list[dict]:
        return [parse_event(e, now=NOW).to_json()
                for e in events(count, id_prefix=prefix, seed=self.runs, spread=SPREAD)]

    def migrate(self, db: Path | str, queue: str) -> dict[str, str]:
        env = env_for(db, self.url, queue)
        subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
        return env

    def workers(self, env: dict[str, str], queue: str, count: int) -> list:
        """``count`` ``costlog worker`` processes, returned once all are registered in Redis."""
        log = self.workdir / f"{queue}.log"
        procs = [start([COSTLOG, "worker"], env, log) for _ in range(count)]
        q = Queue(queue, connection=self.redis)
        wait_until(lambda: Worker.count(connection=self.redis, queue=q) >= count, 60, 0.05)
        return procs


# -- 1. one event per job ---------------------------------------------------------------------


def drain_noop(bench: Bench, count: int, kind: str = "costlog") -> float:
    queue_name, _ = bench.fresh(f"noop-{kind}")
    queue = noop_queue(queue_name, bench.redis)
    for payload in bench.wire(count, queue_name):
        enqueue_noop(queue, [payload])
    spool = Publisher(bench.url, queue_name, bench.workdir / f"spool-{queue_name}").replay_spool
    worker = noop_worker(queue, bench.redis, kind, replay_spool=spool)
    started = time.perf_counter()
    worker.work(burst=True, with_scheduler=True)  # RQ logs at INFO, as in run_worker
    elapsed = time.perf_counter() - started
    assert queue.finished_job_registry.get_job_count() == count, "no-op jobs did not all finish"
    return count / elapsed


def drain_costlog(bench: Bench, count: int, budgets: bool = False,
                  database: str | None = None) -> float:
    """One worker's drain of ``count`` one-event jobs into a new SQLite file, or into the empty
    PostgreSQL ``database`` (a URL)."""
    queue, file = bench.fresh("drain")
    db = database or file
    settings = Settings(db_path=db, redis_url=bench.url, queue_name=queue,
                        spool_dir=bench.workdir / f"spool-{queue}")
    bench.migrate(db, queue)
    if budgets:
        set_budgets(db)
    publisher = Publisher(bench.url, queue, settings.spool_dir)
    for payload in bench.wire(count, queue):
        publisher.publish(payload)
    started = time.perf_counter()
    run_worker(settings, burst=True, replay_spool=publisher.replay_spool)
    elapsed = time.perf_counter() - started
    assert ingested(db)() == count, "not every event was recorded"
    return count / elapsed


def drain_costlog_forking(bench: Bench, count: int) -> float:
    """costlog's job on RQ's forking Worker (``rq worker`` with costlog's job class)."""
    queue, db = bench.fresh("fork")
    env = bench.migrate(db, queue)
    publisher = Publisher(bench.url, queue, bench.workdir / f"spool-{queue}")
    for payload in bench.wire(count, queue):
        publisher.publish(payload)
    read = ingested(db)
    proc = start([str(VENV_BIN / "rq"), "worker", "-u", bench.url, "--burst", "-w",
                  "rq.worker.Worker", "--job-class", "ingest.job.CostlogJob", "-S",
                  "rq.serializers.JSONSerializer", "-q", queue], env,
                 bench.workdir / f"{queue}.log")
    first = wait_until(lambda: read() > 0, 60)
    seen = read()
    last = wait_until(lambda: read() >= count, 600)
    proc.wait(60)
    return (count - seen) / (last - first)


def live(bench: Bench, name: str, count: int, send, workers: int = 1) -> dict[str, float]:
    """Workers started and idle; ``send(queue, env, payloads)`` publishes; events/s to committed."""
    queue, db = bench.fresh(name)
    env = bench.migrate(db, queue)
    payloads = bench.wire(count, queue)
    procs = bench.workers(env, queue, workers)
    try:
        read = ingested(db)
        started = time.perf_counter()
        send(queue, env, payloads)
        sent = time.perf_counter()
        done = wait_until(lambda: read() >= count, 900)
    finally:
        for proc in procs:
            stop(proc)
    return {"rate": count / (done - started), "publish_rate": count / (sent - started),
            "lag": done - sent}


def send_single(bench: Bench):
    def send(queue: str, env: dict[str, str], payloads: list[dict]) -> None:
        publisher = Publisher(bench.url, queue, bench.workdir / f"spool-{queue}")
        for payload in payloads:
            publisher.publish(payload)
    return send


def section_single(bench: Bench, n: int, n_fork: int, rounds: int) -> None:
    heading(f"1. one event per job ({rounds} rounds of {n} jobs; forking Worker: {n_fork})")
    # Round by round, a no-op drain then a costlog drain: each ratio compares two drains seconds
    # apart, and the median of the rounds' ratios is the figure. This VM's speed moves by ±8 %
    # within minutes, and single pairs of drains of one tree gave anything from 0.72 to 1.02.
    floors, rates = [], []
    for number in range(1, rounds + 1):
        floors.append(drain_noop(bench, n))
        rates.append(drain_costlog(bench, n))
        print(f"  round {number}: no-op {floors[-1]:,.0f} jobs/s, costlog {rates[-1]:,.0f}"
              f" events/s = {rates[-1] / floors[-1]:.2f} x  [{load()}]", flush=True)
    ratios = sorted(rate / floor for rate, floor in zip(rates, floors, strict=True))
    ratio = statistics.median(ratios)
    # All rounds' no-op time over all rounds' costlog time.
    pooled = sum(1 / floor for floor in floors) / sum(1 / rate for rate in rates)
    floor, costlog = statistics.median(floors), statistics.median(rates)
    simple = drain_noop(bench, n, "simple")
    fork_floor = drain_noop(bench, n_fork, "forking")
    fork_costlog = drain_costlog_forking(bench, n_fork)
    RESULTS.add("no-op floor, CostlogWorker (costlog's SimpleWorker subclass), drain",
                f"median {floor:,.0f} jobs/s ({min(floors):,.0f}-{max(floors):,.0f})")
    RESULTS.add("no-op floor, RQ's plain SimpleWorker, drain", f"{simple:,.0f} jobs/s")
    RESULTS.add("costlog, one event per job, one worker, drain",
                f"median {costlog:,.0f} events/s; ratio to the floor: median {ratio:.2f} of"
                f" {rounds} rounds ({', '.join(f'{r:.2f}' for r in ratios)}), pooled"
                f" {pooled:.2f}", "≥ 0.8 x floor", ratio >= 0.8)
    RESULTS.add("no-op floor, forking Worker, drain", f"{fork_floor:,.0f} jobs/s"
                f" ({floor / fork_floor:.1f}x slower than SimpleWorker)")
    RESULTS.add("costlog job on forking Worker (rq worker), drain",
                f"{fork_costlog:,.0f} events/s ({costlog / fork_costlog:.1f}x slower)")
    result = live(bench, "single", n, send_single(bench))
    RESULTS.add("costlog, one event per job, live (publish → committed), 1 worker process",
                f"{result['rate']:,.0f} events/s (publishing {result['publish_rate']:,.0f}/s,"
                f" last row {result['lag'] * 1000:.0f} ms after the last publish)")


# -- 5. alerts and the gate ------------------------------------------------------------------


def set_budgets(db: Path | str) -> None:
    """A budget on each of the 50 projects of bench.common.events and on all projects, high
    enough never to fire: the steady cost every write pays (budgets read, month spend summed)."""
    database = connect_db(db)
    for number in range(50):
        set_budget(database, f"project-{number:02d}", 1e6, 80, hard_limit=True)
    set_budget(database, None, 1e6, 80, hard_limit=True)
    database.close()


def section_alerts(bench: Bench, n: int, rounds: int, calls: int) -> None:
    heading(f"5. alert decisions ({rounds} rounds of {n} one-event jobs), budget gate")
    plain, budgeted = [], []
    for number in range(1, rounds + 1):
        plain.append(drain_costlog(bench, n))
        budgeted.append(drain_costlog(bench, n, budgets=True))
        print(f"  round {number}: no budgets {plain[-1]:,.0f} events/s, 51 budgets"
              f" {budgeted[-1]:,.0f} events/s  [{load()}]", flush=True)
    ratio = statistics.median(b / p for b, p in zip(budgeted, plain, strict=True))
    RESULTS.add("one event per job with 51 budgets (alert decisions + gate state) vs none",
                f"median {statistics.median(budgeted):,.0f} vs {statistics.median(plain):,.0f}"
                f" events/s; with/without per round: median {ratio:.2f} of {rounds} rounds"
                f" ({', '.join(f'{b / p:.2f}' for b, p in zip(budgeted, plain, strict=True))})",
                "≥ 0.95 (≤ 5 % slower)", ratio >= 0.95)
    # The gate: the state the last worker run left in Redis, read by a fresh executor client.
    queue = f"drain-{bench.runs}"
    gate = Gate.from_settings(Settings(redis_url=bench.url, queue_name=queue))
    assert gate.allows("project-01") == (True, None), gate.allows("project-01")
    samples = []
    for index in range(calls):
        started = time.perf_counter()
        gate.allows(f"project-{index % 50:02d}")
        samples.append((time.perf_counter() - started) * 1000)
    RESULTS.add(f"budget_allows latency, {calls} calls", summary(samples), "p99 ≤ 5 ms",
                percentile(samples, 99) <= 5)


# -- 2. batched -------------------------------------------------------------------------------


def send_many(bench: Bench):
    def send(queue: str, env: dict[str, str], payloads: list[dict]) -> None:
        publisher = Publisher(bench.url, queue, bench.workdir / f"spool-{queue}")
        for index in range(0, len(payloads), BATCH):
            publisher.publish_many(payloads[index:index + BATCH])
    return send


def send_http(bench: Bench):
    def send(queue: str, env: dict[str, str], payloads: list[dict]) -> None:
        port = free_port()
        api = start([COSTLOG, "api", "--port", str(port)], env, bench.workdir / f"{queue}.api")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            def up() -> bool:
                try:
                    conn.request("GET", "/healthz")
                    conn.getresponse().read()
                    return True
                except OSError:
                    conn.close()
                    return False

            wait_until(up, 60, 0.1)
            for index in range(0, len(payloads), BATCH):
                body = json.dumps(payloads[index:index + BATCH]).encode()
                conn.request("POST", "/api/cost/events", body,
                             {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = json.loads(response.read())
                assert response.status == 202 and answer["accepted"] == len(
                    payloads[index:index + BATCH]), (response.status, answer)
        finally:
            stop(api)
    return send


def section_batched(bench: Bench, n: int) -> None:
    heading(f"2. batched, {BATCH} events per call ({n} events, one worker process)")
    for label, send in (("publish_many", send_many(bench)),
                        ("POST /api/cost/events", send_http(bench))):
        result = live(bench, "batch", n, send)
        RESULTS.add(f"{label}, {BATCH}/call, live, 1 worker process",
                    f"{result['rate']:,.0f} events/s (publishing {result['publish_rate']:,.0f}/s)",
                    "≥ 5,000/s", result["rate"] >= 5000)


# -- 4. publish latency -----------------------------------------------------------------------


def blackhole() -> tuple[socket.socket, int]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(512)
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                held.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


#: Writes and fsyncs 8 MB blocks in a loop (rewriting a 256 MB file), like a busy database.
DISK_WRITER = """
import os, sys
block = os.urandom(8 << 20)
with open(sys.argv[1], "wb") as out:
    while True:
        for _ in range(32):
            out.write(block)
            out.flush()
            os.fsync(out.fileno())
        out.seek(0)
"""


def timed_publishes(publisher: Publisher, payloads: list[dict]) -> list[float]:
    samples = []
    for payload in payloads:
        started = time.perf_counter()
        publisher.publish(payload)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def outage(bench: Bench, url: str, name: str, n: int, fresh: int) -> None:
    """``n`` publishes on one publisher (its breaker opens after the first failure) and
    ``fresh`` first publishes on new publishers (each pays the failed Redis call)."""
    slug = name.replace(" ", "-").replace(",", "")
    spool_dir = bench.workdir / f"spool-{slug}"
    payloads = bench.wire(n + fresh, slug)
    samples = timed_publishes(Publisher(url, name, spool_dir), payloads[:n])
    firsts = [timed_publishes(Publisher(url, name, spool_dir), [p])[0] for p in payloads[n:]]
    spooled = Spool(spool_dir).status().events
    worst = max(samples + firsts)
    # What a spooling publish pays besides the failed Redis call: the spool's fsynced append.
    spool = Spool(bench.workdir / f"spool-{slug}-alone")
    appends = []
    for payload in payloads[:fresh * 5]:
        started = time.perf_counter()
        spool.append([payload])
        appends.append((time.perf_counter() - started) * 1000)
    RESULTS.add(f"publish, Redis {name}, one publisher", summary(samples))
    RESULTS.add(f"publish, Redis {name}, first call of {fresh} new publishers", summary(firsts))
    RESULTS.add(f"spool append alone (write + fsync), {len(appends)} appends",
                summary(appends))
    RESULTS.add(f"publish, Redis {name}: slowest call, events spooled",
                f"{worst:.1f} ms, {spooled}/{n + fresh} spooled", "≤ 150 ms, all spooled",
                worst <= 150 and spooled == n + fresh)


def section_latency(bench: Bench, n: int) -> None:
    heading(f"4. publish latency ({n} publishes)")
    queue, _ = bench.fresh("latency")
    publisher = Publisher(bench.url, queue, bench.workdir / f"spool-{queue}")
    payloads = bench.wire(n + 100, queue)
    timed_publishes(publisher, payloads[:100])  # warm: connection, imports
    up = timed_publishes(publisher, payloads[100:])
    p99 = percentile(up, 99)
    RESULTS.add("publish, Redis up", summary(up), "p99 ≤ 5 ms", p99 <= 5)
    assert Spool(bench.workdir / f"spool-{queue}").status().events == 0
    outage(bench, f"redis://127.0.0.1:{free_port()}/0", "refusing", n // 4, 20)
    server, port = blackhole()
    try:
        outage(bench, f"redis://127.0.0.1:{port}/0", "not answering", n // 4, 20)
        # The same while another process writes heavily to the same disk (a checkpoint, an
        # import, a backup): the spool's fsync then waits behind the other writes.
        ballast = bench.workdir / "ballast"
        writer = subprocess.Popen([sys.executable, "-c", DISK_WRITER, str(ballast)])
        try:
            time.sleep(1)
            outage(bench, f"redis://127.0.0.1:{port}/0", "not answering, disk busy", n // 4, 20)
        finally:
            writer.kill()
            writer.wait()
            ballast.unlink(missing_ok=True)
    finally:
        server.close()


# -- 6. scaling -------------------------------------------------------------------------------


def prefilled(bench: Bench, name: str, count: int, per_job: int, workers: int) -> float:
    """Queue ``count`` events (``per_job`` per job) while RQ is suspended, start ``workers``
    ``costlog worker`` processes, resume; events/s from the first to the last commit."""
    queue, db = bench.fresh(name)
    env = bench.migrate(db, queue)
    suspend(bench.redis)
    procs: list = []
    try:
        publisher = Publisher(bench.url, queue, bench.workdir / f"spool-{queue}")
        payloads = bench.wire(count, queue)
        for index in range(0, count, per_job):
            chunk = payloads[index:index + per_job]
            publisher.publish_many(chunk) if per_job > 1 else publisher.publish(chunk[0])
        procs = bench.workers(env, queue, workers)
        read = ingested(db)
        resume(bench.redis)
        first = wait_until(lambda: read() > 0, 60, 0.005)
        seen = read()
        last = wait_until(lambda: read() >= count, 900, 0.005)
    finally:
        resume(bench.redis)
        for proc in procs:
            stop(proc)
    check = subprocess.run([COSTLOG, "aggregates", "check"], env=env, capture_output=True,
                           text=True)
    clean = check.returncode == 0
    RESULTS.add(f"{workers} worker process(es), {per_job} event(s)/job",
                f"{(count - seen) / (last - first):,.0f} events/s;"
                f" aggregates check {'clean' if clean else 'DRIFT: ' + check.stdout[:200]}",
                "check clean", clean)
    return (count - seen) / (last - first)


def section_scaling(bench: Bench, n_single: int, n_batched: int) -> None:
    heading(f"6. scaling: 1, 2, 4 worker processes on one database ({n_single} single-event"
            f" jobs; {n_batched} events in {BATCH}-event jobs)")
    for workers in (1, 2, 4):
        prefilled(bench, "scale", n_single, 1, workers)
    for workers in (1, 2, 4):
        prefilled(bench, "scaleb", n_batched, BATCH, workers)


SECTIONS = ("single", "batched", "latency", "scaling", "alerts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--workdir", type=Path, help="keep databases and logs here")
    parser.add_argument("--only", nargs="*", choices=SECTIONS, default=SECTIONS)
    parser.add_argument("--spread", choices=("live", "task"), default="live",
                        help="event timestamps: the last hour (live) or the year (task)")
    args = parser.parse_args()
    global SPREAD
    SPREAD = args.spread
    n_single, n_fork, n_batched, n_latency, rounds = (
        (300, 60, 10_000, 400, 2) if args.quick else (3000, 300, 100_000, 2000, 5))
    clock.set_clock(clock.fixed(NOW))
    print(machine())
    with tempfile.TemporaryDirectory(prefix="costlog-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        # RQ's and costlog's log lines (INFO, as `costlog worker` logs) go to a file, for the
        # in-process workers and the publishers alike: a terminal would slow them unevenly.
        logging.basicConfig(filename=workdir / "bench.log", level=logging.INFO)
        server = RedisServer(workdir / "redis", appendonly=True).start()
        try:
            bench = Bench(workdir, server.url)
            if "single" in args.only:
                section_single(bench, n_single, n_fork, rounds)
            if "batched" in args.only:
                section_batched(bench, n_batched)
            if "latency" in args.only:
                section_latency(bench, n_latency)
            if "scaling" in args.only:
                section_scaling(bench, n_single, n_batched // 2)
            if "alerts" in args.only:
                section_alerts(bench, n_single, rounds, n_latency * 5)
        finally:
            server.stop()
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
