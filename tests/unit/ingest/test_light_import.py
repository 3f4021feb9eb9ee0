"""The executor's import stays light: publishing loads no database, store or API code."""

import json
import subprocess
import sys

HEAVY = ("sqlite3", "_sqlite3", "sqlite_utils", "costlog.store", "api", "starlette", "uvicorn")


def test_importing_publish_loads_no_sqlite_store_or_api() -> None:
    code = ("import json, sys; from ingest import publish, publish_many; "
            "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                       capture_output=True, text=True).stdout)
    heavy = [name for name in loaded
             if any(name == root or name.startswith(root + ".") for root in HEAVY)]
    assert heavy == []
    # The check sees what it looks for: the queue side itself is loaded.
    assert {"ingest.client", "redis", "rq"} <= set(loaded)
