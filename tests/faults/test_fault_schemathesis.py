"""Schemathesis' own runner, with every check it has, against the live OpenAPI document.

``schemathesis run --checks all`` reads /openapi.json from a running ``costlog api`` (seeded
database, a real Redis queue, no token: the default of ``costlog up``, whose write rule the
document states) and validates every answer: no server error, status codes, content types,
headers and bodies as documented, negative data rejected, positive data accepted, the 405s'
Allow header, auth. Bounded: MAX_EXAMPLES per operation and phase (no time budget: with one,
the runner keeps fuzzing until it is spent), a timeout per request and for the run, loopback
only. Clean means its exit status is 0.

Two settings (schemathesis.toml below) say what a schema cannot: a schema-valid request may
still be refused for what only the data can tell (start after end, more than 10,000 points, an
initiative with no cost), with the documented 400 or 404; and POST /api/cost/events answers 202
for a body some of whose events are refused (``rejected`` in its answer), 400 when all are, as
documented.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from costlog.cli.redis_server import RedisServer
from costlog.store.connection import connect
from costlog.store.migrations import migrate
from tests.conftest import NOW
from tests.support.api import seed, uvicorn_api

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = os.environ.get("COSTLOG_FUZZ_EXAMPLES", "40")
RUN_SECONDS = 300
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "400", "404"]

[checks.negative_data_rejection]
expected-statuses = ["202", "400", "401", "403", "404", "405", "413", "415", "422"]
"""


def test_schemathesis_with_all_checks_is_clean(tmp_path: Path,
                                               redis_server: RedisServer) -> None:
    db = connect(tmp_path / "costlog.db")
    migrate(db)
    seed(db)
    db.close()
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    queue = f"costlog-schemathesis-{uuid.uuid4().hex[:8]}"
    env = {"COSTLOG_DB": str(tmp_path / "costlog.db"), "COSTLOG_REDIS_URL": redis_server.url,
           "COSTLOG_QUEUE": queue, "COSTLOG_SPOOL": str(tmp_path / "spool"),
           "COSTLOG_API_TOKEN": "", "COSTLOG_NOW": NOW.isoformat()}
    try:
        with uvicorn_api(env, tmp_path / "api.log") as base:
            run = subprocess.run(
                [str(Path(sys.executable).with_name("schemathesis")), "--no-color",
                 "--config-file", str(config), "run", f"{base}/openapi.json",
                 "--checks", "all", "--max-examples", MAX_EXAMPLES,
                 "--generation-deterministic", "--request-timeout", "10", "--workers", "1"],
                capture_output=True, text=True, timeout=RUN_SECONDS, cwd=tmp_path,
            )
    finally:
        client = redis.Redis.from_url(redis_server.url)
        client.delete(f"rq:queue:{queue}")
        client.close()
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "api.log").read_text().count("Traceback") == 0
