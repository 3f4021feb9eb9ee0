"""Fault 6: hostile jobs written straight into Redis, between good ones, to a real worker.

Each hostile job is laid out the way RQ stores one (``Job.to_dict``/``save``: a hash at
``rq:job:<id>`` with zlib-compressed JSON ``data`` = [function, instance, args, kwargs], then
the id pushed on ``rq:queue:<name>`` as ``Queue.push_job_id`` does), with one thing wrong.
None may run code, crash or wedge the worker, or be retried; each must land in the failed
registry with a reason; the good events around them are all counted.
"""

import json
import socket
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from costlog import constants
from ingest.queue import enqueue_events, make_queue
from tests.support.faults import (
    assert_exactly_once,
    count_rows,
    drained,
    failed_reasons,
    make_events,
    queue_state,
    redis_client,
    report,
    rq_requeue_all,
    service,
    store_of,
    wait_for,
)
from tests.support.processes import costlog_env, run

pytestmark = pytest.mark.e2e

FUNCTION = constants.JOB_FUNCTION
STAMP = "2026-11-20T09:00:00.000000Z"


def valid_event(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "project_id": "hostile", "task_id": "T-1", "phase": "test",
            "model": "claude-haiku-4-5", "cost_usd": 0.5, "timestamp": "2026-11-20T09:00:00Z"}


def payload(func: Any = FUNCTION, instance: Any = None, args: Any = None,
            kwargs: Any = None) -> bytes:
    return json.dumps([func, instance, [[valid_event("x")]] if args is None else args,
                       {} if kwargs is None else kwargs]).encode()


def hostile_jobs(tmp_path: Path, webhook_port: int) -> dict[str, tuple[dict[str, Any], str]]:
    """name → (hash fields to change, what the failure reason must say)."""
    canary = tmp_path / "pwned"
    bomb = zlib.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", 9)
    webhook = json.dumps([{"url": f"http://127.0.0.1:{webhook_port}/hook",
                           "job_status": status, "timeout": 1}
                          for status in ("finished", "failed")])
    wrong_types = [{**valid_event("bad-0"), "project_id": 5},
                   {**valid_event("bad-1"), "cost_usd": "12"},
                   True,
                   valid_event("mixed-valid"),
                   {**valid_event("bad-4"), "input_tokens": 1.5},
                   {**valid_event("bad-5"), "timestamp": "yesterday"}]
    return {
        "os-system": ({"data": payload("os.system", args=[f"touch {canary}"])},
                      "function 'os.system' is not 'ingest.job.record_events'"),
        "subprocess": ({"data": payload("subprocess.check_call", args=[["touch", str(canary)]])},
                       "function 'subprocess.check_call' is not"),
        "eval": ({"data": payload("builtins.eval", args=["__import__('os').system('id')"])},
                 "function 'builtins.eval' is not"),
        "huge-function-name": ({"data": payload("a" * 1_000_000)},
                               "(1000002 characters) is not"),
        "bound-instance": ({"data": payload(instance={"self": 1})},
                           "jobs bound to an instance are not allowed"),
        "failure-callback": ({"failure_callback_name": "os.system"},
                             "callbacks are not allowed"),
        "webhook": ({"webhooks": webhook}, "webhooks are not allowed"),
        "malformed-json": ({"data": b'["ingest.job.record_events", null, [[{"event_id": '},
                           "job data is not JSON [function, instance, args, kwargs]"),
        "json-object": ({"data": b'{"func": "ingest.job.record_events"}'},
                        "job data is not JSON [function, instance, args, kwargs]"),
        "not-utf8": ({"data": b"\xff\xfe\x00garbage"}, "job data is not JSON"),
        "zlib-bomb": ({"data": bomb, "raw": True},
                      f"job data larger than {constants.MAX_JOB_DATA_BYTES} bytes"),
        "no-data": ({"data": None}, "job hash has no data"),
        "no-arguments": ({"data": payload(args=[])},
                         "record_events takes one argument, a list of events"),
        "extra-kwargs": ({"data": payload(kwargs={"shell": True})},
                         "record_events takes one argument, a list of events"),
        "events-not-a-list": ({"data": payload(args=["rm -rf /"])},
                              "events: must be an array of events, got str"),
        "too-many-events": ({"data": payload(args=[[valid_event(f"m{i}") for i in range(1001)]])},
                            "events: at most 1000 per job, got 1001"),
        "wrong-types": ({"data": payload(args=[wrong_types])},
                        "5 of 6 events invalid (valid ones recorded: inserted 1, duplicates 0):"
                        " event 0: project_id: must be a string, got integer; event 1: cost_usd:"
                        " must be a number >= 0, got string; event 2: event: must be a JSON"
                        " object, got boolean; event 4: input_tokens: must be an integer >= 0,"
                        " got number; event 5: timestamp: must be RFC 3339 with an offset"),
        "huge-strings": ({"data": payload(args=[[{**valid_event("huge"),
                                                  "project_id": "p" * 3_000_000,
                                                  "task_id": "t" * 1_000_000}]])},
                         "event 0: project_id: must be at most 512 characters, got 3000000"),
        "retry-storm": ({"data": payload(args=[[{"event_id": "storm"}]]), "retries_left": "100",
                         "retry_intervals": "[0]"}, "event 0: project_id: is required"),
        "bad-status": ({"status": "bogus"}, "unreadable job hash: ValueError"),
        "bad-date": ({"created_at": "yesterday"}, "unreadable job hash: ValueError"),
        "bad-timeout": ({"timeout": "forever"}, "unreadable job hash: AssertionError"),
        "bad-retries": ({"retries_left": "many"}, "unreadable job hash: ValueError"),
        "bad-dependencies": ({"dependency_ids": "{not json"},
                             "unreadable job hash: JSONDecodeError"),
        "not-utf8-fields": ({"worker_name": b"\xff", "origin": b"\xfe"},
                            "unreadable job hash: UnicodeDecodeError"),
        "huge-description": ({"description": "d" * 2_000_000, "status": "bogus"},
                             "unreadable job hash: ValueError"),
    }


