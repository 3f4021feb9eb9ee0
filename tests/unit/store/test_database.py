"""How costlog.store.connection opens the SQLite file: the settings every writer and reader gets."""

import sqlite3
from pathlib import Path

import pytest

from costlog import constants
from costlog.store.connection import Connections, DatabaseUnavailable, connect


def pragma(db, name: str) -> object:
    return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_writer_connection_is_tuned(tmp_path: Path) -> None:
    db = connect(tmp_path / "w.db")
    assert {name: pragma(db, name) for name in (
        "journal_mode", "synchronous", "busy_timeout", "wal_autocheckpoint",
        "journal_size_limit", "cache_size")} == {
        "journal_mode": "wal", "synchronous": 1, "busy_timeout": constants.BUSY_TIMEOUT_MS,
        "wal_autocheckpoint": constants.WAL_AUTOCHECKPOINT_PAGES,
        "journal_size_limit": constants.WAL_SIZE_LIMIT_BYTES,
        "cache_size": -constants.WRITER_CACHE_KIB}
    db.close()


def test_a_restarted_wal_is_truncated_to_the_limit(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "WAL_SIZE_LIMIT_BYTES", 64 * 1024)
    path = tmp_path / "w.db"
    wal = Path(f"{path}-wal")
    db = connect(path)
    reader = connect(path)  # keeps the WAL from being removed when a connection closes
    db.conn.execute("PRAGMA wal_autocheckpoint = 0")  # as an import's long interval would
    with db.conn:
        db.conn.execute("CREATE TABLE t(x BLOB)")
        db.conn.execute("INSERT INTO t VALUES (zeroblob(2000000))")
    assert wal.stat().st_size > 2_000_000
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    with db.conn:  # the next write restarts the WAL from its start
        db.conn.execute("INSERT INTO t VALUES (x'00')")
    assert wal.stat().st_size <= 64 * 1024
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (2,)
    db.close()
    reader.close()


def test_connections_open_only_an_existing_file_and_report_failures_as_unavailable(
        tmp_path: Path) -> None:
    missing = Connections(tmp_path / "absent.db")
    with pytest.raises(DatabaseUnavailable, match="^no database file at "), \
            missing.open(readonly=True):
        pass
    assert not (tmp_path / "absent.db").exists()

    path = tmp_path / "costlog.db"
    sqlite3.connect(path).close()
    connections = Connections(path)
    with pytest.raises(DatabaseUnavailable,
                       match="^database error: OperationalError: no such table: absent$"), \
            connections.open(readonly=True) as db:
        db.execute("SELECT * FROM absent")
    with pytest.raises(KeyError), connections.open(readonly=True):  # not the database's failure
        raise KeyError("x")
    connections.close()
