"""The PostgreSQL back end: a connection that offers the store what it uses of sqlite-utils.

The store's SQL is written once, in SQLite's dialect, and mostly in the subset both speak; this
module turns the rest into PostgreSQL as it is executed (:func:`translate`, cached per
statement): ``?``/``:name`` placeholders, a few functions (``datetime('now')``, ``strftime``,
``json_each``, ``instr``), SQLite's always-true ``1`` conditions and ``LIMIT -1``, the
per-connection staging table, and the rollup upserts that add a write's rows one by one
(PostgreSQL's ``ON CONFLICT DO UPDATE`` cannot touch one row twice in a statement, so they are
grouped, and ordered, by key here). Bulk inserts go through COPY.

Writers take one transaction-level advisory lock first (:meth:`PgDatabase.write_transaction`), the
discipline of SQLite's ``BEGIN IMMEDIATE``: writers on any number of hosts commit one after the
other, so the write path is the same on both back ends (new rows are the ids above the largest
committed one; a task's first row in a bucket is known from the keys already there), no update
is lost, and no two writers can deadlock — every writer waits on the same single lock before it
touches a row.
"""

import contextlib
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus
from psycopg.types.string import TextLoader

from costlog import constants
from costlog.store import rollups

#: The key of the writers' advisory lock (any constant; "costlog" in ASCII).
WRITE_LOCK_KEY = 0x636F73746C6F67
#: A write transaction's ``work_mem`` (its own statements only).
WRITE_WORK_MEM = "64MB"
#: The text of SQLite's ``datetime('now')``: UTC ``YYYY-MM-DD HH:MM:SS``.
NOW_TEXT = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
_NANOS = "(COALESCE(n.cost_usd, 0) * CAST(1e9 AS DOUBLE PRECISION))"
#: SQLite's ``CAST(ROUND(x) AS INTEGER)``: ROUND is sign(x) * floor(|x| + 0.5) in doubles
#: (PostgreSQL's round(double) breaks ties to even), and the CAST clamps what is out of range
#: (PostgreSQL's raises; the exact-sum guard then refuses such a row by its cost_usd). The upper
#: clamp is the largest double below 2^63.
COST_NANOS = (
    f"CAST(LEAST(GREATEST(sign({_NANOS}) * floor(abs({_NANOS}) + CAST(0.5 AS DOUBLE PRECISION)),"
    " CAST(-9223372036854775808 AS DOUBLE PRECISION)),"
    " CAST(9223372036854774784 AS DOUBLE PRECISION)) AS BIGINT)")
_STRFTIME = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH24", "%M": "MI", "%S": "SS"}

CONNECT_TIMEOUT_SECONDS = 5
RANDOM_PAGE_COST = 1.1
#: From this many rows, an executemany() of an ``INSERT … DO NOTHING`` goes through COPY, which
#: loads an import chunk faster than the same rows as pipelined statements.
COPY_MIN_ROWS = 100
_BULK_INSERT_RE = re.compile(
    r"^INSERT INTO (?P<table>\w+) \((?P<columns>[\w, ]+)\) VALUES \([?, ]+\)"
    r" ON CONFLICT\((?P<keys>[\w, ]+)\) DO NOTHING$")

Error = psycopg.Error
#: What taking a pooled connection, or using it, raises when the server is away or refuses.
POOL_ERRORS = (psycopg_pool.PoolTimeout, psycopg.Error)


@functools.cache
def _statements() -> dict[str, str]:
    """Whole statements whose PostgreSQL form differs in more than words."""
    # Typed as the expressions it stages are (no rows: the id bounds do not matter).
    no_rows = rollups.COST_LOG_ROWS_BEFORE_VOIDS.replace(":lo", "0").replace(":hi", "0")
    grouped = [statement for rollup in rollups.ROLLUPS for statement in
               rollup.add_statements(recompute=True, rows=rollups.STAGED_ROWS)]
    return {
        rollups.CREATE_STAGED_ROWS: "CREATE TEMP TABLE IF NOT EXISTS costlog_new_rows AS"
                                    f" SELECT * FROM {no_rows} AS staged WITH NO DATA",
        # PostgreSQL 15 wants an alias on every subquery in FROM.
        rollups.STAGE_ROWS: f"{rollups.STAGE_ROWS} AS staged",
        "SELECT last_insert_rowid()": "SELECT lastval()",
        **dict(zip(rollups.ADD_STATEMENTS, grouped, strict=True)),
        # Grouped as the additions are; no answer is read (see store.write._take_out).
        **dict(zip(rollups.SUBTRACT_STATEMENTS, [
            statement.rsplit(" RETURNING ", 1)[0] for rollup in rollups.ROLLUPS
            for statement in rollup.subtract_statements(grouped=True)], strict=True)),
    }


