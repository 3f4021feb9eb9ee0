"""The API's tests again, on PostgreSQL: the same module, its database a PostgreSQL store."""

from pathlib import Path

from costlog.store.connection import Database
from tests.support.postgres import PostgresServer
from tests.unit.api.test_api import *  # noqa: F403 - every test of the module runs here too

# Its independent recomputation of weeks is SQL in SQLite's dialect; the comparison with SQLite
# (test_same_answers.py) covers every granularity on PostgreSQL.
del test_handle_cost_timeseries  # noqa: F821


def test_cost_analytics_unavailable_after_start(seeded: Database, db_path: str,  # noqa: F811
                                                tmp_path: Path,
                                                postgres_server: PostgresServer) -> None:
    """PostgreSQL's form of the API test of the same name: the database goes away."""
    with client_for(settings_for(db_path, tmp_path)) as client:  # noqa: F405
        assert client.get("/api/cost/breakdown").status_code == 200
        seeded.close()
        postgres_server.drop_database(db_path)
        response = client.get("/api/cost/breakdown")
        assert (response.status_code, response.json()) == (
            503, {"error": "cost analytics not available"})
