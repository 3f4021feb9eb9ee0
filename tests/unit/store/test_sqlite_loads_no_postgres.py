"""A SQLite process never loads the PostgreSQL back end: each job of RQ's forking worker runs in a
fresh child, which would otherwise spend ~90 ms importing psycopg before its first write."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# What the child of a forking worker does for one job: open the store, migrate, record.
JOB = """
import json, sys
from ingest import job
from tests.support.events import wire_event
print(json.dumps({"result": job.record_events([wire_event(event_id="e-1")]),
                  "modules": sorted(sys.modules)}))
"""


def test_a_job_on_sqlite_loads_no_psycopg(tmp_path: Path) -> None:
    env = {**os.environ, "COSTLOG_DB": str(tmp_path / "c.db")}
    out = json.loads(subprocess.run([sys.executable, "-c", JOB], check=True, cwd=ROOT, env=env,
                                    capture_output=True, text=True).stdout)
    assert out["result"] == {"inserted": 1, "duplicates": 0}
    assert [name for name in out["modules"] if name.split(".")[0] in ("psycopg", "psycopg_pool")
            or name == "costlog.store.postgres"] == []
    # The check sees what it looks for: the SQLite store itself is loaded.
    assert {"sqlite_utils", "costlog.store.write"} <= set(out["modules"])
