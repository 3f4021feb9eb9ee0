"""Opening the store (a SQLite file, or PostgreSQL for a ``postgresql://`` URL) and the one
transaction shape every write uses."""

import errno
import os
import resource
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from costlog import constants
from costlog.errors import CostlogError
from costlog.settings import database_label, is_postgres_url

if TYPE_CHECKING:
    import sqlite_utils

    from costlog.store.postgres import PgDatabase, Pool


class DatabaseUnavailable(CostlogError, RuntimeError):
    """The database cannot be opened or read."""


#: Either back end's connection: the store uses the same methods of both. (The PostgreSQL
#: module, with psycopg, is imported only to open a PostgreSQL database: a SQLite process, such
#: as each job's child of RQ's forking worker, would spend longer loading it than writing.)
Database = Union["sqlite_utils.Database", "PgDatabase"]


def is_sqlite(db: Database) -> bool:
    import sqlite_utils  # loaded once a database is open (see open_reader)

    return isinstance(db, sqlite_utils.Database)


def connect(target: Path | str, *, readonly: bool = False) -> Database:
    """Open the store ``target`` names: a ``postgresql://`` URL, else a SQLite file."""
    if is_postgres_url(target):
        from costlog.store import postgres

        try:
            return postgres.connect(str(target))
        except postgres.Error as error:
            raise DatabaseUnavailable(
                f"cannot open database {database_label(target)}: {error}") from error
    return _connect_sqlite(Path(target), readonly=readonly)


def missing_table(db: Database) -> tuple[type[BaseException], ...]:
    """What a query of a table that is not there yet (an unmigrated database) raises on ``db``."""
    if is_sqlite(db):
        return (sqlite3.OperationalError,)
    import psycopg

    return (psycopg.errors.UndefinedTable,)


class Connections:
    """Where a long-lived process with many threads (the API) gets a connection for each unit of
    work: from a pool on PostgreSQL, a new one of the existing file on SQLite (sqlite3
    connections are cheap and not shared across threads). The database is never created here.

    Any failure to open or use the database surfaces as :class:`DatabaseUnavailable`, whose
    text names neither a URL nor a password.
    """

    def __init__(self, target: Path | str) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._pool: Pool | None = None

    @contextmanager
    def open(self, *, readonly: bool) -> Iterator[Database]:
        if is_postgres_url(self.target):
            with self._pooled() as db:
                yield db
            return
        path = Path(self.target)
        if not path.is_file():
            raise DatabaseUnavailable(f"no database file at {path}")
        db = _connect_sqlite(path, readonly=readonly)
        try:
            yield db
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"database error: {type(error).__name__}: {error}") from None
        finally:
            db.close()

    @contextmanager
    def _pooled(self) -> Iterator[Database]:
        from costlog.store import postgres

        with self._lock:
            if self._pool is None:
                self._pool = postgres.Pool(str(self.target))
            pool = self._pool
        try:
            with pool.connection() as db:
                yield db
        except postgres.POOL_ERRORS as error:
            # The message can name the host, never the URL (which may hold a password).
            raise DatabaseUnavailable(f"database error: {type(error).__name__}") from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def open_reader(target: Path | str) -> Any:
    """A read-only connection for one short answer in a process that must start fast (the
    status line): plain sqlite3 on SQLite, without loading sqlite-utils; the PostgreSQL back
    end's own connection otherwise. FileNotFoundError when a SQLite file is not there."""
    if is_postgres_url(target):
        return connect(target)
    path = Path(target)
    if not path.is_file():
        raise FileNotFoundError(path)
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    db.execute(f"PRAGMA busy_timeout = {constants.QUICK_READ_BUSY_TIMEOUT_MS}")
    return db


def _connect_sqlite(path: Path, *, readonly: bool) -> "sqlite_utils.Database":
    """Open ``path`` with WAL and a busy timeout longer than any write transaction."""
    try:
        if readonly:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {constants.BUSY_TIMEOUT_MS}")
        if not readonly and conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if not readonly:
            conn.execute(f"PRAGMA wal_autocheckpoint = {constants.WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {constants.WAL_SIZE_LIMIT_BYTES}")
            conn.execute(f"PRAGMA cache_size = -{constants.WRITER_CACHE_KIB}")
    except (sqlite3.Error, OSError) as error:
        raise DatabaseUnavailable(f"cannot open database {path}: {error}") from error
    import sqlite_utils

    return sqlite_utils.Database(conn, execute_plugins=False)


def stream(db: Database, sql: str, params: dict[str, Any]) -> Iterator[tuple]:
    """The rows of a long result one at a time, in flat memory on either back end (sqlite3's
    cursor already steps through them)."""
    return db.execute(sql, params) if is_sqlite(db) else db.stream(sql, params)


@contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """One write transaction that takes the write lock up front.

    ``db.atomic()`` issues a plain BEGIN; with several writers (workers plus an import) a plain
    BEGIN can fail with SQLITE_BUSY when it upgrades to a write, so writers use BEGIN IMMEDIATE
    and wait on the busy timeout instead. PostgreSQL writers wait on one advisory lock.
    """
    if not is_sqlite(db):
        with db.write_transaction():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException as error:
        _note_room(db, error)
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


#: What a write failure for want of room says (costlog.cli prints it after "cannot write the
#: database: ").
DISK_FULL = "disk is full"
_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_PG_DISK_FULL = "53100"
_NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
#: The most a SQLite write adds to a file: a WAL frame (a page and its header).
_LARGEST_WRITE = 64 * 1024 + 24


def write_failure(error: BaseException | None, target: Path | str) -> str | None:
    """Why ``error`` (or its cause) means the database ``target`` cannot be written: DISK_FULL
    when there is no room (a full disk, a quota, the process's file-size limit), the database's
    own words for another I/O error; None for any other error.

    SQLite says "database or disk is full" for ENOSPC but "disk I/O error" for every other
    failed write, a file-size limit or quota included: then the room left decides.
    """
    while error is not None:
        if isinstance(error, OSError) and error.errno in _NO_ROOM_ERRNOS:
            return DISK_FULL
        if getattr(error, "sqlstate", None) == _PG_DISK_FULL:
            return DISK_FULL
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", 0) & 0xFF
            if code == _SQLITE_FULL:
                return DISK_FULL
            if code == _SQLITE_IOERR:
                no_room = getattr(error, _NO_ROOM_NOTE, None)
                if no_room is None:
                    no_room = _no_room(Path(target))
                return DISK_FULL if no_room else str(error)
            return None
        error = error.__cause__ or error.__context__
    return None


def _no_room(path: Path) -> bool:
    files = [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-journal")]
    largest = max((file.stat().st_size for file in files if file.exists()), default=0)
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and largest + _LARGEST_WRITE > soft:
        return True
    try:
        return os.statvfs(path.parent).f_bavail == 0
    except OSError:
        return False


#: Set on a SQLite I/O error by the transaction it ended: whether there was no room, looked at
#: before the rollback and the close shrink or remove the write-ahead log.
_NO_ROOM_NOTE = "costlog_no_room"


def _note_room(db: "sqlite_utils.Database", error: BaseException) -> None:
    if not isinstance(error, sqlite3.Error):
        return
    if getattr(error, "sqlite_errorcode", 0) & 0xFF != _SQLITE_IOERR:
        return
    try:
        path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    except sqlite3.Error:
        return
    if path:
        setattr(error, _NO_ROOM_NOTE, _no_room(Path(path)))
