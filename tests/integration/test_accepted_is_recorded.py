"""What an edge accepts is recorded, and sums stay exact: the reproductions, end to end.

Real Redis, the real worker (burst), the real HTTP app over a real SQLite file, the CLI.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import rq
from click.testing import CliRunner

from costlog import constants
from costlog.cli import main
from costlog.settings import Settings
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from ingest.queue import make_queue
from ingest.worker import run_worker
from tests.support.api import client_for, settings_for

pytestmark = pytest.mark.usefixtures("keep_signal_handlers")

OVER = {"project_id": "web", "task_id": "T-1", "phase": "implement",
        "input_tokens": constants.MAX_TOKENS, "output_tokens": 1}
OVER_REASON = ("total_tokens: the sum of the four token counts must be at most 1000000000000,"
               " got 1000000000001")
JSON_TYPE = {"Content-Type": "application/json"}
FIT = (2**63 - 1) // 10**15  # events at 1,000,000 USD the exact sums hold: 9,223


@pytest.fixture
def settings(db_path: Path, tmp_path: Path, redis_url: str, queue_name: str) -> Settings:
    db = connect(db_path)
    migrate(db)
    db.close()
    return settings_for(db_path, tmp_path, redis_url=redis_url, queue_name=queue_name)


@pytest.fixture
def queue(redis_url: str, queue_name: str) -> Iterator[rq.Queue]:
    client = redis.Redis.from_url(redis_url)
    yield make_queue(queue_name, client)
    client.close()


def cli(settings: Settings, *args: str, stdin: str | None = None):
    env = {"COSTLOG_DB": str(settings.db_path), "COSTLOG_REDIS_URL": settings.redis_url or "",
           "COSTLOG_QUEUE": settings.queue_name, "COSTLOG_SPOOL": str(settings.spool_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def test_a_derived_total_over_the_bound_is_refused_at_every_edge(
    settings: Settings, queue: rq.Queue, tmp_path: Path,
) -> None:
    """10^12 input tokens and 1 output token: accepted then dropped by the worker, before."""
    with client_for(settings) as client:
        response = client.post("/api/cost/events", json=OVER)
    assert (response.status_code, response.json()) == (
        400, {"error": OVER_REASON, "accepted": 0, "ids": [],
              "rejected": [{"index": 0, "error": OVER_REASON}]})
    assert queue.count == 0

    emitted = cli(settings, "emit", "-", stdin=json.dumps(OVER) + "\n")
    assert (emitted.exit_code, emitted.stderr.splitlines()[0]) == (1, f"line 1: {OVER_REASON}")
    assert queue.count == 0

    source = tmp_path / "over.jsonl"
    source.write_text(json.dumps(OVER) + "\n")
    imported = cli(settings, "import", str(source))
    assert imported.exit_code == 1
    assert imported.stderr.splitlines()[-2:] == [
        f"line 1: {OVER_REASON}", "imported 0 events, 0 duplicates ignored, 1 rejected"]


def test_ten_posts_of_a_thousand_at_the_largest_cost(settings: Settings, queue: rq.Queue) -> None:
    """About 9,224 events at 1,000,000 USD took the sums past 64 bits: reads answered 500/503
    and `aggregates check|rebuild` crashed. Now the events past the limit are refused into the
    failed registry with the reason and everything else keeps working."""
    with client_for(settings) as client:
        for post in range(10):
            body = [{"project_id": f"p{i % 3}", "task_id": f"T-{post}-{i}", "phase": "implement",
                     "model": "claude-opus-4-5", "cost_usd": constants.MAX_COST_USD}
                    for i in range(1000)]
            response = client.post("/api/cost/events", json=body)
            assert (response.status_code, response.json()["accepted"]) == (202, 1000)
    run_worker(settings, burst=True)

    db = connect(settings.db_path)
    assert db.execute("SELECT COUNT(*) FROM cost_log").fetchone() == (FIT,)
    db.close()
    failed = queue.failed_job_registry
    (job_id,) = failed.get_job_ids()
    reason = queue.fetch_job(job_id).latest_result().exc_string
    assert ("777 of 1000 events refused (valid ones recorded: inserted 223, duplicates 0):"
            " event 223: cost_usd: refused: the stored sums would pass 9223372036.854775807 USD,"
            " the most they hold exactly;") in reason

    total = FIT * constants.MAX_COST_USD
    with client_for(settings) as client:
        assert client.get("/api/cost/breakdown").json()["total_cost_usd"] == total
        by_task = client.get("/api/cost/breakdown", params={"by": "task"})
        assert by_task.status_code == 200 and len(by_task.json()["breakdown"]) == FIT
        assert client.get("/api/cost/budget").json()["current_spent_usd"] == total
        series = client.get("/api/cost/timeseries").json()["series"]
        assert series[-1]["cost"] == total and sum(p["cost"] for p in series) == total
        health = client.get("/healthz").json()
        assert (health["status"], health["queue"]["failed_jobs"]) == ("ok", 1)

    check = cli(settings, "aggregates", "check")
    assert (check.exit_code, check.stderr) == (0, "no drift\n")
    rebuild = cli(settings, "aggregates", "rebuild")
    assert (rebuild.exit_code, rebuild.stdout) == (0, "rollups rebuilt\n")


def test_import_refuses_what_no_exact_sum_holds(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "big.jsonl"
    source.write_text("".join(
        json.dumps({"event_id": f"b{i}", "project_id": "p", "task_id": f"T{i}", "phase": "spec",
                    "cost_usd": constants.MAX_COST_USD, "timestamp": "2026-11-19T10:00:00Z"})
        + "\n" for i in range(FIT + 77)))
    imported = cli(settings, "import", str(source), "--chunk", "5000")
    assert imported.exit_code == 1
    errors = [line for line in imported.stderr.splitlines() if line.startswith("event ")]
    assert len(errors) == 77
    assert errors[0] == (f"event b{FIT}: cost_usd: refused: the stored sums would pass"
                         " 9223372036.854775807 USD, the most they hold exactly")
    assert imported.stderr.splitlines()[-1] == (
        f"imported {FIT} events, 0 duplicates ignored, 77 rejected")
    check = cli(settings, "aggregates", "check")
    assert (check.exit_code, check.stderr) == (0, "no drift\n")
