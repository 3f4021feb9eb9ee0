"""Which failures count as the database refusing writes (ingest/health.py)."""

import sqlite3

import pytest

from ingest.health import database_write_error


def _caused(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(("error", "expected"), [
    (sqlite3.OperationalError("disk I/O error"), "OperationalError: disk I/O error"),
    (sqlite3.OperationalError("database or disk is full"),
     "OperationalError: database or disk is full"),
    (sqlite3.OperationalError("attempt to write a readonly database"),
     "OperationalError: attempt to write a readonly database"),
    (sqlite3.DatabaseError("file is not a database"), "DatabaseError: file is not a database"),
    (_caused(RuntimeError("job failed"), sqlite3.OperationalError("disk I/O error")),
     "OperationalError: disk I/O error"),
    (sqlite3.OperationalError("database is locked"), None),  # contention: retried, not a fault
    (sqlite3.OperationalError("database table is locked"), None),
    (ValueError("events: must be an array"), None),
    (None, None),
])
def test_database_write_error(error: BaseException | None, expected: str | None) -> None:
    assert database_write_error(error) == expected