_FRAGMENTS = (
    (rollups.COST_NANOS, COST_NANOS),
    ("datetime('now')", NOW_TEXT),
    (rollups.STAGED_ROWS, "pg_temp.costlog_new_rows"),
    ("instr(", "strpos("),
    ("LIMIT :limit", "LIMIT NULLIF(:limit, -1)"),  # SQLite's LIMIT -1 is no limit
)
_REWRITES = (
    # Unix time of a UTC timestamp's text (before INTEGER becomes BIGINT below).
    (re.compile(r"CAST\(strftime\('%s', ([\w.]+)\) AS INTEGER\)"),
     r"CAST(EXTRACT(EPOCH FROM CAST(\1 AS timestamp)) AS BIGINT)"),
    (re.compile(r"^INSERT OR IGNORE INTO (.*)$", re.S), r"INSERT INTO \1 ON CONFLICT DO NOTHING"),
    (re.compile(r"\b(WHERE|AND) 1\b(?!\s*[=<>])"), r"\1 TRUE"),
    # SQLite's INTEGER is 64 bits; PostgreSQL's is 32.
    (re.compile(r"\bAS INTEGER\)"), "AS BIGINT)"),
    (re.compile(r"AND \(1\)"), "AND (TRUE)"),
    # Upserts take their row locks in key order: even writers that skipped the advisory lock
    # could never deadlock on each other.
    (re.compile(r" GROUP BY ([\d, ]+) ON CONFLICT"), r" GROUP BY \1 ORDER BY \1 ON CONFLICT"),
    (re.compile(r"json_each\((:\w+)\) AS (\w+)"),
     r"jsonb_array_elements(CAST(\1 AS jsonb)) AS \2(value)"),
    # Without an alias: a list of texts (``x IN (SELECT value FROM json_each(?))``).
    (re.compile(r"json_each\((\?|:\w+)\)(?! AS)"),
     r"jsonb_array_elements_text(CAST(\1 AS jsonb)) AS json_each(value)"),
    # SQLite's storage classes: a BIGINT column holds 'integer', a DOUBLE PRECISION one 'real'.
    (re.compile(r"\btypeof\((\w+)\)"),
     r"CASE WHEN \1 IS NULL THEN 'null' WHEN pg_typeof(\1) IN ('bigint', 'integer', 'smallint')"
     r" THEN 'integer' WHEN pg_typeof(\1) IN ('double precision', 'real', 'numeric')"
     r" THEN 'real' ELSE 'text' END"),
    (re.compile(r"\bjson_array\("), "json_build_array("),
    (re.compile(r"\bjson_object\("), "json_build_object("),
    (re.compile(r"json_extract\((\w+)\.value, '\$\[(\d+)\]'\)"), r"CAST(\1.value->>\2 AS BIGINT)"),
)
#: SUM as SQLite means it: over BIGINT a BIGINT (migration 015), where PostgreSQL's is NUMERIC.
_SUM_RE = re.compile(r"\bSUM\(", re.I)
_STRFTIME_RE = re.compile(r"strftime\('([^']*)', (.+?), 'unixepoch'\)")
_LITERAL_RE = re.compile(r"('(?:[^']|'')*')")
_PLACEHOLDER_RE = re.compile(r"\?|(?<![:\w]):(\w+)")


_UPSERT_RE = re.compile(r"^INSERT INTO ([\w.]+).* DO UPDATE SET ", re.S)


