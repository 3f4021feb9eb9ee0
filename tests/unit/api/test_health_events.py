"""/healthz counts the events recorded without a price (the dashboard's queue panel shows it)."""

from pathlib import Path

import sqlite_utils

from tests.support.api import EVENTS, client_for, seed, settings_for


def test_healthz_counts_unpriced_events_once(db: sqlite_utils.Database, db_path: Path,
                                            tmp_path: Path) -> None:
    seed(db)
    seed(db)  # the same events again: duplicates change nothing
    unpriced = db.execute(
        "SELECT COUNT(*) FROM cost_log WHERE cost_source = 'unpriced'").fetchone()[0]
    assert unpriced == sum(1 for e in EVENTS if e.get("model") == "" and "cost_usd" not in e)
    with client_for(settings_for(db_path, tmp_path)) as client:
        assert client.get("/healthz").json()["events"] == {"unpriced": unpriced}


def test_healthz_without_database_has_no_count(tmp_path: Path) -> None:
    with client_for(settings_for(tmp_path / "missing.db", tmp_path)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["events"] == {"unpriced": None}
