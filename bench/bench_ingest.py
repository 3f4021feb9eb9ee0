"""Ingest throughput through the real queue, RQ's floor, and publish latency.

    python -m bench.bench_ingest [--events 3000] [--batched 30000]
"""

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import redis
from rq import Queue
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker, Worker

from bench.common import NOW, events, machine, summary
from bench.noop import NOOP, NoopJob
from costlog.redis_server import RedisServer, free_port
from ingest import clock
from ingest.client import Publisher
from ingest.event import parse_event
from ingest.settings import Settings
from ingest.worker import run_worker


def timed_worker(settings: Settings) -> float:
    started = time.perf_counter()
    run_worker(settings, burst=True)
    return time.perf_counter() - started


def costlog_rate(workdir: Path, url: str, count: int, per_job: int, queue: str) -> float:
    settings = Settings(db_path=workdir / f"{queue}.db", redis_url=url, queue_name=queue,
                        spool_dir=workdir / "spool")
    publisher = Publisher(url, queue, settings.spool_dir)
    parsed = [parse_event(e, now=NOW) for e in events(count, seed=hash(queue) % 1000)]
    for start in range(0, count, per_job):
        publisher.publish_events(parsed[start:start + per_job])
    return count / timed_worker(settings)


def noop_rate(url: str, count: int, worker_class: type[Worker]) -> float:
    connection = redis.Redis.from_url(url)
    queue = Queue(f"noop-{worker_class.__name__}", connection=connection, job_class=NoopJob,
                  serializer=JSONSerializer)
    for _ in range(count):
        queue.enqueue(NOOP, args=([],), result_ttl=60)
    worker = worker_class([queue], connection=connection, job_class=NoopJob,
                          serializer=JSONSerializer)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return count / (time.perf_counter() - started)


def publish_latency(url: str, spool: Path, count: int) -> list[float]:
    publisher = Publisher(url, "latency", spool)
    samples = []
    for event in events(count, seed=3):
        started = time.perf_counter()
        publisher.publish(event)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def blackhole() -> tuple[socket.socket, int]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted = []
    threading.Thread(target=lambda: accepted.extend(iter(lambda: server.accept(), None)),
                     daemon=True).start()
    return server, server.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batched", type=int, default=30000)
    args = parser.parse_args()
    clock.set_clock(clock.fixed(NOW))
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = RedisServer(workdir / "redis", appendonly=False).start()
        try:
            floor_simple = noop_rate(server.url, args.events, SimpleWorker)
            floor_fork = noop_rate(server.url, min(args.events, 400), Worker)
            one = costlog_rate(workdir, server.url, args.events, 1, "one")
            print(f"no-op floor: SimpleWorker {floor_simple:,.0f} jobs/s,"
                  f" forking Worker {floor_fork:,.0f} jobs/s")
            print(f"costlog, one event per job: {one:,.0f} events/s"
                  f" = {one / floor_simple:.2f} x the SimpleWorker floor")
            for per_job in (500, 1000):
                rate = costlog_rate(workdir, server.url, args.batched, per_job, f"b{per_job}")
                print(f"costlog, {per_job} events per job: {rate:,.0f} events/s")
            up = publish_latency(server.url, workdir / "spool-up", 2000)
            print(f"publish, Redis up:          {summary(up)}")
        finally:
            server.stop()
        refused = publish_latency(f"redis://127.0.0.1:{free_port()}/0", workdir / "s1", 200)
        print(f"publish, connection refused: {summary(refused)}  max {max(refused):.1f} ms")
        sock, port = blackhole()
        hung = publish_latency(f"redis://127.0.0.1:{port}/0", workdir / "s2", 200)
        sock.close()
        print(f"publish, Redis not answering: {summary(hung)}  max {max(hung):.1f} ms")


if __name__ == "__main__":
    main()