def _top_level_split(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def _qualify_upsert(sql: str) -> str:
    """``DO UPDATE SET x = x + excluded.x, y = COALESCE(:y, y)``: where SQLite reads a bare
    column as the row's old value, PostgreSQL wants it named by its table."""
    match = _UPSERT_RE.match(sql)
    if not match:
        return sql
    table, head, tail = match[1], sql[:match.end()], sql[match.end():]
    assignments = [part.split("=", 1) for part in _top_level_split(tail)]
    columns = "|".join(re.escape(name.strip()) for name, _ in assignments)
    old_value = re.compile(rf"(?<![.:\w])({columns})\b")
    qualified = rf"{table}.\1"
    return head + ",".join(f"{name}={old_value.sub(qualified, value)}"
                           for name, value in assignments)


#: SQLite aggregates PostgreSQL spells otherwise, by what they are called with: TOTAL(x) is a
#: float sum, 0.0 over no rows; json_group_array(x) is '[]' over no rows (json_agg: NULL).
_CALLS = {
    "TOTAL": "COALESCE(SUM(CAST({} AS DOUBLE PRECISION)), CAST(0 AS DOUBLE PRECISION))",
    "json_group_array": "COALESCE(json_agg({}), CAST('[]' AS json))",
}


def _calls(sql: str) -> str:
    """Each ``NAME(argument)`` of :data:`_CALLS` as its PostgreSQL form."""
    for name, form in _CALLS.items():
        while found := re.search(rf"\b{name}\(", sql):
            start = found.start()
            depth, end = 0, start + len(name)
            while True:  # to the parenthesis that closes NAME(
                depth += {"(": 1, ")": -1}.get(sql[end], 0)
                if depth == 0:
                    break
                end += 1
            argument = sql[start + len(name) + 1:end]
            sql = sql[:start] + form.format(argument) + sql[end + 1:]
    return sql


def _strftime(match: re.Match) -> str:
    pattern = match[1]
    for sqlite_code, pg_code in _STRFTIME.items():
        pattern = pattern.replace(sqlite_code, pg_code)
    return f"to_char(to_timestamp({match[2]}) AT TIME ZONE 'UTC', '{pattern}')"


def _placeholders(sql: str) -> str:
    """``?`` and ``:name`` as psycopg's ``%s`` and ``%(name)s``; ``%`` doubled; literals kept."""
    parts = _LITERAL_RE.split(sql)
    for index, part in enumerate(parts):
        part = part.replace("%", "%%")
        if index % 2 == 0:  # outside a string literal
            part = _PLACEHOLDER_RE.sub(
                lambda m: "%s" if m[0] == "?" else f"%({m[1]})s", part)
        parts[index] = part
    return "".join(parts)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``sql`` (SQLite's dialect, ``?``/``:name`` placeholders) as psycopg runs it."""
    sql = _statements().get(sql, sql)
    for old, new in _FRAGMENTS:
        sql = sql.replace(old, new)
    for pattern, replacement in _REWRITES:
        sql = pattern.sub(replacement, sql)
    sql = _STRFTIME_RE.sub(_strftime, sql)
    sql = _SUM_RE.sub("costlog_sum(", _calls(sql))
    sql = _qualify_upsert(sql)
    return _placeholders(sql)


def configure(conn: psycopg.Connection) -> None:
    """Every connection's set-up (also a pool's ``configure``)."""
    # The store's statements run in a millisecond or two; the planner's guess for a list of
    # ranges (jsonb_array_elements: 100 rows each) would have PostgreSQL compile some of them
    # to machine code first, which costs many times the statement itself.
    conn.execute("SET jit = off")
    # The default (4) prices an index probe as a seek on a spinning disk: the planner then
    # reads a large rollup whole for the few rows of a day by project. The store's rollups are
    # read from memory or SSD, where a probe costs about a sequential read.
    conn.execute(f"SET random_page_cost = {RANDOM_PAGE_COST}")
    # JSON comes back as its text, as SQLite's JSON functions return it.
    for json_type in ("json", "jsonb"):
        conn.adapters.register_loader(json_type, TextLoader)


def _nul_free(value: Any) -> Any:
    return None if isinstance(value, str) and "\x00" in value else value


def _without_nul(params: Sequence | dict) -> Sequence | dict:
    """PostgreSQL's text cannot hold NUL, so no stored value holds one (events refuse it): a
    value asked for with one (a request's project or initiative) matches nothing — as NULL."""
    if isinstance(params, dict):
        return {name: _nul_free(value) for name, value in params.items()}
    return [_nul_free(value) for value in params]


_INSERT_TABLE_RE = re.compile(r"^INSERT INTO (\w+)")
#: A table's primary key columns, in order.
_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = i.indrelid"
    " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(%s AS regclass) AND i.indisprimary"
    " ORDER BY array_position(i.indkey, a.attnum)")
#: SQLite's ``PRAGMA table_info(t)`` rows: (cid, name, type, notnull, dflt_value, pk).
_TABLE_INFO_RE = re.compile(r"^PRAGMA table_info\((\w+)\)$")
_TABLE_INFO = (
    "SELECT c.ordinal_position - 1, c.column_name, c.data_type, (c.is_nullable = 'NO')::int,"
    " c.column_default, 0 FROM information_schema.columns AS c"
    " WHERE c.table_schema = current_schema() AND c.table_name = %s ORDER BY c.ordinal_position")


@dataclass(frozen=True)
class Column:
    name: str
    type: str


class _Table:
    def __init__(self, db: "PgDatabase", name: str) -> None:
        self.db, self.name = db, name

    def exists(self) -> bool:
        row = self.db.execute("SELECT to_regclass(?) IS NOT NULL", [self.name]).fetchone()
        return bool(row[0])

    @property
    def columns(self) -> list[Column]:
        """As sqlite-utils' ``Table.columns``: the columns in order (name and type)."""
        info = self.db.execute(f"PRAGMA table_info({self.name})").fetchall()
        return [Column(name, kind) for _, name, kind, *_ in info]


class PgDatabase:
    """The part of ``sqlite_utils.Database`` the store uses, over one psycopg connection in
    autocommit mode (a transaction is an explicit BEGIN, as with sqlite3)."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection, url: str | None = None) -> None:
        self._conn = conn
        #: Given for a connection of its own (not a pool's): reopened after the server went away,
        #: so a long-lived worker recovers from a database restart by itself (its job retries).
        self._url = url
        #: Open from BEGIN to COMMIT of a write (:meth:`write_transaction`).
        self._pipeline: contextlib.ExitStack | None = None

    def _live(self) -> psycopg.Connection:
        if self._url is not None and self._conn.broken:
            self._conn = _open(self._url)
        return self._conn

    @property
    def conn(self) -> "PgDatabase":
        """The store reaches the raw connection as ``db.conn``: the same methods serve."""
        return self

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != TransactionStatus.IDLE

    def _sql(self, sql: str) -> str:
        """``translate(sql)``, and an upsert without a conflict target given its table's
        primary key (SQLite infers it; PostgreSQL wants it named)."""
        sql = translate(sql)
        if " ON CONFLICT DO UPDATE " in sql:
            table = _INSERT_TABLE_RE.match(sql)[1]
            key = ", ".join(row[0] for row in self._live().execute(_PRIMARY_KEY, [table]))
            sql = sql.replace(" ON CONFLICT DO UPDATE ", f" ON CONFLICT({key}) DO UPDATE ")
        return sql

    def execute(self, sql: str, params: Sequence | dict | None = None) -> psycopg.Cursor:
        table_info = _TABLE_INFO_RE.match(sql)
        if table_info:
            return self._live().execute(_TABLE_INFO, [table_info[1]])
        if sql.startswith("PRAGMA"):
            # SQLite's tuning of its own file (WAL checkpoints): nothing to do here.
            return self._live().execute("SELECT NULL WHERE FALSE")
        return self._live().execute(self._sql(sql), _without_nul(params or ()))

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> psycopg.Cursor:
        bulk = _BULK_INSERT_RE.match(sql)
        if bulk and len(rows) >= COPY_MIN_ROWS:
            return self._copy_insert(bulk["table"], bulk["columns"], bulk["keys"], rows)
        conn = self._live()
        cursor = conn.cursor()
        with conn.pipeline():  # its rowcount is known once the block has waited for the answers
            cursor.executemany(self._sql(sql), rows)
        return cursor

    def _copy_insert(self, table: str, columns: str, keys: str,
                     rows: Sequence[Sequence]) -> psycopg.Cursor:
        """``INSERT … ON CONFLICT DO NOTHING`` of many rows through COPY: into a temporary table
        of the same columns, then one INSERT … SELECT in the rows' order (the first of two rows
        with one key wins, as row by row). Its ``rowcount`` is the rows inserted."""
        staging = f"pg_temp.costlog_copy_{table}"
        pipelined = self._pipeline is not None
        self._end_pipeline()  # COPY cannot run in pipeline mode
        conn = self._live()
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS costlog_copy_{table} AS SELECT {columns},"
                     f" CAST(0 AS BIGINT) AS copy_order FROM {table} WITH NO DATA")
        cursor = conn.cursor()
        with cursor.copy(f"COPY {staging} ({columns}, copy_order) FROM STDIN") as copy:
            for order, row in enumerate(rows):
                copy.write_row((*row, order))
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}"
                       f" ORDER BY copy_order ON CONFLICT({keys}) DO NOTHING")
        conn.execute(f"TRUNCATE {staging}")
        if pipelined:
            self._start_pipeline()
        return cursor

    def stream(self, sql: str, params: Sequence | dict | None = None) -> Iterator[tuple]:
        """The rows of ``sql`` one at a time as the server sends them (a client-side cursor
        would hold them all: an export of every row)."""
        return self._live().cursor().stream(self._sql(sql), _without_nul(params or ()))

    def query(self, sql: str, params: Sequence | dict | None = None) -> Iterator[dict]:
        cursor = self.execute(sql, params)
        names = [column.name for column in cursor.description or ()]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def __getitem__(self, table: str) -> _Table:
        return _Table(self, table)

    def _start_pipeline(self) -> None:
        self._pipeline = contextlib.ExitStack()
        self._pipeline.enter_context(self._live().pipeline())

    def _end_pipeline(self) -> None:
        """Wait for the answers to the statements sent, and leave pipeline mode."""
        if self._pipeline is not None:
            pipeline, self._pipeline = self._pipeline, None
            pipeline.close()

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[None]:
        """BEGIN, wait for the writers' lock (held until COMMIT or ROLLBACK), the caller's
        statements, COMMIT; ROLLBACK on error.

        The statements are pipelined: each is sent without waiting for the answer to the one
        before, until the write reads an answer. A one-event write then waits on the server 7
        times instead of 28: a worker's job spent more time in round trips than in its SQL.
        """
        self._start_pipeline()
        try:
            self._conn.execute("BEGIN")
            # With the default 4 MB, grouping an import chunk's rows spilled to disk.
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(%s), set_config('work_mem', %s, true)",
                [WRITE_LOCK_KEY, WRITE_WORK_MEM])
            yield
            self._conn.execute("COMMIT")
            self._end_pipeline()
        except BaseException:
            with contextlib.suppress(psycopg.Error):  # the error being raised says it
                self._end_pipeline()
            if not self._conn.closed and self.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def commit(self) -> None:
        """As sqlite3's: end an open transaction (outside one, there is nothing to commit)."""
        if self.in_transaction:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


def _open(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    configure(conn)
    return conn


def connect(url: str) -> PgDatabase:
    return PgDatabase(_open(url), url)


class Pool:
    """Connections shared by one process's threads, opened without waiting: a server that is down
    makes :meth:`connection` fail after a short wait instead of hanging the caller."""

    def __init__(self, url: str) -> None:
        self._pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=constants.PG_POOL_MAX_SIZE, open=False,
            kwargs={"autocommit": True}, configure=configure)
        self._pool.open(wait=False)

    @contextlib.contextmanager
    def connection(self) -> Iterator[PgDatabase]:
        with self._pool.connection(timeout=constants.PG_POOL_WAIT_SECONDS) as conn:
            yield PgDatabase(conn)

    def close(self) -> None:
        self._pool.close()