def push_raw_job(client: Any, queue_name: str, job_id: str, changes: dict[str, Any]) -> None:
    """A job hash in RQ's layout (Job.to_dict), changed as given; None removes a field."""
    changes = dict(changes)
    raw = changes.pop("raw", False)
    fields: dict[str, Any] = {
        "created_at": STAMP, "enqueued_at": STAMP, "status": "queued", "origin": queue_name,
        "description": f"hostile {job_id}", "timeout": "30", "result_ttl": "60",
        "failure_ttl": str(constants.FAILED_JOB_TTL_SECONDS), "success_callback_name": "",
        "failure_callback_name": "", "stopped_callback_name": "", "started_at": "",
        "ended_at": "", "last_heartbeat": "", "worker_name": "", "group_id": "",
        "data": payload(),
    }
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    if "data" in fields and not raw:
        fields["data"] = zlib.compress(fields["data"])
    client.hset(f"rq:job:{job_id}", mapping=fields)
    client.rpush(f"rq:queue:{queue_name}", job_id)  # Queue.push_job_id
    client.sadd("rq:queues", f"rq:queue:{queue_name}")


def test_hostile_jobs_fail_with_reasons_and_good_events_count(
    tmp_path: Path, redis_url: str, queue_name: str, store_target: str
) -> None:
    """On both back ends."""
    env = costlog_env(tmp_path, redis_url, queue_name) | {"COSTLOG_DB": store_target}
    db_path = store_of(store_target)
    assert run(env, "migrate").returncode == 0
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    hostile = hostile_jobs(tmp_path, listener.getsockname()[1])
    good = make_events(50 * (len(hostile) + 1), prefix="good")
    with redis_client(redis_url) as client:
        queue = make_queue(queue_name, client)
        for index, (name, (changes, _)) in enumerate(hostile.items()):
            enqueue_events(queue, good[index * 50:(index + 1) * 50])
            push_raw_job(client, queue_name, f"hostile-{name}", changes)
        enqueue_events(queue, good[len(hostile) * 50:])
        # A job id with no job behind it: RQ skips it (there is nothing to run or record).
        client.rpush(f"rq:queue:{queue_name}", "hostile-ghost")

    counted = good + [valid_event("mixed-valid")]
    started = time.monotonic()
    with service(env, "worker", log=tmp_path / "worker.log") as worker:
        wait_for(lambda: count_rows(db_path) == len(counted)
                 and queue_state(redis_url, queue_name)["failed"] == len(hostile)
                 and drained(redis_url, queue_name, intermediate=False), 60,
                 "every job to be run or refused")
        elapsed = time.monotonic() - started
        assert worker.poll() is None, "the worker died"

        reasons = failed_reasons(redis_url, queue_name)
        assert sorted(reasons) == sorted(f"hostile-{name}" for name in hostile)
        for name, (_, expected) in hostile.items():
            assert expected in reasons[f"hostile-{name}"], (name, reasons[f"hostile-{name}"])

        with redis_client(redis_url) as client:
            # Rewritten in RQ's own shape: plain RQ (rq info / rq requeue) can read every one.
            for job_id in reasons:
                job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
                assert job.get_status() == JobStatus.FAILED
                assert job.retries_left in (0, None)
            assert make_queue(queue_name, client).scheduled_job_registry.count == 0

        # Re-queuing them all (RQ's own CLI) is harmless: they fail again, nothing is counted.
        result = rq_requeue_all(redis_url, queue_name)
        assert result.returncode == 0, result.stderr
        wait_for(lambda: queue_state(redis_url, queue_name)["failed"] == len(hostile)
                 and drained(redis_url, queue_name, intermediate=False), 60,
                 "the re-queued jobs to fail again",
                 state=lambda: (queue_state(redis_url, queue_name), result.stdout))
        assert worker.poll() is None, "the worker died"

    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "unhandled exception" not in log
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(BlockingIOError):
        listener.accept()  # no webhook was sent
    listener.close()
    figures = assert_exactly_once(db_path, counted)
    report("hostile-queue-input", hostile_jobs=len(hostile), good_events_sent=len(good),
           events_counted=figures["rows"], lost=figures["lost"], doubled=figures["doubled"],
           failed_jobs=len(hostile), seconds=round(elapsed, 1))

