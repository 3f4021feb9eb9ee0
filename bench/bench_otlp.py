"""OTLP logs in: Claude Code's api_request records, from request to recorded rows.

    python -m bench.bench_otlp [--quick] [--requests N] [--rounds N] [--workdir DIR]

A private redis-server (AOF on, as under `costlog up`), one `costlog worker` and one
`costlog api` process on a fresh SQLite database. The client posts ``ExportLogsServiceRequest``
bodies of 512 records (the OpenTelemetry SDK's default batch) one after another over one
keep-alive connection, as an exporter does: protobuf and protobuf + gzip in turn, each run on a
fresh database, ``--rounds`` times (the machine's speed moves between runs). Records/s from
the first request to the last committed row; the requests' latency; and the CPU time the API
and the worker spent per 1,000 records, which the machine's other load does not change. The
bodies are built and encoded before the clock starts: the exporter's work is not costlog's.
"""

import argparse
import gzip
import http.client
import os
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from bench.common import (
    COSTLOG,
    NOW,
    Results,
    env_for,
    heading,
    ingested,
    machine,
    percentile,
    start,
    stop,
    summary,
    wait_until,
)
from costlog.cli.redis_server import RedisServer, free_port

RESULTS = Results()
BATCH = 512
#: Records of one Claude Code session in a row (a session makes many requests).
SESSION_RECORDS = 64
TARGET = 5000


def _pairs(values: dict[str, str]) -> list[KeyValue]:
    return [KeyValue(key=key, value=AnyValue(string_value=value)) for key, value in values.items()]


def request_body(index: int) -> bytes:
    """Request ``index``: 512 api_request records of eight sessions, string-valued as Claude
    Code sends them, over the hour before NOW."""
    records = []
    for offset in range(BATCH):
        number = index * BATCH + offset
        at = NOW - timedelta(seconds=3600 - number % 3600, milliseconds=number % 1000)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        records.append(LogRecord(
            time_unix_nano=int(at.timestamp()) * 10**9,
            body=AnyValue(string_value="claude_code.api_request"),
            attributes=_pairs({
                "event.name": "api_request", "event.timestamp": stamp,
                "event.sequence": str(number % SESSION_RECORDS),
                "session.id": f"bench-session-{number // SESSION_RECORDS:06d}",
                "prompt.id": f"prompt-{number // 4}", "model": "claude-sonnet-4-5-20250929",
                "cost_usd": f"{0.0001 * (number % 97 + 1):.4f}", "duration_ms": "2400",
                "input_tokens": str(10 + number % 500), "output_tokens": str(300 + number % 900),
                "cache_read_tokens": str(20_000 + number % 5000),
                "cache_creation_tokens": str(number % 2000),
                "terminal.type": "vscode", "app.version": "2.0.14",
                "user.account_uuid": "0c5d0c8e-6a38-4b5e-9d1b-3f1f1f1f1f1f"})))
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=_pairs({
            "service.name": "claude-code", "service.version": "2.0.14",
            "costlog.project": f"project-{index % 5}", "os.type": "linux"})),
        scope_logs=[ScopeLogs(log_records=records)])])
    return request.SerializeToString()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(workdir: Path, redis_url: str, bodies: list[bytes], *, compressed: bool,
        round_number: int) -> None:
    label = f"{'protobuf + gzip' if compressed else 'protobuf'}, round {round_number}"
    queue = f"otlp-{'gzip' if compressed else 'plain'}-{round_number}"
    db = workdir / f"{queue}.db"
    for stale in workdir.glob(f"{queue}.db*"):
        stale.unlink()
    shutil.rmtree(workdir / f"spool-{queue}", ignore_errors=True)
    env = env_for(db, redis_url, queue)
    subprocess.run([COSTLOG, "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    worker = start([COSTLOG, "worker"], env, workdir / f"{queue}.worker.log")
    api = start([COSTLOG, "api", "--port", str(port)], env, workdir / f"{queue}.api.log")
    headers = {"Content-Type": "application/x-protobuf"}
    if compressed:
        headers["Content-Encoding"] = "gzip"
        bodies = [gzip.compress(body, compresslevel=6) for body in bodies]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def up() -> bool:
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().read() is not None
            except OSError:
                conn.close()
                return False

        wait_until(up, 60, 0.1)
        rows = ingested(db)
        total = len(bodies) * BATCH
        latencies: list[float] = []
        cpu = {"API": cpu_seconds(api.pid), "worker": cpu_seconds(worker.pid)}
        started = time.perf_counter()
        for body in bodies:
            sent = time.perf_counter()
            conn.request("POST", "/v1/logs", body, headers)
            response = conn.getresponse()
            answer = response.read()
            latencies.append((time.perf_counter() - sent) * 1000)
            assert response.status == 200, (response.status, answer)
            assert ExportLogsServiceResponse.FromString(answer) == ExportLogsServiceResponse()
        posted = time.perf_counter()
        done = wait_until(lambda: rows() >= total, 600, 0.01)
        rate = total / (done - started)
        spent = {name: (cpu_seconds(proc.pid) - cpu[name]) / total * 1000 * 1000
                 for name, proc in (("API", api), ("worker", worker))}
        print(f"  {label}: {len(bodies)} requests, {sum(map(len, bodies)) / len(bodies) / 1024:.0f}"
              f" KiB each; request latency {summary(latencies)}", flush=True)
        RESULTS.add(f"OTLP logs, {label}, {BATCH} records/request, request → recorded row",
                    f"{rate:,.0f} records/s ({total:,} records; posting alone"
                    f" {total / (posted - started):,.0f}/s; request p95"
                    f" {percentile(latencies, 95):.0f} ms; CPU per 1,000 records: API"
                    f" {spent['API']:.0f} ms, worker {spent['worker']:.0f} ms)",
                    f"≥ {TARGET:,}/s", rate >= TARGET)
    finally:
        stop(api)
        stop(worker, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 requests: a smoke run")
    parser.add_argument("--requests", type=int, help="requests of 512 records (default 200)")
    parser.add_argument("--rounds", type=int, help="runs of each encoding (default 2; quick 1)")
    parser.add_argument("--workdir", type=Path, help="keep databases and logs here")
    args = parser.parse_args()
    count = args.requests or (20 if args.quick else 200)
    rounds = args.rounds or (1 if args.quick else 2)
    print(machine())
    with tempfile.TemporaryDirectory(prefix="costlog-bench-otlp-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        bodies = [request_body(index) for index in range(count)]
        server = RedisServer(workdir / "redis", appendonly=True).start()
        try:
            heading(f"OTLP logs: {count} requests of {BATCH} records, one worker process")
            for round_number in range(1, rounds + 1):
                for compressed in (False, True):
                    run(workdir, server.url, bodies, compressed=compressed,
                        round_number=round_number)
        finally:
            server.stop()
    print("\n" + RESULTS.table())


if __name__ == "__main__":
    main()
