"""The executor's import stays light: publishing loads no database, store or API code."""

from tests.support.processes import modules_loaded, within

HEAVY = ("sqlite3", "_sqlite3", "sqlite_utils", "costlog.store", "api", "starlette", "uvicorn")


def test_importing_publish_loads_no_sqlite_store_or_api() -> None:
    loaded = modules_loaded("from ingest import publish, publish_many")
    assert within(loaded, HEAVY) == []
    # The check sees what it looks for: the queue side itself is loaded.
    assert {"ingest.client", "redis", "rq"} <= set(loaded)
